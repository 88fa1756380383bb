// The service map: which service calls which, from parent/child spans across services.

import { api } from "../api.js";
import { clear, h, s, select } from "../dom.js";
import { number, serviceColor } from "../format.js";
import { errorBox, loading, sendDataHelp } from "../widgets.js";

export const title = "Service map";

const LOOKBACK_MS = [
  ["900000", "Last 15 minutes"],
  ["3600000", "Last hour"],
  ["21600000", "Last 6 hours"],
  ["86400000", "Last 24 hours"],
  ["604800000", "Last 7 days"],
];

// Columns by call depth: callers left of what they call (cycles are cut where found).
export function layers(links) {
  const names = new Set(links.flatMap((l) => [l.parent, l.child]));
  const level = new Map([...names].map((n) => [n, 0]));
  for (let round = 0; round < names.size; round++) {
    let changed = false;
    for (const { parent, child } of links) {
      if (parent === child) continue;
      if (level.get(child) < level.get(parent) + 1 && level.get(parent) + 1 < names.size) {
        level.set(child, level.get(parent) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const [name, depth] of level) (columns[depth] ||= []).push(name);
  return columns.filter(Boolean).map((c) => c.sort());
}

function graph(container, links, onNode) {
  const columns = layers(links);
  const nodeW = 150;
  const nodeH = 40;
  const gapX = 110;
  const gapY = 26;
  const rows = Math.max(...columns.map((c) => c.length));
  const width = Math.max(columns.length * (nodeW + gapX) - gapX + 40, container.clientWidth || 600);
  const height = rows * (nodeH + gapY) - gapY + 40;
  const offsetX = Math.max(20, (width - (columns.length * (nodeW + gapX) - gapX)) / 2);
  const pos = new Map();
  columns.forEach((column, i) => {
    const top = (height - (column.length * (nodeH + gapY) - gapY)) / 2;
    column.forEach((name, j) => pos.set(name, { x: offsetX + i * (nodeW + gapX), y: top + j * (nodeH + gapY) }));
  });
  const maxCalls = Math.max(...links.map((l) => l.callCount));
  const svg = s("svg", { class: "depgraph", width, height, viewBox: `0 0 ${width} ${height}` },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  for (const link of links) {
    const a = pos.get(link.parent);
    const b = pos.get(link.child);
    const widthPx = 1.2 + 3.5 * Math.sqrt(link.callCount / maxCalls);
    let d;
    let labelX;
    let labelY;
    if (link.parent === link.child) {
      d = `M${a.x + nodeW - 30},${a.y} C${a.x + nodeW},${a.y - 40} ${a.x + nodeW + 30},${a.y} ${a.x + nodeW},${a.y + 12}`;
      labelX = a.x + nodeW + 10;
      labelY = a.y - 18;
    } else {
      const forward = b.x > a.x;
      const x1 = forward ? a.x + nodeW : a.x + nodeW / 2;
      const y1 = forward ? a.y + nodeH / 2 : a.y + nodeH;
      const x2 = forward ? b.x : b.x + nodeW / 2;
      const y2 = forward ? b.y + nodeH / 2 : b.y + nodeH;
      const bend = forward ? Math.max(40, (x2 - x1) / 2) : 60;
      d = forward
        ? `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`
        : `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 + bend} ${x2},${y2}`;
      labelX = (x1 + x2) / 2;
      labelY = (y1 + y2) / 2 - 6 + (forward ? 0 : bend * 0.75);
    }
    svg.append(
      s("path", { d, class: "edge", "stroke-width": widthPx, "marker-end": "url(#arrow)" },
        s("title", {}, `${link.parent} → ${link.child}: ${number(link.callCount)} calls`)),
      s("text", { x: labelX, y: labelY, class: "edge-label", "text-anchor": "middle" }, number(link.callCount)),
    );
  }
  for (const [name, p] of pos) {
    const color = serviceColor(name);
    svg.append(
      s("g", { class: "node", transform: `translate(${p.x},${p.y})`, tabindex: 0, onclick: () => onNode(name), role: "link" },
        s("title", {}, `Search traces of ${name}`),
        s("rect", { width: nodeW, height: nodeH, rx: 8 }),
        s("rect", { width: 6, height: nodeH, rx: 3, fill: color }),
        s("text", { x: 16, y: nodeH / 2 + 5 }, name.length > 18 ? `${name.slice(0, 17)}…` : name)),
    );
  }
  return svg;
}

export async function render(root, ctx) {
  const controller = new AbortController();
  const lookback = select({ "aria-label": "Time range", dataset: { focus: "" } }, LOOKBACK_MS, ctx.params.get("lookback") || "3600000");
  lookback.addEventListener("change", () => ctx.navigate(`/dependencies?lookback=${lookback.value}`, { replace: true }));
  const body = h("div.dep-body", loading("Drawing the service map…"));
  root.append(h("div.deps-view", h("header.metric-head", h("h1", "Service map"), h("span.spacer"), lookback), body));
  try {
    const response = await api.dependencies({ endTs: Date.now(), lookback: lookback.value }, { signal: controller.signal });
    const links = response.data || [];
    clear(body);
    if (!links.length) {
      const services = await api.services({ signal: controller.signal });
      if (!services.length) body.append(sendDataHelp("traces"));
      else
        body.append(
          h("div.empty.small", h("h3", "No calls between services in this time range"),
            h("p.muted", "The map is drawn from spans whose parent span belongs to another service. Try a longer time range, or propagate trace context between your services.")),
        );
    } else {
      body.append(
        h("p.muted.small", `${links.length} connection${links.length === 1 ? "" : "s"}; click a service to search its traces.`),
        graph(body, links, (name) => ctx.navigate(`/search?service=${encodeURIComponent(name)}`)),
      );
    }
  } catch (error) {
    if (error.name !== "AbortError") clear(body).append(errorBox(error));
  }
  return { dispose: () => controller.abort() };
}
