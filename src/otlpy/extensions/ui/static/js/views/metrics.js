// Metrics: the catalog on the left; on the right a chart per series of the chosen metric, or
// for histograms the bucket counts and percentiles over time.

import { api } from "../api.js";
import { bucketChart, lineChart } from "../charts.js";
import { append, clear, h, select } from "../dom.js";
import { compact, LOOKBACKS, number, serviceColor } from "../format.js";
import { errorBox, listNavigation, loading, nothingFound, sendDataHelp } from "../widgets.js";

export const title = "Metrics";

const HISTOGRAMS = new Set(["histogram", "exponential_histogram", "summary"]);
const QUANTILE_COLORS = { p50: "#4e9af1", p90: "#f28e2b", p99: "#e15759" };

function defaultAggregation(metric) {
  // a cumulative counter reads as a rate; everything else as its value
  return metric.type === "sum" && metric.monotonic ? "rate" : "avg";
}

function labelText(labels) {
  const entries = Object.entries(labels);
  if (!entries.length) return "all";
  return entries.map(([k, v]) => `${k}=${v}`).join(", ");
}

function seriesColor(labels, index) {
  const palette = ["#4e9af1", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7"];
  return labels["service.name"] && index === 0 ? serviceColor(labels["service.name"]) : palette[index % palette.length];
}

export async function render(root, ctx) {
  const params = ctx.params;
  const controller = new AbortController();
  const opts = { signal: controller.signal };
  const filter = h("input", { placeholder: "Filter metrics…", "aria-label": "Filter metrics", dataset: { focus: "" }, spellcheck: false });
  const catalog = h("div.metric-list");
  const side = h("aside.panel.metric-side", filter, catalog);
  const main = h("section.metric-main");
  root.append(h("div.metrics-layout", side, main));

  let metrics = [];
  try {
    metrics = (await api.metrics(opts)).metrics;
  } catch (error) {
    if (error.name !== "AbortError") main.append(errorBox(error));
    return { dispose: () => controller.abort() };
  }
  if (!metrics.length) {
    side.hidden = true;
    main.append(sendDataHelp("metrics"));
    return { dispose: () => controller.abort() };
  }

  const chosenName = params.get("name") || metrics[0].name;
  const chosen = metrics.find((m) => m.name === chosenName) || metrics[0];

  function drawCatalog() {
    const needle = filter.value.trim().toLowerCase();
    clear(catalog);
    for (const metric of metrics) {
      if (needle && !metric.name.toLowerCase().includes(needle)) continue;
      catalog.append(
        h(
          "a.metric-item",
          {
            href: `/metrics?${new URLSearchParams({ name: metric.name, lookback: params.get("lookback") || "1h" })}`,
            class: metric === chosen ? "metric-item selected" : "metric-item",
          },
          h("span.metric-name", metric.name),
          h("span.muted.small", `${metric.type.replace("_", " ")}${metric.unit ? ` · ${metric.unit}` : ""}`),
        ),
      );
    }
    if (!catalog.children.length) catalog.append(h("p.muted.small", "No metric matches"));
  }
  filter.addEventListener("input", drawCatalog);
  drawCatalog();
  const nav = listNavigation(catalog, ".metric-item", (el) => ctx.navigate(el.getAttribute("href")));

  const lookback = select({ "aria-label": "Time range" }, LOOKBACKS, params.get("lookback") || "1h");
  const controls = h("div.toolbar", lookback);
  const isHistogram = HISTOGRAMS.has(chosen.type);
  const aggregation = select(
    { "aria-label": "Aggregation" },
    [["avg", "average"], ["sum", "sum"], ["min", "min"], ["max", "max"], ["count", "count"], ...(chosen.type === "sum" ? [["rate", "rate /s"]] : [])],
    params.get("aggregation") || defaultAggregation(chosen),
  );
  const groupBy = select(
    { "aria-label": "Split by" },
    [["", "Split by every attribute"], ["service.name", "Split by service"], ...chosen.attribute_keys.map((k) => [k, `Split by ${k}`]), ["-", "No split (total)"]],
    params.get("group_by") ?? "",
  );
  if (!isHistogram) controls.prepend(aggregation, groupBy);
  const update = () => {
    const query = new URLSearchParams({ name: chosen.name, lookback: lookback.value });
    if (!isHistogram) {
      query.set("aggregation", aggregation.value);
      if (groupBy.value) query.set("group_by", groupBy.value);
    }
    ctx.navigate(`/metrics?${query}`, { replace: true });
  };
  for (const el of [lookback, aggregation, groupBy]) el.addEventListener("change", update);

  append(main, [
    h(
      "header.metric-head",
      h("h1", chosen.name),
      h("span.badge", chosen.type.replace("_", " ")),
      chosen.temporality ? h("span.badge", chosen.temporality) : null,
      chosen.monotonic ? h("span.badge", "monotonic") : null,
      chosen.unit && chosen.unit !== "1" ? h("span.muted", `unit: ${chosen.unit}`) : null,
      h("span.spacer"),
      controls,
    ),
    chosen.description ? h("p.muted", chosen.description) : null,
  ]);
  const body = h("div.metric-body", loading("Loading…"));
  main.append(body);

  try {
    if (isHistogram) await drawHistogram(body, chosen, lookback.value, opts);
    else await drawSeries(body, chosen, lookback.value, aggregation.value, groupBy.value, opts);
  } catch (error) {
    if (error.name !== "AbortError") clear(body).append(errorBox(error));
  }
  return { dispose: () => controller.abort(), onKey: (event) => nav.onKey(event) };
}

async function drawSeries(body, metric, lookback, aggregation, groupBy, opts) {
  const params = { name: metric.name, lookback, aggregation };
  if (groupBy === "-") params.group_by = "none";
  else if (groupBy) params.group_by = groupBy;
  const result = await api.series(params, opts);
  clear(body);
  if (!result.series.length) {
    body.append(nothingFound("No points in this time range", "Try a longer time range."));
    return;
  }
  const unit = aggregation === "rate" ? "/s" : aggregation === "count" ? "points" : metric.unit;
  const range = [result.start, result.end];
  const grid = h("div.chart-grid");
  body.append(
    h("p.muted.small", `${result.series.length} series${result.truncated ? " (the first 50)" : ""} · one point per ${Math.round(result.step / 1e9)} s · ${aggregation}`),
    grid,
  );
  result.series.forEach((series, index) => {
    const color = seriesColor(series.labels, index);
    const last = series.points.at(-1);
    const card = h(
      "div.chart-card",
      h("div.chart-title", h("span.swatch", { style: { background: color } }), h("span.labels", { title: labelText(series.labels) }, labelText(series.labels)), h("span.spacer"),
        last ? h("b", `${compact(last[1])}${unit ? ` ${unit}` : ""}`) : null),
    );
    grid.append(card);
    card.append(lineChart(card, [{ label: labelText(series.labels), color, points: series.points }], { height: 160, range }));
  });
}

async function drawHistogram(body, metric, lookback, opts) {
  const result = await api.histogram({ name: metric.name, lookback }, opts);
  clear(body);
  if (!result.count && !result.buckets.length) {
    body.append(nothingFound("No observations in this time range", "Try a longer time range."));
    return;
  }
  const unit = result.unit || metric.unit;
  const stats = h(
    "div.facts",
    ...[
      ["Count", number(result.count)],
      ["Sum", result.sum === null ? "–" : compact(result.sum)],
      ["Min", result.min === null ? "–" : compact(result.min)],
      ["Max", result.max === null ? "–" : compact(result.max)],
      ...Object.entries(result.quantiles).map(([k, v]) => [k, v === null ? "–" : compact(v)]),
    ].map(([label, value]) => h("div.fact", h("span.fact-label", label), h("span.fact-value", value, unit && label !== "Count" ? h("span.muted", ` ${unit}`) : null))),
  );
  body.append(stats);
  if (result.buckets.length) {
    const card = h("div.chart-card.wide", h("div.chart-title", "Observations per bucket"));
    body.append(card);
    card.append(bucketChart(card, result.buckets, { unit }));
  }
  if (result.series.length > 1) {
    const card = h("div.chart-card.wide", h("div.chart-title", "Percentiles over time"));
    body.append(card);
    const names = Object.keys(result.quantiles);
    const lines = names.map((name) => ({
      label: name,
      color: QUANTILE_COLORS[name] || "#888",
      points: result.series.filter((s) => s.quantiles[name] !== null).map((s) => [s.time, s.quantiles[name]]),
    }));
    card.append(lineChart(card, lines, { height: 200, range: [result.start, result.end] }));
    card.append(h("div.legend", lines.map((l) => h("span", h("span.swatch", { style: { background: l.color } }), l.label))));
  }
}
