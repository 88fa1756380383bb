// Pieces the views share: keyboard list navigation, empty states, errors, loading.

import { h, select } from "./dom.js";
import { LOOKBACKS } from "./format.js";

// j/k (and arrows) move a selection through `selector` items of `container`; Enter opens.
export function listNavigation(container, selector, open) {
  let index = -1;
  const items = () => Array.from(container.querySelectorAll(selector));
  function choose(next) {
    const all = items();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, next));
    all.forEach((el, i) => el.classList.toggle("selected", i === index));
    all[index].scrollIntoView({ block: "nearest" });
  }
  return {
    reset() {
      index = -1;
    },
    select(el) {
      choose(items().indexOf(el));
    },
    onKey(event) {
      if (event.key === "j" || event.key === "ArrowDown") choose(index + 1);
      else if (event.key === "k" || event.key === "ArrowUp") choose(index - 1);
      else if (event.key === "Enter" && index >= 0) open(items()[index], event);
      else return false;
      return true;
    },
  };
}

export function loading(text = "Loading…") {
  return h("div.loading", h("span.spinner"), text);
}

export function errorBox(error) {
  return h(
    "div.notice.error",
    h("strong", "Something went wrong. "),
    error?.message || String(error),
  );
}

// Where the collector's otlp receiver listens ({grpc, http}: {scheme, host, port}), from
// /api/otlpy/info; null until known, or when this collector has no otlp receiver.
let otlp = null;

export function setOtlpEndpoints(endpoints) {
  otlp = endpoints && (endpoints.grpc || endpoints.http) ? endpoints : null;
}

// A receiver endpoint as an SDK wants it: a wildcard host is this page's host.
function endpointUrl({ scheme, host, port }) {
  const wildcard = !host || host === "0.0.0.0" || host === "::" || host === "[::]";
  const name = wildcard ? window.location.hostname || "localhost" : host;
  return `${scheme}://${name.includes(":") && !name.startsWith("[") ? `[${name}]` : name}:${port}`;
}

// How to send data: shown wherever there is nothing to show yet.
export function sendDataHelp(what = "telemetry") {
  const origin = window.location.hostname || "localhost";
  // HTTP when the receiver has it (what most SDKs can all speak), else gRPC
  const use = otlp?.http ? ["http/protobuf", otlp.http] : otlp?.grpc ? ["grpc", otlp.grpc] : null;
  const endpoint = use ? endpointUrl(use[1]) : `http://${origin}:4318`;
  const listening = otlp
    ? [
        otlp.grpc ? `OTLP/gRPC is on ${endpointUrl(otlp.grpc)}` : "",
        otlp.http ? `OTLP/HTTP on ${endpointUrl(otlp.http)}` : "",
      ]
        .filter(Boolean)
        .join(" and ") + ". "
    : "This collector has no otlp receiver that otlpy knows of; by default OTLP/gRPC is on " +
      "port 4317 and OTLP/HTTP on 4318. ";
  return h(
    "div.empty",
    h("div.empty-icon", "◌"),
    h("h2", `No ${what} yet`),
    h("p", "Point any OpenTelemetry SDK at otlpy; what it sends shows up here within seconds."),
    h(
      "pre.snippet",
      `export OTEL_EXPORTER_OTLP_ENDPOINT=${endpoint}\n` +
        `export OTEL_EXPORTER_OTLP_PROTOCOL=${use ? use[0] : "http/protobuf"}\n` +
        "export OTEL_SERVICE_NAME=my-service\n\n" +
        "# Python, for example:\n" +
        "pip install opentelemetry-distro opentelemetry-exporter-otlp\n" +
        "opentelemetry-bootstrap -a install\n" +
        "opentelemetry-instrument python app.py",
    ),
    h(
      "p.muted",
      listening,
      "Grafana can read the same traces: add a Jaeger data source with URL ",
      h("code", window.location.origin),
      ".",
    ),
  );
}

export function nothingFound(text, hint) {
  return h("div.empty.small", h("h3", text), hint ? h("p.muted", hint) : null);
}

const pad = (n) => String(n).padStart(2, "0");

// An RFC 3339 time (or nothing) as the value of a datetime-local input, in local time.
function localInput(text) {
  const date = text ? new Date(/^\d+$/.test(text) ? Number(text) / 1e6 : text) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

// A time range: the last N minutes/hours/days, or a custom from-to.
export function timeRange(params, { id, onChange } = {}) {
  const pick = select(
    { "aria-label": "Time range", id },
    [...LOOKBACKS, ["custom", "Custom range…"]],
    params.get("lookback") || "1h",
  );
  const from = h("input", { type: "datetime-local", step: 1, "aria-label": "From", value: localInput(params.get("start")) });
  const to = h("input", { type: "datetime-local", step: 1, "aria-label": "To", value: localInput(params.get("end")) });
  const custom = h("div.custom-range", from, h("span.muted", "to"), to);
  const sync = () => {
    custom.hidden = pick.value !== "custom";
  };
  pick.addEventListener("change", () => {
    sync();
    if (pick.value === "custom") {
      if (!from.value) from.value = localInput(new Date(Date.now() - 3600e3).toISOString());
      if (!to.value) to.value = localInput(new Date().toISOString());
      from.focus();
    } else onChange?.();
  });
  sync();
  const iso = (input) => (input.value ? new Date(input.value).toISOString() : "");
  return {
    element: h("div.time-range", pick, custom),
    // the range as query parameters, for the page's URL and for the API alike
    params() {
      if (pick.value !== "custom") return { lookback: pick.value };
      return { lookback: "custom", start: iso(from), end: iso(to) };
    },
  };
}
