// The application shell: navigation, routing by path, the keyboard, and the store summary.

import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { number } from "./format.js";
import { setOtlpEndpoints } from "./widgets.js";

const ROUTES = [
  [/^\/(search)?$/, "search", () => import("./views/search.js")],
  [/^\/trace\/([0-9a-fA-F]{1,32})$/, "search", () => import("./views/trace.js")],
  [/^\/logs$/, "logs", () => import("./views/logs.js")],
  [/^\/metrics$/, "metrics", () => import("./views/metrics.js")],
  [/^\/dependencies$/, "dependencies", () => import("./views/dependencies.js")],
];

const NAV = [
  ["search", "/search", "Traces", "g s"],
  ["logs", "/logs", "Logs", "g l"],
  ["metrics", "/metrics", "Metrics", "g m"],
  ["dependencies", "/dependencies", "Service map", "g d"],
];

// pages visited inside the app: "back" leaves the app only if we came from elsewhere
const state = { view: null, info: null, renderId: 0, depth: 0 };
const main = h("main", { id: "view" });
const counts = h("span.counts");
const navLinks = NAV.map(([key, href, label, keys]) =>
  h("a.nav", { href, dataset: { key }, title: `${label} (${keys})` }, label),
);

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, window.location.origin);
  if (target.origin !== window.location.origin) {
    window.location.href = url;
    return;
  }
  if (replace) history.replaceState(null, "", target);
  else {
    history.pushState({ depth: ++state.depth }, "", target);
  }
  route();
}

export function back(fallback = "/search") {
  if (state.depth > 0) history.back();
  else navigate(fallback);
}

async function route() {
  const renderId = ++state.renderId;
  if (state.view?.dispose) state.view.dispose();
  state.view = null;
  const path = window.location.pathname.replace(/\/+$/, "") || "/";
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  for (const link of navLinks) link.classList.toggle("active", found?.[1] === link.dataset.key);
  clear(main);
  if (!found) {
    main.append(h("div.empty", h("h2", "Nothing here"), h("a", { href: "/search" }, "Search traces")));
    return;
  }
  const [pattern, , load] = found;
  const module = await load();
  if (renderId !== state.renderId) return;
  const match = path.match(pattern);
  const context = {
    match,
    params: new URLSearchParams(window.location.search),
    navigate,
    back,
    info: state.info,
  };
  document.title = `${module.title || "otlpy"} · otlpy`;
  state.view = (await module.render(main, context)) || {};
}

async function refreshInfo() {
  try {
    state.info = await api.info();
    setOtlpEndpoints(state.info.otlp);
    const c = state.info.counts;
    counts.textContent = `${number(c.spans)} spans · ${number(c.logs)} logs · ${number(
      c.metric_points,
    )} points`;
    counts.title = `Stored in ${state.info.data_directory} (otlpy ${state.info.version})`;
    counts.classList.remove("offline");
  } catch {
    counts.textContent = "offline";
    counts.classList.add("offline");
  }
}

const SHORTCUTS = [
  ["/", "Search (focus the first field)"],
  ["j / k", "Next / previous item"],
  ["Enter", "Open the selected item"],
  ["Esc", "Close details, go back"],
  ["h / l", "Collapse / expand the selected span"],
  ["g s", "Traces"],
  ["g l", "Logs"],
  ["g m", "Metrics"],
  ["g d", "Service map"],
  ["?", "This help"],
];

const help = h(
  "div.overlay",
  { hidden: true, onclick: (event) => event.target === help && toggleHelp(false) },
  h(
    "div.dialog",
    { role: "dialog", "aria-label": "Keyboard shortcuts" },
    h("h2", "Keyboard shortcuts"),
    h(
      "table.shortcuts",
      SHORTCUTS.map(([keys, what]) =>
        h("tr", h("td", keys.split(" ").map((k) => h("kbd", k))), h("td", what)),
      ),
    ),
    h("p.muted", "Press Esc to close."),
  ),
);

function toggleHelp(show = help.hidden) {
  help.hidden = !show;
}

let pendingG = 0;

function onKey(event) {
  const target = event.target;
  const typing =
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  if (event.key === "Escape") {
    if (!help.hidden) toggleHelp(false);
    else if (typing) target.blur();
    else state.view?.onKey?.(event);
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (pendingG && Date.now() - pendingG < 1500) {
    pendingG = 0;
    const to = { s: "/search", l: "/logs", m: "/metrics", d: "/dependencies" }[event.key];
    if (to) {
      event.preventDefault();
      navigate(to);
      return;
    }
  }
  if (event.key === "g") {
    pendingG = Date.now();
    return;
  }
  if (event.key === "/") {
    const field = main.querySelector("[data-focus]");
    if (field) {
      event.preventDefault();
      field.focus();
      field.select?.();
    }
    return;
  }
  if (event.key === "?") {
    toggleHelp();
    return;
  }
  if (state.view?.onKey?.(event)) event.preventDefault();
}

function onClick(event) {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || link.target) return;
  const url = new URL(link.href, window.location.origin);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

function start() {
  const header = h(
    "header.top",
    h("a.brand", { href: "/search", title: "otlpy" }, h("span.logo", "◆"), "otlpy"),
    h("nav", navLinks),
    h("div.spacer"),
    counts,
    h("button.ghost.icon", { type: "button", title: "Keyboard shortcuts (?)", onclick: () => toggleHelp() }, "?"),
  );
  document.body.append(header, main, help);
  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", (event) => {
    state.depth = event.state?.depth || 0;
    route();
  });
  setInterval(refreshInfo, 10000);
  // the first view waits for the info: an empty store's help names the receiver's endpoints
  refreshInfo().then(route);
}

start();
