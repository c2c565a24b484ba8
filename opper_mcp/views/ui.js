// Small DOM helpers shared by the views. Every string from the data goes in as a text node, never as markup.
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#8cd17d"];

/** An element: `h("td", { class: "num", onclick: fn }, "text", child)`. Handlers are listeners, not attributes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAll(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAll(el, attrs);
  append(el, children);
  return el;
}

function setAll(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function mount(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren();
  append(app, nodes);
}

function showProblem(err) {
  const text = err instanceof Error ? err.message : String(err);
  const app = document.getElementById("app");
  const box = h("p", { class: "problem", role: "alert" }, text);
  if (app.querySelector("#waiting")) app.replaceChildren(box);
  else app.prepend(box);
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const str = (v) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

function usd(v) {
  if (!isNum(v)) return "—";
  if (v === 0) return "$0";
  if (Math.abs(v) < 0.1) return `$${Number(v.toPrecision(2))}`;
  return `$${v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function ms(v) {
  if (!isNum(v)) return "—";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(v / 60000);
  return `${minutes} min ${Math.round((v % 60000) / 1000)} s`;
}

const int = (v) => (isNum(v) ? Math.round(v).toLocaleString("en-US") : "—");

function tokens(input, output) {
  if (!isNum(input) && !isNum(output)) return "—";
  return `${int(input)} → ${int(output)}`;
}

function when(iso) {
  const t = Date.parse(str(iso));
  return Number.isNaN(t) ? str(iso) || "—" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

/** `[label, value]` pairs as a compact row of figures (totals on top of each view). */
function stats(pairs) {
  return h("dl", { class: "stats" }, pairs.filter(Boolean).map(([label, value, cls]) =>
    h("div", { class: cls }, h("dt", {}, label), h("dd", {}, value))));
}

/** A data table. Columns: `{ label, value(row) -> string | Node, num }`. */
function table(caption, columns, rows, attrs) {
  return h("table", attrs || {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : "" }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "" },
      c.value(row)))))));
}

function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}` }, text);
}

/** A horizontal bar (0..1 of its track), drawn with CSSOM so no inline style attribute is needed. */
function meter(fraction, color, label) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
  if (color) fill.style.background = color;
  return h("span", { class: "meter", role: "img", "aria-label": label || "" }, fill);
}

function swatch(color) {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.background = color;
  return el;
}
