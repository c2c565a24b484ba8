// Side by side: one column per model (roundtable's answers, or review's reviewers), and for a review the merged
// findings as a table filterable by severity and by model. Answers are model output: shown as text only.
const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const review = { data: null, severities: new Set(SEVERITIES), model: "", open: new Set() };

startView((data) => {
  if (Array.isArray(data.findings) && Array.isArray(data.models)) showReview(data);
  else if (Array.isArray(data.results)) showRoundtable(data);
  else showProblem(new Error("This result has neither model answers nor review findings."));
});

function showRoundtable(data) {
  const results = data.results.filter((r) => r && typeof r === "object");
  const ok = results.filter((r) => !r.error);
  const slowest = Math.max(1, ...results.map((r) => (isNum(r.latency_ms) ? r.latency_ms : 0)));
  const dearest = Math.max(0, ...results.map((r) => (isNum(r.cost_usd) ? r.cost_usd : 0)));
  mount(
    h("h1", {}, "Roundtable", badge(str(data.mode) || "summary")),
    stats([
      ["Answered", `${ok.length} of ${results.length}`, ok.length < results.length ? "bad" : ""],
      ["Total cost", usd(data.total_cost_usd)],
      ["Duration", ms(data.duration_ms)],
      data.trace_id ? ["Trace", h("span", { class: "mono" }, str(data.trace_id))] : null,
    ]),
    data.note ? h("p", { class: "note" }, str(data.note)) : null,
    data.answer ? [h("h2", {}, data.mode === "multiple_choice" ? "Winning choice" : "Summary"),
      h("div", { class: "summary" }, str(data.answer))] : null,
    data.votes && typeof data.votes === "object" ? votes(data.votes) : null,
    h("h2", {}, "Answers"),
    h("div", { class: "columns", role: "list", "aria-label": "One column per model" }, results.map((r) =>
      h("article", { class: `col${r.error ? " failed" : ""}`, role: "listitem", "data-model": str(r.model) },
        h("h3", {}, str(r.model) || "(model)", " ", badge(r.error ? "failed" : "ok", r.error ? "failed" : "ok")),
        h("p", { class: "figures" }, `${ms(r.latency_ms)} · ${usd(r.cost_usd)} · ${tokens(r.input_tokens, r.output_tokens)} tokens`),
        r.error ? h("p", { class: "problem" }, str(r.error)) : null,
        h("div", { class: "answer", tabindex: "0", "aria-label": `${str(r.model)}'s answer` },
          r.answer === undefined || r.answer === null ? h("span", { class: "muted" }, "No answer.") : str(r.answer))))),
    h("div", { class: "split" },
      h("section", { class: "chart", "aria-hidden": "true" }, h("h2", {}, "Latency"),
        results.map((r) => h("p", {}, h("span", { class: "mono" }, str(r.model)), h("br"),
          meter(isNum(r.latency_ms) ? r.latency_ms / slowest : 0, r.error ? "var(--danger)" : null), " ", ms(r.latency_ms), " · ",
          meter(dearest && isNum(r.cost_usd) ? r.cost_usd / dearest : 0, PALETTE[1]), " ", usd(r.cost_usd)))),
      table("Each model", [
        { label: "Model", value: (r) => str(r.model) },
        { label: "Status", value: (r) => badge(r.error ? "failed" : "ok", r.error ? "failed" : "ok") },
        { label: "Latency", value: (r) => ms(r.latency_ms), num: true },
        { label: "Cost", value: (r) => usd(r.cost_usd), num: true },
        { label: "Tokens in → out", value: (r) => tokens(r.input_tokens, r.output_tokens), num: true },
      ], results, { class: "models" })),
  );
}

function votes(tally) {
  const entries = Object.entries(tally).filter(([, n]) => isNum(n));
  const most = Math.max(1, ...entries.map(([, n]) => n));
  return h("div", { class: "split" },
    h("section", { class: "chart", "aria-hidden": "true" }, h("h2", {}, "Votes"),
      entries.map(([choice, n]) => h("p", {}, meter(n / most), " ", String(n), " ", choice))),
    table("Votes per choice", [
      { label: "Choice", value: ([c]) => c },
      { label: "Votes", value: ([, n]) => int(n), num: true },
    ], entries));
}

function showReview(data) {
  review.data = data;
  const models = data.models.filter((m) => m && typeof m === "object");
  const findings = data.findings.filter((f) => f && typeof f === "object");
  const answered = models.filter((m) => m.status === "ok").length;
  const severityFilter = h("fieldset", {}, h("legend", {}, "Severity"), SEVERITIES.map((sev) => h("button", {
    type: "button", "aria-pressed": String(review.severities.has(sev)), "data-severity": sev,
    onclick: (e) => {
      if (review.severities.has(sev)) review.severities.delete(sev);
      else review.severities.add(sev);
      e.currentTarget.setAttribute("aria-pressed", String(review.severities.has(sev)));
      drawFindings();
    },
  }, `${sev} (${findings.filter((f) => f.severity === sev).length})`)));
  const modelFilter = h("label", {}, "Found by ", h("select", {
    id: "model-filter",
    onchange: (e) => {
      review.model = e.currentTarget.value;
      drawFindings();
    },
  }, h("option", { value: "" }, "any model"), models.map((m) => h("option", { value: str(m.model) }, str(m.model)))));
  mount(
    h("h1", {}, "Review"),
    h("p", {}, str(data.summary)),
    stats([
      ["Findings", int(findings.length)],
      ["Reviewers answered", `${answered} of ${models.length}`, answered < models.length ? "bad" : ""],
      ["Total cost", usd(data.total_cost_usd)],
      ["Duration", ms(data.duration_ms)],
    ]),
    data.note ? h("p", { class: "note" }, str(data.note)) : null,
    h("h2", {}, "Reviewers"),
    h("div", { class: "columns", role: "list", "aria-label": "One column per model" }, models.map((m) =>
      h("article", { class: `col${m.status !== "ok" ? " failed" : ""}`, role: "listitem", "data-model": str(m.model) },
        h("h3", {}, str(m.model), " ", badge(str(m.status) || "?", str(m.status))),
        h("p", { class: "figures" }, `${ms(m.latency_ms)} · ${usd(m.cost_usd)} · ${tokens(m.input_tokens, m.output_tokens)} tokens`),
        h("p", {}, `${int(m.findings)} findings located`, isNum(m.unlocated) && m.unlocated ? `, ${int(m.unlocated)} not` : ""),
        m.error ? h("p", { class: "problem" }, str(m.error)) : null))),
    h("h2", {}, "Findings"),
    h("div", { class: "filters" }, severityFilter, modelFilter, h("span", { id: "shown", class: "muted", "aria-live": "polite" })),
    h("div", { id: "findings" }),
    isNum(data.next_offset) ? h("p", { class: "note" }, `More findings: call review with review_id ${str(data.review_id)} and offset ${data.next_offset}.`) : null,
    Array.isArray(data.unlocated) && data.unlocated.length ? table("Findings that could not be placed on the code shown", [
      { label: "Model", value: (u) => str(u.model) },
      { label: "Where", value: (u) => `${str(u.file)}:${str(u.lines)}` },
      { label: "Title", value: (u) => str(u.title) },
      { label: "Why", value: (u) => str(u.reason) },
    ], data.unlocated) : null,
  );
  drawFindings();
}

function drawFindings() {
  const data = review.data;
  const all = data.findings.filter((f) => f && typeof f === "object");
  const shown = all.filter((f) => (review.severities.has(f.severity) || !SEVERITIES.includes(f.severity))
    && (!review.model || (Array.isArray(f.found_by) && f.found_by.includes(review.model))));
  const answered = Math.max(1, data.models.filter((m) => m.status === "ok").length);
  const body = h("tbody", {});
  for (const f of shown) {
    const id = str(f.id);
    const open = review.open.has(id);
    const agreed = parseInt(str(f.agreement), 10);
    body.append(h("tr", { "data-finding": id, "data-severity": str(f.severity) },
      h("td", {}, h("button", {
        type: "button", "aria-expanded": String(open), "aria-label": `Details of ${id}`,
        onclick: () => {
          if (open) review.open.delete(id);
          else review.open.add(id);
          drawFindings();
          document.querySelector(`[data-finding="${CSS.escape(id)}"] button`).focus();
        },
      }, open ? "▾" : "▸"), " ", id),
      h("td", {}, badge(str(f.severity), str(f.severity))),
      h("td", { class: "num" }, meter(Number.isNaN(agreed) ? 0 : agreed / answered, null, `agreement ${str(f.agreement)}`), " ", str(f.agreement)),
      h("td", { class: "mono" }, `${str(f.file)}:${str(f.lines)}`),
      h("td", {}, str(f.title)),
      h("td", {}, str(f.category)),
      h("td", {}, (Array.isArray(f.found_by) ? f.found_by : []).map(str).join(", "))));
    if (open) {
      const explained = f.explanations && typeof f.explanations === "object" ? Object.entries(f.explanations) : [];
      body.append(h("tr", { class: "more" }, h("td", { colspan: "7" },
        explained.map(([model, text]) => h("p", {}, h("strong", {}, model), f.severities && f.severities[model]
          ? ` (${str(f.severities[model])})` : "", ": ", str(text))),
        f.suggestion ? h("p", {}, h("strong", {}, "Suggestion: "), str(f.suggestion)) : null)));
    }
  }
  const head = ["", "Severity", "Agreement", "Location", "Title", "Category", "Found by"];
  document.getElementById("findings").replaceChildren(shown.length ? h("table", { class: "findings" },
    h("caption", { class: "muted" }, "Merged findings, most important first"),
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))), body)
    : h("p", { class: "muted" }, all.length ? "No finding matches these filters." : "No findings."));
  document.getElementById("shown").textContent = `${shown.length} of ${all.length} shown`;
}
