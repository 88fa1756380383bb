// Trace search: a form (service, operation, tags, durations, time range), a scatter plot of
// the results (duration over time) and the list of matching traces.

import { api } from "../api.js";
import { scatterPlot } from "../charts.js";
import { clear, h, select } from "../dom.js";
import { ago, clock, duration, goDuration, serviceColor } from "../format.js";
import { errorBox, listNavigation, loading, nothingFound, sendDataHelp, timeRange } from "../widgets.js";

export const title = "Traces";

const SORTS = [
  ["recent", "Most recent"],
  ["longest", "Longest first"],
  ["spans", "Most spans"],
  ["errors", "Most errors"],
];
const LIMITS = ["20", "50", "100", "200", "500"];

function sortTraces(traces, how) {
  const by = {
    recent: (a, b) => b.latest_match - a.latest_match,
    longest: (a, b) => b.duration_nano - a.duration_nano,
    spans: (a, b) => b.span_count - a.span_count,
    errors: (a, b) => b.error_count - a.error_count || b.latest_match - a.latest_match,
  }[how];
  return [...traces].sort(by);
}

export function serviceChip(name, count) {
  return h(
    "span.chip",
    { style: { "--c": serviceColor(name) }, title: count ? `${count} spans in ${name}` : name },
    h("span.dot-c"),
    name,
    count ? h("span.chip-count", count) : null,
  );
}

function traceRow(trace, maxDuration) {
  const width = Math.max(2, (100 * trace.duration_nano) / (maxDuration || 1));
  const services = Object.entries(trace.services);
  return h(
    "a.trace-row",
    { href: `/trace/${trace.trace_id}`, dataset: { traceId: trace.trace_id } },
    h(
      "div.row-main",
      h("span.svc-bar", { style: { background: serviceColor(trace.root_service) } }),
      h("span.root", h("span.root-svc", trace.root_service), " ", h("b", trace.root_name)),
      trace.has_root ? null : h("span.badge.warn", { title: "The root span was not received" }, "no root"),
      h("span.spacer"),
      h("span.dur", duration(trace.duration_nano)),
    ),
    h("div.row-bar", h("span", { style: { width: `${width}%` } })),
    h(
      "div.row-meta",
      h("span", `${trace.span_count} span${trace.span_count === 1 ? "" : "s"}`),
      trace.error_count
        ? h("span.badge.error", `${trace.error_count} error${trace.error_count === 1 ? "" : "s"}`)
        : null,
      h("span.chips", services.slice(0, 6).map(([name, n]) => serviceChip(name, n))),
      services.length > 6 ? h("span.muted", `+${services.length - 6}`) : null,
      h("span.spacer"),
      h("span.muted.mono", trace.trace_id.slice(0, 12)),
      h("span.when", { title: clock(trace.start_time_unix_nano, { date: true }) }, ago(trace.start_time_unix_nano)),
    ),
  );
}

export async function render(root, ctx) {
  const params = ctx.params;
  const controller = new AbortController();
  const opts = { signal: controller.signal };
  const timers = [];
  const dispose = () => {
    controller.abort();
    timers.forEach(clearInterval);
  };

  const serviceSelect = select({ name: "service", id: "f-service" }, [["", "All services"]], "");
  const operationSelect = select({ name: "operation", id: "f-operation" }, [["", "All operations"]], "");
  const tags = h("input", {
    name: "tags",
    id: "f-tags",
    placeholder: "http.status_code=500 error=true",
    value: params.get("tags") || "",
    autocomplete: "off",
    spellcheck: false,
  });
  const range = timeRange(params, { id: "f-lookback" });
  const minDuration = h("input", { name: "minDuration", id: "f-min", placeholder: "e.g. 100ms", value: params.get("minDuration") || "" });
  const maxDuration = h("input", { name: "maxDuration", id: "f-max", placeholder: "e.g. 2s", value: params.get("maxDuration") || "" });
  const limit = select({ name: "limit", id: "f-limit" }, LIMITS, params.get("limit") || "20");
  serviceSelect.dataset.focus = "";

  const form = h(
    "form.panel.search-form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const query = new URLSearchParams();
        for (const [key, el] of Object.entries({ service: serviceSelect, operation: operationSelect, tags, limit })) {
          if (el.value) query.set(key, el.value);
        }
        for (const [key, value] of Object.entries(range.params())) if (value) query.set(key, value);
        if (minDuration.value) query.set("minDuration", goDuration(minDuration.value));
        if (maxDuration.value) query.set("maxDuration", goDuration(maxDuration.value));
        ctx.navigate(`/search?${query}`);
      },
    },
    h("h2", "Find traces"),
    h("label", { for: "f-service" }, "Service"),
    serviceSelect,
    h("label", { for: "f-operation" }, "Operation"),
    operationSelect,
    h("label", { for: "f-tags" }, "Tags ", h("span.muted", "(logfmt)")),
    tags,
    h("label", { for: "f-lookback" }, "Time range"),
    range.element,
    h("div.two", h("div", h("label", { for: "f-min" }, "Min duration"), minDuration), h("div", h("label", { for: "f-max" }, "Max duration"), maxDuration)),
    h("label", { for: "f-limit" }, "Limit"),
    limit,
    h("button.primary", { type: "submit" }, "Find traces"),
    h("p.hint", h("kbd", "/"), " to search, ", h("kbd", "j"), h("kbd", "k"), " to move, ", h("kbd", "Enter"), " to open"),
  );

  const results = h("section.results");
  root.append(h("div.search-layout", form, results));

  async function loadOperations(service, selected) {
    clear(operationSelect).append(h("option", { value: "" }, "All operations"));
    if (!service) return;
    try {
      const operations = await api.operations(service, opts);
      const names = [...new Set(operations.map((o) => o.name))].sort();
      for (const name of names) operationSelect.append(h("option", { value: name }, name));
      operationSelect.value = names.includes(selected) ? selected : "";
    } catch (error) {
      if (error.name !== "AbortError") results.prepend(errorBox(error));
    }
  }
  serviceSelect.addEventListener("change", () => loadOperations(serviceSelect.value, ""));

  const nav = listNavigation(results, ".trace-row", (el) => ctx.navigate(el.getAttribute("href")));

  let services;
  try {
    services = await api.services(opts);
  } catch (error) {
    if (error.name === "AbortError") return { dispose };
    results.append(errorBox(error));
    return { dispose };
  }
  for (const name of services) serviceSelect.append(h("option", { value: name }, name));
  const wanted = params.get("service") || "";
  serviceSelect.value = services.includes(wanted) ? wanted : "";
  await loadOperations(serviceSelect.value, params.get("operation") || "");

  if (!services.length) {
    results.append(sendDataHelp("traces"));
    // come alive as soon as the first spans arrive
    timers.push(
      setInterval(async () => {
        try {
          if ((await api.services(opts)).length) ctx.navigate(window.location.pathname + window.location.search, { replace: true });
        } catch {
          // keep waiting
        }
      }, 2000),
    );
    return { dispose, onKey: () => false };
  }

  const query = {
    service: serviceSelect.value,
    operation: operationSelect.value,
    tags: tags.value,
    ...range.params(),
    minDuration: params.get("minDuration") || "",
    maxDuration: params.get("maxDuration") || "",
    limit: limit.value,
  };
  let traces = [];
  let nextCursor = null;
  let sort = "recent";
  const summary = h("div.results-head");
  const plot = h("div.plot");
  const list = h("div.trace-list");
  const more = h("div.more");
  results.append(summary, plot, list, more);
  list.append(loading("Searching traces…"));

  function draw() {
    clear(summary);
    clear(plot);
    clear(list);
    clear(more);
    nav.reset();
    if (!traces.length) {
      list.append(
        nothingFound("No traces match", "Widen the time range, or remove a filter. Tags match span and resource attributes exactly."),
      );
      return;
    }
    const errors = traces.filter((t) => t.error_count).length;
    const sortSelect = select({ "aria-label": "Sort" }, SORTS, sort);
    sortSelect.addEventListener("change", () => {
      sort = sortSelect.value;
      draw();
    });
    summary.append(
      h("span", h("b", traces.length), ` trace${traces.length === 1 ? "" : "s"}`, errors ? h("span.badge.error", `${errors} with errors`) : null),
      h("span.spacer"),
      sortSelect,
    );
    const points = traces.map((t) => ({
      x: t.start_time_unix_nano,
      y: t.duration_nano,
      size: t.span_count,
      error: t.error_count > 0,
      id: t.trace_id,
      label: `${t.root_service}: ${t.root_name}\n${duration(t.duration_nano)} · ${t.span_count} spans\n${clock(t.start_time_unix_nano, { date: true })}`,
    }));
    plot.append(scatterPlot(plot, points, { onClick: (p) => ctx.navigate(`/trace/${p.id}`) }));
    const maxDuration = Math.max(...traces.map((t) => t.duration_nano));
    list.append(...sortTraces(traces, sort).map((t) => traceRow(t, maxDuration)));
    if (nextCursor) {
      more.append(h("button.ghost", { type: "button", onclick: loadMore }, "Load more traces"));
    }
  }

  async function search(cursor) {
    const page = await api.traces({ ...query, cursor }, opts);
    const seen = new Set(traces.map((t) => t.trace_id));
    traces = traces.concat(page.traces.filter((t) => !seen.has(t.trace_id)));
    nextCursor = page.next_cursor;
    // later pages search the same window
    query.start = String(page.start);
    query.end = String(page.end);
  }

  async function loadMore() {
    more.replaceChildren(loading("Loading more…"));
    try {
      await search(nextCursor);
      draw();
    } catch (error) {
      if (error.name !== "AbortError") more.replaceChildren(errorBox(error));
    }
  }

  try {
    await search(undefined);
    draw();
  } catch (error) {
    if (error.name === "AbortError") return { dispose };
    clear(list).append(errorBox(error));
  }

  return {
    dispose,
    onKey: (event) => nav.onKey(event),
  };
}
