// Trace waterfall: get_trace's spans on one time axis, nested by parent. Only the rows in sight are in the
// DOM (a trace can have thousands of spans); the rest is arithmetic over plain arrays.
const ROW_PX = 26;
const MAX_ROWS_SHOWN = 16;
const NO_IO = "Not retained: Opper keeps inputs and outputs only when the trace's retention is on.";

const state = {
  trace: null, rows: [], visible: [], collapsed: new Set(), active: 0, selected: null,
  t0: 0, t1: 0, loading: false, stop: false,
};

startView((data) => {
  state.trace = data;
  state.rows = (Array.isArray(data.spans) ? data.spans : []).filter((r) => r && typeof r === "object");
  state.collapsed.clear();
  state.active = 0;
  state.selected = null;
  index();
  draw();
});

/** Per-row numbers the drawing needs: start/end in ms, parent row, whether it has children. */
function index() {
  const rows = state.rows;
  const stack = [];
  let t0 = Infinity;
  let t1 = -Infinity;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const depth = isNum(row.depth) && row.depth >= 0 ? row.depth : 0;
    row._depth = depth;
    while (stack.length && rows[stack[stack.length - 1]]._depth >= depth) stack.pop();
    row._parent = stack.length ? stack[stack.length - 1] : -1;
    if (row._parent >= 0) rows[row._parent]._kids = true;
    row._kids = false;
    stack.push(i);
    const start = Date.parse(str(row.start_time));
    row._start = Number.isNaN(start) ? null : start;
    row._dur = isNum(row.duration_ms) && row.duration_ms >= 0 ? row.duration_ms : null;
    if (row._start !== null) {
      t0 = Math.min(t0, row._start);
      t1 = Math.max(t1, row._start + (row._dur || 0));
    }
  }
  const traceStart = Date.parse(str(state.trace.start_time));
  if (!Number.isNaN(traceStart)) t0 = Math.min(t0, traceStart);
  if (!Number.isNaN(traceStart) && isNum(state.trace.duration_ms)) t1 = Math.max(t1, traceStart + state.trace.duration_ms);
  state.t0 = Number.isFinite(t0) ? t0 : 0;
  state.t1 = Number.isFinite(t1) && t1 > state.t0 ? t1 : state.t0 + 1;
  layout();
}

/** The rows not hidden under a collapsed parent, in order. */
function layout() {
  const rows = state.rows;
  const visible = [];
  let hideBelow = Infinity;
  for (let i = 0; i < rows.length; i++) {
    const depth = rows[i]._depth;
    if (depth > hideBelow) continue;
    hideBelow = Infinity;
    visible.push(i);
    if (state.collapsed.has(i)) hideBelow = depth;
  }
  state.visible = visible;
  state.active = Math.min(state.active, Math.max(0, visible.length - 1));
}

function totals() {
  let cost = 0;
  let costs = 0;
  let errors = 0;
  const models = new Map();
  for (const row of state.rows) {
    if (isNum(row.cost_usd)) {
      cost += row.cost_usd;
      costs++;
    }
    if (isError(row)) errors++;
    if (row.model) {
      const m = models.get(row.model) || { model: row.model, spans: 0, input: 0, output: 0, cost: 0, ms: 0 };
      m.spans++;
      m.input += isNum(row.input_tokens) ? row.input_tokens : 0;
      m.output += isNum(row.output_tokens) ? row.output_tokens : 0;
      m.cost += isNum(row.cost_usd) ? row.cost_usd : 0;
      m.ms += row._dur || 0;
      models.set(row.model, m);
    }
  }
  const total = isNum(state.trace.total_cost_usd) ? state.trace.total_cost_usd : costs ? cost : null;
  return { cost: total, errors, models: [...models.values()].sort((a, b) => b.cost - a.cost || b.spans - a.spans) };
}

const isError = (row) => Boolean(row.error) || /^(error|failed)$/i.test(str(row.status));

function draw() {
  const trace = state.trace;
  const sum = totals();
  const spanCount = isNum(trace.span_count) ? trace.span_count : state.rows.length;
  const duration = isNum(trace.duration_ms) ? trace.duration_ms : state.t1 - state.t0;
  const view = h("div", {
    class: "wf-view", tabindex: "0", role: "treegrid", "aria-label": "Spans, nested by parent",
    "aria-rowcount": String(state.visible.length), onkeydown: onKey, onscroll: () => requestAnimationFrame(drawRows),
  });
  view.style.height = `${Math.max(1, Math.min(state.visible.length, MAX_ROWS_SHOWN)) * ROW_PX}px`;
  const spacer = h("div", { class: "wf-space", role: "presentation" });
  spacer.style.height = `${state.visible.length * ROW_PX}px`;
  view.append(spacer);
  state.view = view;
  state.spacer = spacer;
  mount(
    h("h1", {}, trace.name || "Trace", badge(trace.status || (sum.errors ? "error" : "ok"),
      sum.errors || /error|fail/i.test(str(trace.status)) ? "error" : "ok")),
    stats([
      ["Total cost", usd(sum.cost)],
      ["Duration", ms(duration)],
      ["Spans", int(spanCount)],
      ["Errors", int(sum.errors), sum.errors ? "bad" : ""],
      ["Models", int(sum.models.length)],
      ["Started", when(trace.start_time)],
    ]),
    pagingNote(spanCount),
    h("div", { class: "wf", "data-spans": String(state.rows.length) },
      h("div", { class: "wf-head", role: "row" },
        ["Span", "Model", "Duration", "Tokens", "Cost"].map((t) => h("span", { role: "columnheader" }, t)),
        h("span", { role: "columnheader" }, axis())),
      view),
    h("p", { class: "muted" }, "↑ ↓ move · → ← open and close · Enter shows a span's details."),
    h("section", { class: "details", id: "details", "aria-live": "polite" }, detailsOf(null)),
    sum.models.length ? table("By model", [
      { label: "Model", value: (m) => m.model },
      { label: "Spans", value: (m) => int(m.spans), num: true },
      { label: "Tokens in → out", value: (m) => tokens(m.input, m.output), num: true },
      { label: "Time", value: (m) => ms(m.ms), num: true },
      { label: "Cost", value: (m) => usd(m.cost), num: true },
      { label: "Share of cost", value: (m) => meter(sum.cost ? m.cost / sum.cost : 0, null, "share of cost") },
    ], sum.models, { class: "by-model" }) : null,
  );
  drawRows();
}

function axis() {
  const span = state.t1 - state.t0;
  const el = h("span", { class: "axis", "aria-label": `time axis, 0 to ${ms(span)}` });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = h("span", {}, ms(span * f));
    tick.style.left = `${f * 100}%`;
    el.append(tick);
  }
  return el;
}

function pagingNote(spanCount) {
  const trace = state.trace;
  const more = isNum(trace.next_offset) && trace.next_offset > 0;
  if (!more && !trace.hint) return null;
  const note = h("p", { class: "note", id: "paging" });
  if (more) {
    note.append(`Showing ${int(state.rows.length)} of ${int(spanCount)} spans. `);
    if (canCallTools()) {
      note.append(h("button", { id: "load-all", onclick: loadAll }, "Load all spans"));
    } else {
      note.append("Call get_trace with offset for the rest.");
    }
  } else {
    note.append(str(trace.hint));
  }
  return note;
}

/** The pages the tool left out (it keeps within a result budget), through the host, without inputs/outputs. */
async function loadAll() {
  if (state.loading) {
    state.stop = true;
    return;
  }
  const trace = state.trace;
  const button = document.getElementById("load-all");
  state.loading = true;
  state.stop = false;
  button.textContent = "Stop";
  const started = performance.now();
  try {
    while (isNum(trace.next_offset) && trace.next_offset > 0 && !state.stop) {
      const page = await callTool("get_trace", { trace_id: trace.id, offset: trace.next_offset, io_chars: 0 });
      const spans = Array.isArray(page.spans) ? page.spans : [];
      if (!spans.length) break;
      state.rows.push(...spans);
      trace.next_offset = page.next_offset;
      button.previousSibling.textContent = `Loading: ${int(state.rows.length)} of ${int(trace.span_count)} spans… `;
    }
  } catch (err) {
    showProblem(err);
  }
  state.loading = false;
  const t = performance.now();
  index();
  draw();
  document.body.dataset.renderMs = String(Math.round(performance.now() - t));
  document.body.dataset.loadMs = String(Math.round(performance.now() - started));
}

function drawRows() {
  const view = state.view;
  if (!view) return;
  const first = Math.max(0, Math.floor(view.scrollTop / ROW_PX) - 4);
  const last = Math.min(state.visible.length, first + Math.ceil((view.clientHeight || ROW_PX * MAX_ROWS_SHOWN) / ROW_PX) + 8);
  const span = state.t1 - state.t0;
  const rows = [];
  for (let v = first; v < last; v++) rows.push(rowEl(v, span));
  state.spacer.replaceChildren(...rows);
  const active = state.visible[state.active];
  if (active !== undefined) view.setAttribute("aria-activedescendant", `span-${active}`);
}

function rowEl(v, span) {
  const i = state.visible[v];
  const row = state.rows[i];
  const bad = isError(row);
  const el = h("div", {
    class: `wf-row${bad ? " err" : ""}${v === state.active ? " active" : ""}`, role: "row", id: `span-${i}`,
    "aria-level": String(row._depth + 1), "aria-selected": String(state.selected === i), "data-span": "",
    "aria-expanded": row._kids ? String(!state.collapsed.has(i)) : null,
    onclick: (e) => {
      state.active = v;
      if (row._kids && e.target.classList.contains("toggle")) toggle(i);
      else select(i);
    },
  });
  el.style.top = `${v * ROW_PX}px`;
  const name = h("span", { class: "name", role: "gridcell", title: str(row.name) },
    h("span", { class: "toggle", "aria-hidden": "true" }, row._kids ? (state.collapsed.has(i) ? "▸" : "▾") : ""),
    bad ? "⚠ " : "", str(row.name) || "(unnamed)");
  name.style.paddingLeft = `${Math.min(row._depth, 16) * 12}px`;
  const track = h("span", { class: "track", role: "gridcell" });
  const bar = h("span", { class: "bar", "data-bar": "" });
  if (row._start === null) {
    bar.classList.add("untimed");
    bar.title = "no start time recorded";
  } else {
    bar.style.left = `${((row._start - state.t0) / span) * 100}%`;
    bar.style.width = `${((row._dur || 0) / span) * 100}%`;
  }
  track.append(bar);
  el.append(name,
    h("span", { role: "gridcell", class: "muted", title: str(row.model) }, str(row.model)),
    h("span", { role: "gridcell", class: "num" }, ms(row._dur)),
    h("span", { role: "gridcell", class: "num" }, tokens(row.input_tokens, row.output_tokens)),
    h("span", { role: "gridcell", class: "num" }, usd(row.cost_usd)),
    track);
  return el;
}

function toggle(i) {
  if (state.collapsed.has(i)) state.collapsed.delete(i);
  else state.collapsed.add(i);
  const keep = state.visible[state.active];
  layout();
  state.active = Math.max(0, state.visible.indexOf(keep));
  state.spacer.style.height = `${state.visible.length * ROW_PX}px`;
  state.view.setAttribute("aria-rowcount", String(state.visible.length));
  drawRows();
}

function select(i) {
  state.selected = i;
  const details = document.getElementById("details");
  details.replaceChildren();
  append(details, detailsOf(state.rows[i]));
  drawRows();
}

function onKey(e) {
  const count = state.visible.length;
  if (!count) return;
  const i = state.visible[state.active];
  const row = state.rows[i];
  const page = Math.max(1, Math.floor(state.view.clientHeight / ROW_PX) - 1);
  let next = state.active;
  switch (e.key) {
    case "ArrowDown": next++; break;
    case "ArrowUp": next--; break;
    case "PageDown": next += page; break;
    case "PageUp": next -= page; break;
    case "Home": next = 0; break;
    case "End": next = count - 1; break;
    case "ArrowRight":
      if (row._kids && state.collapsed.has(i)) toggle(i);
      else if (row._kids) next++;
      break;
    case "ArrowLeft":
      if (row._kids && !state.collapsed.has(i)) toggle(i);
      else if (row._parent >= 0) next = state.visible.indexOf(row._parent);
      break;
    case "Enter":
    case " ":
      select(i);
      break;
    default:
      return;
  }
  e.preventDefault();
  state.active = Math.max(0, Math.min(count - 1, next));
  const top = state.active * ROW_PX;
  if (top < state.view.scrollTop) state.view.scrollTop = top;
  else if (top + ROW_PX > state.view.scrollTop + state.view.clientHeight) {
    state.view.scrollTop = top + ROW_PX - state.view.clientHeight;
  }
  drawRows();
}

function detailsOf(row) {
  if (!row) return [h("p", { class: "muted" }, "Select a span to see its input and output.")];
  const bad = isError(row);
  const facts = [
    ["Span", row.id], ["Parent", row.parent_id], ["Type", row.type], ["Status", row.status], ["Model", row.model],
    ["Started", row.start_time ? when(row.start_time) : null], ["Duration", row._dur !== null ? ms(row._dur) : null],
    ["Tokens in → out", isNum(row.input_tokens) || isNum(row.output_tokens) ? tokens(row.input_tokens, row.output_tokens) : null],
    ["Cost", isNum(row.cost_usd) ? usd(row.cost_usd) : null],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  return [
    h("h2", {}, bad ? "⚠ " : "", str(row.name) || "(unnamed)"),
    bad && row.error ? h("p", { class: "problem" }, str(row.error)) : null,
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { class: k === "Span" || k === "Parent" ? "mono" : "" }, str(v))])),
    io(row, "input"),
    io(row, "output"),
  ];
}

function io(row, field) {
  const label = field === "input" ? "Input" : "Output";
  const text = row[field];
  const box = h("div", { class: `io-${field}` }, h("h3", {}, label));
  if (typeof text === "string" && text) box.append(h("pre", {}, text));
  else box.append(h("p", { class: "muted" }, canCallTools() ? `No ${field} in this result.` : NO_IO));
  if (canCallTools() && (row.truncated || !text)) {
    const button = h("button", {
      onclick: async () => {
        button.disabled = true;
        try {
          const page = await callTool("get_trace", { trace_id: state.trace.id, span_id: row.id, field });
          const content = page.page && typeof page.page.content === "string" ? page.page.content : "";
          box.replaceChildren(h("h3", {}, label), content ? h("pre", {}, content) : h("p", { class: "muted" }, NO_IO));
          if (page.page && isNum(page.page.next_offset)) {
            box.append(h("p", { class: "muted" }, `First ${int(content.length)} of ${int(page.page.total_chars)} characters.`));
          }
        } catch (err) {
          box.append(h("p", { class: "problem" }, err.message));
          button.disabled = false;
        }
      },
    }, `Show the whole ${field}`);
    box.append(button);
  }
  return box;
}
