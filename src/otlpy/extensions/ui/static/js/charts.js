// Charts drawn as SVG: a scatter plot of traces, line charts of series, histogram bars.

import { h, s } from "./dom.js";
import { clock, compact, duration } from "./format.js";

const MARGIN = { top: 12, right: 16, bottom: 26, left: 56 };

// About `count` round tick values covering [low, high].
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

const TIME_STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5,
  18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5,
];

// Tick times (unix ns) at round local clock values between low and high (ns).
export function timeTicks(lowNs, highNs, count = 6) {
  const spanMs = (highNs - lowNs) / 1e6;
  const stepMs = TIME_STEPS_MS.find((v) => v >= spanMs / count) || 864e5;
  const offset = new Date().getTimezoneOffset() * 6e4;
  const ticks = [];
  let t = Math.ceil((lowNs / 1e6 - offset) / stepMs) * stepMs + offset;
  for (; t * 1e6 <= highNs; t += stepMs) ticks.push(t * 1e6);
  return { ticks, withMs: stepMs < 1000, withSeconds: stepMs < 60000 };
}

function frame(container, height) {
  const style = getComputedStyle(container);
  const padding = (parseFloat(style.paddingLeft) || 0) + (parseFloat(style.paddingRight) || 0);
  const width = Math.max((container.clientWidth || 600) - padding, 240);
  const svg = s("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
  });
  const inner = {
    x0: MARGIN.left,
    x1: width - MARGIN.right,
    y0: height - MARGIN.bottom,
    y1: MARGIN.top,
  };
  return { svg, width, height, inner };
}

// [min, max] of fn over items, without spreading (large arrays overflow the stack)
export function extent(items, fn) {
  let low = Infinity;
  let high = -Infinity;
  for (const item of items) {
    const v = fn(item);
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function axes(svg, inner, xTicks, yTicks, xs, ys, xFormat, yFormat) {
  const g = s("g", { class: "axes" });
  for (const t of yTicks) {
    const y = ys(t);
    g.append(
      s("line", { x1: inner.x0, x2: inner.x1, y1: y, y2: y, class: "grid" }),
      s("text", { x: inner.x0 - 6, y: y + 4, "text-anchor": "end" }, yFormat(t)),
    );
  }
  for (const t of xTicks) {
    const x = xs(t);
    g.append(
      s("line", { x1: x, x2: x, y1: inner.y0, y2: inner.y0 + 4, class: "tick" }),
      s("text", { x, y: inner.y0 + 17, "text-anchor": "middle" }, xFormat(t)),
    );
  }
  g.append(s("line", { x1: inner.x0, x2: inner.x1, y1: inner.y0, y2: inner.y0, class: "axis" }));
  svg.append(g);
}

function timeFormat(info) {
  return (t) => clock(t, { ms: info.withMs }).slice(0, info.withSeconds ? undefined : 5);
}

// Traces by start time (x) and duration (y); errors in red; click to open.
export function scatterPlot(container, points, { onClick, height = 170, range } = {}) {
  const { svg, inner } = frame(container, height);
  if (!points.length) return svg;
  const [xLow, xHigh] = extent(points, (p) => p.x);
  let x0 = range?.[0] ?? xLow;
  let x1 = range?.[1] ?? xHigh;
  if (x1 - x0 < 1e9) {
    x0 -= 5e8;
    x1 += 5e8;
  }
  const yMax = extent(points, (p) => p.y)[1] * 1.1 || 1;
  const xs = scale(x0, x1, inner.x0 + 6, inner.x1 - 6);
  const ys = scale(0, yMax, inner.y0, inner.y1);
  const xInfo = timeTicks(x0, x1);
  axes(svg, inner, xInfo.ticks, niceTicks(0, yMax, 4), xs, ys, timeFormat(xInfo), duration);
  const maxSpans = extent(points, (p) => p.size || 1)[1];
  const dots = s("g", { class: "dots" });
  for (const p of points) {
    const r = 3.5 + 5 * Math.sqrt((p.size || 1) / maxSpans);
    const dot = s(
      "circle",
      {
        cx: xs(p.x),
        cy: ys(p.y),
        r,
        class: p.error ? "dot error" : "dot",
        tabindex: -1,
        "data-id": p.id,
        onclick: () => onClick?.(p),
      },
      s("title", {}, p.label),
    );
    dots.append(dot);
  }
  svg.append(dots);
  return svg;
}

// Lines over time: series [{label, color, points: [[t_ns, value], ...]}].
export function lineChart(container, series, { height = 180, yFormat = compact, range } = {}) {
  const wrap = h("div.chart-wrap");
  const { svg, inner } = frame(container, height);
  wrap.append(svg);
  const all = series.flatMap((line) => line.points);
  if (!all.length) return wrap;
  const [tLow, tHigh] = extent(all, (p) => p[0]);
  const x0 = range?.[0] ?? tLow;
  const x1 = range?.[1] ?? tHigh;
  let [yMin, yMax] = extent(all, (p) => p[1]);
  yMin = Math.min(0, yMin);
  if (yMax === yMin) {
    yMax += 1;
    yMin -= yMin === 0 ? 0 : 1;
  }
  yMax += (yMax - yMin) * 0.08;
  const xs = scale(x0, x1, inner.x0, inner.x1);
  const ys = scale(yMin, yMax, inner.y0, inner.y1);
  const xInfo = timeTicks(x0, x1);
  axes(svg, inner, xInfo.ticks, niceTicks(yMin, yMax, 4), xs, ys, timeFormat(xInfo), yFormat);
  for (const line of series) {
    const pts = [...line.points].sort((a, b) => a[0] - b[0]);
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${xs(p[0]).toFixed(1)},${ys(p[1]).toFixed(1)}`);
    svg.append(s("path", { d: d.join(""), class: "line", stroke: line.color }));
    if (pts.length <= 60) {
      for (const p of pts) {
        svg.append(s("circle", { cx: xs(p[0]), cy: ys(p[1]), r: 2.5, fill: line.color, class: "point" }));
      }
    }
  }
  // hover: the values of every series at the nearest step
  const cursor = s("line", { class: "cursor", y1: inner.y1, y2: inner.y0, visibility: "hidden" });
  const tip = h("div.tooltip", { hidden: true });
  svg.append(cursor);
  wrap.append(tip);
  const times = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  svg.addEventListener("mousemove", (event) => {
    const box = svg.getBoundingClientRect();
    const x = event.clientX - box.left;
    let best = times[0];
    for (const t of times) if (Math.abs(xs(t) - x) < Math.abs(xs(best) - x)) best = t;
    cursor.setAttribute("x1", xs(best));
    cursor.setAttribute("x2", xs(best));
    cursor.setAttribute("visibility", "visible");
    tip.hidden = false;
    tip.replaceChildren(
      h("div.tip-time", clock(best, { date: true })),
      ...series
        .map((line) => [line, line.points.find((p) => p[0] === best)])
        .filter(([, p]) => p)
        .map(([line, p]) =>
          h("div", h("span.swatch", { style: { background: line.color } }), `${line.label}: `, h("b", yFormat(p[1]))),
        ),
    );
    const left = Math.min(xs(best) + 12, box.width - 180);
    tip.style.left = `${Math.max(left, 0)}px`;
  });
  svg.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });
  return wrap;
}

// Histogram buckets as bars: [{lower, upper, count}].
export function bucketChart(container, buckets, { height = 200, unit = "" } = {}) {
  const { svg, inner } = frame(container, height);
  const shown = buckets.filter((b, i) => b.count > 0 || (i > 0 && i < buckets.length - 1));
  if (!shown.length) return svg;
  const yMax = extent(shown, (b) => b.count)[1] * 1.1 || 1;
  const ys = scale(0, yMax, inner.y0, inner.y1);
  const band = (inner.x1 - inner.x0) / shown.length;
  axes(svg, inner, [], niceTicks(0, yMax, 4), () => 0, ys, () => "", compact);
  const label = (b) => {
    const low = b.lower === null ? "−∞" : compact(b.lower);
    const high = b.upper === null ? "+∞" : compact(b.upper);
    return `${low}–${high}${unit ? ` ${unit}` : ""}`;
  };
  const every = Math.ceil(shown.length / Math.max(1, Math.floor((inner.x1 - inner.x0) / 70)));
  shown.forEach((b, i) => {
    const x = inner.x0 + i * band;
    const y = ys(b.count);
    svg.append(
      s(
        "rect",
        { x: x + 1, y, width: Math.max(band - 2, 1), height: inner.y0 - y, class: "bar" },
        s("title", {}, `${label(b)}: ${b.count}`),
      ),
    );
    if (i % every === 0) {
      svg.append(
        s("text", { x: x + band / 2, y: inner.y0 + 17, "text-anchor": "middle", class: "bar-label" },
          b.upper === null ? `>${compact(b.lower)}` : b.lower === null ? `≤${compact(b.upper)}` : `${compact(b.lower)}–${compact(b.upper)}`),
      );
    }
  });
  return svg;
}
