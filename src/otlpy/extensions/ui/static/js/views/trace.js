// One trace: summary, a waterfall of its spans (nested, collapsible, coloured by service),
// the details of the selected span, and the trace's logs.

import { api } from "../api.js";
import { append, clear, copyButton, h } from "../dom.js";
import {
  anyValue,
  clock,
  duration,
  KIND_NAMES,
  serviceColor,
  severityName,
  STATUS_NAMES,
  valueType,
} from "../format.js";
import { errorBox, loading } from "../widgets.js";
import { serviceChip } from "./search.js";

export const title = "Trace";

const ROW_HEIGHT = 28;
const INDENT = 14;

// Spans as a tree: children ordered by start; spans whose parent is missing are roots.
export function buildTree(spans) {
  const nodes = new Map();
  for (const span of spans) nodes.set(span.span_id, { span, children: [], depth: 0, collapsed: false });
  const roots = [];
  for (const node of nodes.values()) {
    const parent = node.span.parent_span_id && nodes.get(node.span.parent_span_id);
    if (parent && parent !== node) parent.children.push(node);
    else {
      node.orphan = Boolean(node.span.parent_span_id);
      roots.push(node);
    }
  }
  const byStart = (a, b) => a.span.start_time_unix_nano - b.span.start_time_unix_nano;
  roots.sort(byStart);
  const stack = roots.map((n) => [n, 0]);
  const seen = new Set();
  while (stack.length) {
    const [node, depth] = stack.pop();
    if (seen.has(node)) continue; // a cycle of parent ids: show each span once
    seen.add(node);
    node.depth = depth;
    node.children.sort(byStart);
    for (const child of node.children) stack.push([child, depth + 1]);
  }
  return { roots, nodes };
}

function visibleRows(roots) {
  const rows = [];
  const walk = (node) => {
    rows.push(node);
    if (!node.collapsed) node.children.forEach(walk);
  };
  roots.forEach(walk);
  return rows;
}

function attributeTable(attributes, { emptyText = "none" } = {}) {
  if (!attributes?.length) return h("p.muted.small", emptyText);
  const sorted = [...attributes].sort((a, b) => a.key.localeCompare(b.key));
  return h(
    "table.attrs",
    sorted.map((kv) =>
      h(
        "tr",
        h("th", { title: kv.key }, kv.key),
        h("td", h("span.value", anyValue(kv.value)), h("span.type", valueType(kv.value))),
      ),
    ),
  );
}

function section(titleText, ...content) {
  return h("section.detail-section", h("h4", titleText), ...content);
}

function matches(span, text) {
  if (!text) return true;
  const needle = text.toLowerCase();
  if (span.name.toLowerCase().includes(needle)) return true;
  if (span.service_name.toLowerCase().includes(needle)) return true;
  if (span.span_id.startsWith(needle)) return true;
  return span.attributes.some(
    (kv) => kv.key.toLowerCase().includes(needle) || anyValue(kv.value).toLowerCase().includes(needle),
  );
}

export async function render(root, ctx) {
  const traceId = ctx.match[1].toLowerCase().padStart(32, "0");
  const controller = new AbortController();
  const opts = { signal: controller.signal };
  root.append(loading("Loading trace…"));
  let trace;
  let logs = [];
  try {
    const [found, logPage] = await Promise.all([
      api.trace(traceId, opts),
      api.logs({ trace_id: traceId, limit: 1000 }, opts).catch(() => ({ logs: [] })),
    ]);
    trace = found.trace;
    logs = logPage.logs.slice().reverse();
  } catch (error) {
    if (error.name === "AbortError") return {};
    clear(root).append(
      h(
        "div.empty",
        h("h2", error.status === 404 ? "Trace not found" : "Cannot load the trace"),
        h("p.mono", traceId),
        h("p.muted", error.status === 404 ? "It may have expired, or its spans have not arrived yet." : error.message),
        h("a", { href: "/search" }, "Back to the search"),
      ),
    );
    return { onKey: (event) => event.key === "Escape" && (ctx.back(), true) };
  }
  clear(root);

  const spans = trace.spans;
  const { roots, nodes } = buildTree(spans);
  // loops, not Math.min(...spans): a spread of 100,000 arguments overflows the stack
  let traceStart = Infinity;
  let traceEnd = -Infinity;
  for (const s of spans) {
    if (s.start_time_unix_nano < traceStart) traceStart = s.start_time_unix_nano;
    if (s.end_time_unix_nano > traceEnd) traceEnd = s.end_time_unix_nano;
  }
  const total = Math.max(traceEnd - traceStart, 1);
  const rootSpan = (roots.find((n) => !n.orphan) || roots[0]).span;
  const services = {};
  for (const span of spans) services[span.service_name] = (services[span.service_name] || 0) + 1;
  const errors = spans.filter((s) => s.status.code === 2).length;
  let depth = 0;
  for (const node of nodes.values()) depth = Math.max(depth, node.depth + 1);
  const logsBySpan = new Map();
  for (const record of logs) {
    if (!logsBySpan.has(record.span_id)) logsBySpan.set(record.span_id, []);
    logsBySpan.get(record.span_id).push(record);
  }

  // -- header -------------------------------------------------------------------------
  const header = h(
    "header.trace-head",
    h(
      "div.trace-title",
      h("a.back", { href: "/search", title: "Back (Esc)", onclick: (e) => { e.preventDefault(); ctx.back(); } }, "←"),
      h("h1", h("span.root-svc", { style: { color: serviceColor(rootSpan.service_name) } }, rootSpan.service_name), " ", rootSpan.name),
      h("span.spacer"),
      h("span.mono.muted", traceId),
      copyButton(traceId, "copy id"),
    ),
    h(
      "div.facts",
      fact("Started", clock(traceStart, { date: true })),
      fact("Duration", duration(total)),
      fact("Spans", spans.length),
      fact("Depth", depth),
      fact("Errors", errors ? h("span.badge.error", errors) : "0"),
      fact("Logs", logs.length),
      h("div.fact.chips", Object.entries(services).sort((a, b) => b[1] - a[1]).map(([n, c]) => serviceChip(n, c))),
    ),
  );

  function fact(label, value) {
    return h("div.fact", h("span.fact-label", label), h("span.fact-value", value));
  }

  // -- tabs ----------------------------------------------------------------------------
  const tabs = h("div.tabs");
  const timelineTab = h("button.tab.active", { type: "button" }, "Timeline");
  const logsTab = h("button.tab", { type: "button" }, `Logs (${logs.length})`);
  const filter = h("input.filter", {
    placeholder: "Find in trace: name, service, attribute…",
    "aria-label": "Find in trace",
    dataset: { focus: "" },
    spellcheck: false,
  });
  const matchCount = h("span.muted.small");
  tabs.append(
    timelineTab,
    logsTab,
    h("span.spacer"),
    filter,
    matchCount,
    h("a.ghost.small", { href: `/api/traces/${traceId}`, target: "_blank", title: "This trace in Jaeger's JSON" }, "Jaeger JSON"),
    h("a.ghost.small", { href: `/api/v3/traces/${traceId}`, target: "_blank", title: "This trace in OTLP JSON" }, "OTLP JSON"),
  );

  // -- waterfall -----------------------------------------------------------------------
  const ruler = h("div.ruler", h("div.ruler-name", "Service · operation"), timeRuler());
  const canvas = h("div.canvas");
  const scroller = h("div.waterfall-scroll", canvas);
  const waterfall = h("div.waterfall", ruler, scroller);
  const details = h("aside.details", { hidden: true });
  const timelinePane = h("div.trace-body", waterfall, details);
  const logsPane = h("div.trace-logs", { hidden: true }, traceLogs());
  root.append(h("div.trace-view", header, tabs, timelinePane, logsPane));

  function timeRuler() {
    const bar = h("div.ruler-time");
    for (let i = 0; i <= 4; i++) {
      bar.append(h("span.tick", { style: { left: `${i * 25}%` } }, duration((total * i) / 4)));
    }
    return bar;
  }

  let rows = visibleRows(roots);
  let selected = null;
  let filterText = "";

  function rowFor(node, index) {
    const span = node.span;
    const left = ((span.start_time_unix_nano - traceStart) / total) * 100;
    const width = Math.max((span.duration_nano / total) * 100, 0.2);
    const color = serviceColor(span.service_name);
    const error = span.status.code === 2;
    const toggle = node.children.length
      ? h("button.toggle", {
          type: "button",
          title: node.collapsed ? "Expand (l)" : "Collapse (h)",
          onclick: (event) => {
            event.stopPropagation();
            setCollapsed(node, !node.collapsed);
          },
        }, node.collapsed ? "▸" : "▾")
      : h("span.toggle.leaf");
    const labelInside = width > 12;
    const row = h(
      "div.span-row",
      {
        style: { top: `${index * ROW_HEIGHT}px` },
        dataset: { spanId: span.span_id },
        onclick: () => selectSpan(node),
        role: "row",
      },
      h(
        "div.span-name",
        { style: { paddingLeft: `${6 + node.depth * INDENT}px` } },
        toggle,
        h("span.svc-dot", { style: { background: color } }),
        h("span.svc", span.service_name),
        h("span.op", { title: span.name }, span.name),
        node.collapsed && node.children.length ? h("span.badge", `+${countDescendants(node)}`) : null,
        error ? h("span.err-icon", { title: span.status.message || "error" }, "!") : null,
        node.orphan ? h("span.badge.warn", { title: "Its parent span was not received" }, "orphan") : null,
      ),
      h(
        "div.span-timeline",
        h(
          "div.bar",
          { style: { left: `${left}%`, width: `${width}%`, background: color }, class: error ? "bar error" : "bar" },
          span.events.map((ev) =>
            h("span.event-mark", {
              style: { left: `${((ev.time_unix_nano - span.start_time_unix_nano) / Math.max(span.duration_nano, 1)) * 100}%` },
              title: `${ev.name} at +${duration(ev.time_unix_nano - span.start_time_unix_nano)}`,
            }),
          ),
          labelInside ? h("span.bar-label.inside", duration(span.duration_nano)) : null,
        ),
        labelInside
          ? null
          : h("span.bar-label", { style: left > 80 ? { right: `${100 - left + 0.5}%` } : { left: `calc(${left + width}% + 4px)` } }, duration(span.duration_nano)),
      ),
    );
    if (selected === node) row.classList.add("selected");
    if (filterText) row.classList.add(matches(span, filterText) ? "match" : "dim");
    return row;
  }

  function countDescendants(node) {
    let n = 0;
    const walk = (x) => x.children.forEach((c) => { n++; walk(c); });
    walk(node);
    return n;
  }

  // only the rows in view are in the DOM: a trace of 50,000 spans scrolls like one of 50
  let drawn = [-1, -1];
  function paint(force = false) {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - 20);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + (scroller.clientHeight || 800)) / ROW_HEIGHT) + 20);
    if (!force && first === drawn[0] && last === drawn[1]) return;
    drawn = [first, last];
    canvas.style.height = `${rows.length * ROW_HEIGHT}px`;
    canvas.replaceChildren(...rows.slice(first, last).map((node, i) => rowFor(node, first + i)));
  }
  scroller.addEventListener("scroll", () => paint());

  function setCollapsed(node, collapsed) {
    if (!node.children.length || node.collapsed === collapsed) return;
    node.collapsed = collapsed;
    rows = visibleRows(roots);
    paint(true);
  }

  function reveal(node) {
    // expand the ancestors of a span so that it can be shown
    let parent = nodes.get(node.span.parent_span_id);
    let changed = false;
    while (parent) {
      if (parent.collapsed) {
        parent.collapsed = false;
        changed = true;
      }
      parent = nodes.get(parent.span.parent_span_id);
    }
    if (changed) rows = visibleRows(roots);
  }

  function selectSpan(node, { scroll = true } = {}) {
    selected = node;
    if (!node) {
      details.hidden = true;
      paint(true);
      return;
    }
    reveal(node);
    const index = rows.indexOf(node);
    if (scroll && index >= 0) {
      const top = index * ROW_HEIGHT;
      if (top < scroller.scrollTop || top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) {
        scroller.scrollTop = Math.max(0, top - scroller.clientHeight / 3);
      }
    }
    paint(true);
    showDetails(node.span);
  }

  function showDetails(span) {
    details.hidden = false;
    const kind = KIND_NAMES[span.kind] || "unspecified";
    const status = STATUS_NAMES[span.status.code] || String(span.status.code);
    const parent = span.parent_span_id && nodes.get(span.parent_span_id);
    const spanLogs = logsBySpan.get(span.span_id) || [];
    const resource = span.resource.attributes;
    clear(details);
    append(details, [
      h(
        "div.detail-head",
        h("span.svc-dot", { style: { background: serviceColor(span.service_name) } }),
        h("div", h("div.detail-title", span.name), h("div.muted.small", span.service_name)),
        h("span.spacer"),
        h("button.ghost.icon", { type: "button", title: "Close (Esc)", onclick: () => selectSpan(null) }, "×"),
      ),
      h(
        "dl.kv",
        h("dt", "Duration"), h("dd", duration(span.duration_nano)),
        h("dt", "Start"), h("dd", `+${duration(span.start_time_unix_nano - traceStart)} `, h("span.muted", clock(span.start_time_unix_nano))),
        h("dt", "Kind"), h("dd", kind),
        h("dt", "Status"), h("dd", h(`span.status.${status}`, status), span.status.message ? ` ${span.status.message}` : ""),
        h("dt", "Span ID"), h("dd.mono", span.span_id, " ", copyButton(span.span_id)),
        h("dt", "Parent"), h("dd.mono", span.parent_span_id
          ? parent
            ? h("a", { href: "#", onclick: (e) => { e.preventDefault(); selectSpan(parent); } }, span.parent_span_id)
            : `${span.parent_span_id} (not received)`
          : "none (root)"),
        h("dt", "Scope"), h("dd", span.scope.name ? `${span.scope.name}${span.scope.version ? ` ${span.scope.version}` : ""}` : "–"),
        span.trace_state ? [h("dt", "Trace state"), h("dd.mono", span.trace_state)] : null,
      ),
      section(`Attributes (${span.attributes.length})`, attributeTable(span.attributes),
        span.dropped_attributes_count ? h("p.muted.small", `${span.dropped_attributes_count} dropped`) : null),
      span.events.length
        ? section(
            `Events (${span.events.length})`,
            span.events.map((ev) =>
              h("div.event", h("div.event-head", h("b", ev.name), h("span.muted", ` +${duration(ev.time_unix_nano - span.start_time_unix_nano)}`)), attributeTable(ev.attributes, { emptyText: "" })),
            ),
          )
        : null,
      span.links.length
        ? section(
            `Links (${span.links.length})`,
            span.links.map((link) =>
              h("div.event",
                h("div.event-head",
                  link.trace_id === trace.trace_id
                    ? h("a.mono", { href: "#", onclick: (e) => { e.preventDefault(); const n = nodes.get(link.span_id); if (n) selectSpan(n); } }, `span ${link.span_id}`)
                    : h("a.mono", { href: `/trace/${link.trace_id}` }, `trace ${link.trace_id.slice(0, 16)}… span ${link.span_id}`)),
                attributeTable(link.attributes, { emptyText: "" })),
            ),
          )
        : null,
      spanLogs.length ? section(`Logs (${spanLogs.length})`, spanLogs.map((record) => logLine(record))) : null,
      section(`Resource (${resource.length})`, attributeTable(resource)),
    ]);
  }

  function logLine(record, { withService = false } = {}) {
    const severity = severityName(record.severity_number, record.severity_text);
    return h(
      "div.log-line",
      {
        onclick: () => {
          const node = nodes.get(record.span_id);
          if (node) {
            showPane("timeline");
            selectSpan(node);
          }
        },
        title: record.span_id && nodes.has(record.span_id) ? "Show its span" : "",
      },
      h("span.muted.mono", `+${duration(record.timestamp - traceStart)}`),
      h(`span.sev.sev-${severity}`, severity),
      withService ? h("span.svc", record.service_name) : null,
      h("span.log-body", record.body_text),
    );
  }

  function traceLogs() {
    if (!logs.length) return h("div.empty.small", h("h3", "No logs for this trace"), h("p.muted", "Log records carrying this trace's id show up here."));
    return h("div.log-lines", logs.map((record) => logLine(record, { withService: true })));
  }

  function showPane(which) {
    timelineTab.classList.toggle("active", which === "timeline");
    logsTab.classList.toggle("active", which === "logs");
    timelinePane.hidden = which !== "timeline";
    logsPane.hidden = which !== "logs";
    if (which === "timeline") paint(true);
  }
  timelineTab.addEventListener("click", () => showPane("timeline"));
  logsTab.addEventListener("click", () => showPane("logs"));

  filter.addEventListener("input", () => {
    filterText = filter.value.trim();
    const count = filterText ? spans.filter((s) => matches(s, filterText)).length : 0;
    matchCount.textContent = filterText ? `${count} match${count === 1 ? "" : "es"}` : "";
    paint(true);
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const start = selected ? rows.indexOf(selected) + 1 : 0;
    const all = rows.slice(start).concat(rows.slice(0, start));
    const next = all.find((n) => matches(n.span, filterText));
    if (next) selectSpan(next);
  });

  paint(true);
  // the first root is selected at first, without opening its details
  selected = null;

  function move(delta) {
    const index = selected ? rows.indexOf(selected) : -1;
    const next = rows[Math.max(0, Math.min(rows.length - 1, index + delta))];
    if (next) selectSpan(next);
  }

  return {
    dispose: () => controller.abort(),
    onKey(event) {
      if (event.key === "Escape") {
        if (!logsPane.hidden) showPane("timeline");
        else if (selected) selectSpan(null);
        else ctx.back();
        return true;
      }
      if (event.key === "j" || event.key === "ArrowDown") move(1);
      else if (event.key === "k" || event.key === "ArrowUp") move(-1);
      else if ((event.key === "h" || event.key === "ArrowLeft") && selected) {
        if (selected.children.length && !selected.collapsed) setCollapsed(selected, true);
        else if (nodes.get(selected.span.parent_span_id)) selectSpan(nodes.get(selected.span.parent_span_id));
      } else if ((event.key === "l" || event.key === "ArrowRight") && selected) setCollapsed(selected, false);
      else if (event.key === "Enter" && selected) setCollapsed(selected, !selected.collapsed);
      else return false;
      return true;
    },
  };
}
