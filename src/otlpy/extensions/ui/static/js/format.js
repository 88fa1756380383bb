// Formatting of times, durations, numbers and values, and the colour of each service.

const UNITS = [
  [1e9 * 3600, "h"],
  [1e9 * 60, "min"],
  [1e9, "s"],
  [1e6, "ms"],
  [1e3, "µs"],
];

// A duration given in nanoseconds: "850 µs", "12.3 ms", "2.05 s".
export function duration(ns) {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return "–";
  const abs = Math.abs(ns);
  for (const [size, unit] of UNITS) {
    if (abs >= size) return `${trim(ns / size)} ${unit}`;
  }
  return `${Math.round(ns)} ns`;
}

function trim(value) {
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return value.toFixed(digits).replace(/\.0+$|(\.\d*?)0+$/, "$1");
}

export function number(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e9)) return value.toExponential(2);
  return trim(value);
}

// Compact numbers for axes: 1.2k, 3.4M.
export function compact(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  return number(value);
}

const pad = (n, size = 2) => String(n).padStart(size, "0");

// A time given in unix nanoseconds, local: "14:03:07.123".
export function clock(ns, { date = false, ms = true } = {}) {
  const d = new Date(ns / 1e6);
  let text = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (ms) text += `.${pad(d.getMilliseconds(), 3)}`;
  if (date) text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${text}`;
  return text;
}

// "3 s ago", "5 min ago", "2 h ago", "4 d ago".
export function ago(ns, now = Date.now()) {
  const seconds = Math.max(0, (now - ns / 1e6) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

// An OTLP JSON value ({"stringValue": ...}) as text.
export function anyValue(value) {
  if (!value) return "";
  if ("stringValue" in value) return value.stringValue;
  if ("intValue" in value) return String(value.intValue);
  if ("doubleValue" in value) return String(value.doubleValue);
  if ("boolValue" in value) return String(value.boolValue);
  if ("bytesValue" in value) return `base64:${value.bytesValue}`;
  if ("arrayValue" in value) return JSON.stringify((value.arrayValue.values || []).map(plain));
  if ("kvlistValue" in value) return JSON.stringify(attributesObject(value.kvlistValue.values || []));
  return "";
}

export function plain(value) {
  if (!value) return null;
  if ("stringValue" in value) return value.stringValue;
  if ("intValue" in value) return Number(value.intValue);
  if ("doubleValue" in value) return value.doubleValue;
  if ("boolValue" in value) return value.boolValue;
  if ("arrayValue" in value) return (value.arrayValue.values || []).map(plain);
  if ("kvlistValue" in value) return attributesObject(value.kvlistValue.values || []);
  return anyValue(value);
}

export function attributesObject(list) {
  const out = {};
  for (const kv of list || []) if (!(kv.key in out)) out[kv.key] = plain(kv.value);
  return out;
}

export function valueType(value) {
  if (!value) return "";
  return Object.keys(value)[0]?.replace("Value", "") || "";
}

// Stable, distinct colours per service, readable on dark and light backgrounds.
const PALETTE = [
  "#4e9af1", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
  "#edc948", "#ff9da7", "#9c755f", "#8cd17d", "#86bcb6", "#d4a6c8",
];
const assigned = new Map();

export function serviceColor(name) {
  if (!assigned.has(name)) {
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    assigned.set(name, PALETTE[hash % PALETTE.length]);
  }
  return assigned.get(name);
}

export const SEVERITY_NAMES = [
  [21, "fatal"],
  [17, "error"],
  [13, "warn"],
  [9, "info"],
  [5, "debug"],
  [1, "trace"],
];

export function severityName(number, text) {
  for (const [floor, name] of SEVERITY_NAMES) if (number >= floor) return name;
  return (text || "unset").toLowerCase();
}

export const KIND_NAMES = ["", "internal", "server", "client", "producer", "consumer"];
export const STATUS_NAMES = ["unset", "ok", "error"];

// Go-style durations the APIs take ("1.2s", "150ms") from what people type ("150 ms", "1.2").
export function goDuration(text) {
  const t = String(text || "").trim().replace(/\s+/g, "");
  if (!t) return "";
  if (/^\d+(\.\d+)?$/.test(t)) return `${t}ms`;
  return t;
}

export const LOOKBACKS = [
  ["5m", "Last 5 minutes"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"],
  ["2d", "Last 2 days"],
  ["7d", "Last 7 days"],
];
