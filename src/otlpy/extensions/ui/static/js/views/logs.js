// Logs: filters (service, severity, text, attributes, time range), newest first, live tail,
// and a jump from a record to its trace.

import { api } from "../api.js";
import { clear, h, select } from "../dom.js";
import { attributesObject, clock, serviceColor, severityName, anyValue } from "../format.js";
import { errorBox, listNavigation, loading, nothingFound, sendDataHelp, timeRange } from "../widgets.js";

export const title = "Logs";

const SEVERITIES = [
  ["", "Any severity"],
  ["debug", "Debug and above"],
  ["info", "Info and above"],
  ["warn", "Warn and above"],
  ["error", "Error and above"],
  ["fatal", "Fatal"],
];
const MAX_ROWS = 2000;

function attributeList(attributes) {
  if (!attributes.length) return h("span.muted", "none");
  return h(
    "div.attr-pills",
    attributes.map((kv) => h("span.pill", h("span.pill-key", kv.key), "=", anyValue(kv.value))),
  );
}

function logRow(record) {
  const severity = severityName(record.severity_number, record.severity_text);
  const row = h(
    "div.log-row",
    { dataset: { seq: record.seq }, tabindex: -1 },
    h("span.log-time.mono", { title: clock(record.timestamp, { date: true }) }, clock(record.timestamp)),
    h(`span.sev.sev-${severity}`, record.severity_text || severity),
    h("span.log-svc", h("span.svc-dot", { style: { background: serviceColor(record.service_name || "?") } }), record.service_name || "–"),
    h("span.log-body", record.body_text),
    record.trace_id
      ? h("a.trace-link", { href: `/trace/${record.trace_id}`, title: "Open its trace", onclick: (e) => e.stopPropagation() }, "trace →")
      : h("span"),
  );
  row.addEventListener("click", () => toggleDetails(row, record));
  return row;
}

function toggleDetails(row, record) {
  const next = row.nextElementSibling;
  if (next?.classList.contains("log-details")) {
    next.remove();
    row.classList.remove("open");
    return;
  }
  row.classList.add("open");
  const body = record.body && "kvlistValue" in record.body
    ? JSON.stringify(attributesObject(record.body.kvlistValue.values), null, 2)
    : record.body_text;
  row.after(
    h(
      "div.log-details",
      h("pre.log-full", body),
      h(
        "dl.kv",
        h("dt", "Time"), h("dd", clock(record.timestamp, { date: true })),
        h("dt", "Severity"), h("dd", `${record.severity_text || "–"} (${record.severity_number})`),
        h("dt", "Attributes"), h("dd", attributeList(record.attributes)),
        h("dt", "Resource"), h("dd", attributeList(record.resource.attributes)),
        h("dt", "Scope"), h("dd", record.scope.name || "–"),
        record.event_name ? [h("dt", "Event"), h("dd", record.event_name)] : null,
        record.trace_id
          ? [h("dt", "Trace"), h("dd.mono", h("a", { href: `/trace/${record.trace_id}` }, record.trace_id), record.span_id ? ` span ${record.span_id}` : "")]
          : null,
      ),
    ),
  );
}

export async function render(root, ctx) {
  const params = ctx.params;
  const controller = new AbortController();
  const opts = { signal: controller.signal };
  let live = params.get("live") === "1";
  let tailController = null;

  const service = select({ "aria-label": "Service" }, [["", "All services"]], "");
  const severity = select({ "aria-label": "Severity" }, SEVERITIES, params.get("severity") || "");
  const text = h("input.grow", {
    placeholder: "Search the message text…",
    value: params.get("text") || "",
    "aria-label": "Text",
    dataset: { focus: "" },
    spellcheck: false,
  });
  const attributes = h("input", {
    placeholder: "attributes: k=v k2=v2",
    value: params.get("attributes") || "",
    "aria-label": "Attributes",
    spellcheck: false,
  });
  const range = timeRange(params, { onChange: () => go() });
  const liveButton = h("button.live", { type: "button", title: "Show new records as they arrive" }, h("span.pulse"), "Live");
  const status = h("span.muted.small");
  const form = h(
    "form.toolbar",
    { onsubmit: (event) => { event.preventDefault(); go(); } },
    service, severity, text, attributes, range.element,
    h("button.primary", { type: "submit" }, "Search"),
    liveButton,
  );
  const list = h("div.log-list");
  const more = h("div.more");
  root.append(h("div.logs-view", form, h("div.results-head", status), list, more));

  function currentQuery() {
    return {
      service: service.value,
      severity: severity.value,
      text: text.value.trim(),
      attributes: attributes.value.trim(),
    };
  }

  function go() {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...currentQuery(), ...range.params() })) {
      if (value) query.set(key, value);
    }
    if (live) query.set("live", "1");
    ctx.navigate(`/logs?${query}`);
  }
  for (const el of [service, severity]) el.addEventListener("change", go);
  liveButton.addEventListener("click", () => {
    live = !live;
    go();
  });

  const nav = listNavigation(list, ".log-row", (row) => row.click());

  try {
    const services = await api.services(opts);
    const info = await api.info(opts);
    for (const name of services) service.append(h("option", { value: name }, name));
    service.value = params.get("service") || "";
    if (!info.counts.logs) {
      list.append(sendDataHelp("logs"));
    }
  } catch (error) {
    if (error.name !== "AbortError") list.append(errorBox(error));
  }

  const seen = new Set();
  function addRows(records, { prepend = false } = {}) {
    const fresh = records.filter((r) => !seen.has(r.seq));
    fresh.forEach((r) => seen.add(r.seq));
    const rows = fresh.map(logRow);
    if (prepend) list.prepend(...rows.reverse());
    else list.append(...rows);
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
    return fresh.length;
  }

  async function loadPage(end) {
    const bounds = range.params();
    const page = await api.logs({ ...currentQuery(), ...bounds, end: end || bounds.end, limit: 200 }, opts);
    addRows(page.logs);
    clear(more);
    if (page.next_end) {
      more.append(h("button.ghost", { type: "button", onclick: async () => {
        more.replaceChildren(loading());
        try { await loadPage(page.next_end); } catch (error) { if (error.name !== "AbortError") more.replaceChildren(errorBox(error)); }
      } }, "Load older records"));
    }
    return page.logs.length;
  }

  async function tail() {
    liveButton.classList.add("on");
    tailController = new AbortController();
    let cursor = null;
    const first = await api.tail({ ...currentQuery(), limit: 200 }, { signal: tailController.signal });
    addRows(first.logs.slice().reverse());
    cursor = first.cursor;
    status.textContent = "Live: new records appear at the top";
    while (!tailController.signal.aborted) {
      try {
        const page = await api.tail({ ...currentQuery(), cursor, wait: 10, limit: 500 }, { signal: tailController.signal });
        cursor = page.cursor;
        if (page.logs.length) {
          const empty = list.querySelector(".empty");
          if (empty) empty.remove();
          addRows(page.logs, { prepend: true });
        }
      } catch (error) {
        if (error.name === "AbortError") return;
        status.textContent = `Live tail paused: ${error.message}; retrying…`;
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  if (live) {
    tail().catch((error) => {
      if (error.name !== "AbortError") list.append(errorBox(error));
    });
  } else {
    list.append(loading("Searching logs…"));
    try {
      const count = await loadPage(undefined);
      list.querySelector(".loading")?.remove();
      status.textContent = count ? "Newest first" : "";
      if (!count && !list.querySelector(".empty")) {
        list.append(nothingFound("No log records match", "Widen the time range or loosen a filter; text search ignores case."));
      }
    } catch (error) {
      list.querySelector(".loading")?.remove();
      if (error.name !== "AbortError") list.append(errorBox(error));
    }
  }

  return {
    dispose() {
      controller.abort();
      tailController?.abort();
    },
    onKey: (event) => nav.onKey(event),
  };
}
