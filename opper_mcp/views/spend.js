// Spend: get_usage's cost per time bucket, stacked by group (model, name or tags), the top groups and the total.
// The chart is an inline SVG; the same numbers are in the table beside it.
const MAX_GROUPS = 7;
const OTHER = "other";

startView((data) => {
  const rows = (Array.isArray(data.rows) ? data.rows : []).filter((r) => r && typeof r === "object");
  const byGroup = new Map();
  for (const r of rows) {
    const g = str(r.group) || "(all)";
    byGroup.set(g, (byGroup.get(g) || 0) + (isNum(r.cost_usd) ? r.cost_usd : 0));
  }
  const ranked = [...byGroup.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  const named = ranked.slice(0, ranked.length > MAX_GROUPS ? MAX_GROUPS - 1 : MAX_GROUPS);
  const groups = ranked.length > named.length ? [...named, OTHER] : named;
  const color = new Map(groups.map((g, i) => [g, g === OTHER ? "var(--fg2)" : PALETTE[i % PALETTE.length]]));
  const buckets = new Map();
  for (const r of rows) {
    const key = str(r.time_bucket) || "(no time)";
    const g = named.includes(str(r.group) || "(all)") ? str(r.group) || "(all)" : OTHER;
    const bucket = buckets.get(key) || new Map();
    bucket.set(g, (bucket.get(g) || 0) + (isNum(r.cost_usd) ? r.cost_usd : 0));
    buckets.set(key, bucket);
  }
  const times = [...buckets.keys()].sort();
  const total = isNum(data.total_cost_usd) ? data.total_cost_usd : [...byGroup.values()].reduce((a, b) => a + b, 0);
  const top = Array.isArray(data.top) ? data.top.filter((t) => t && typeof t === "object") : [];
  mount(
    h("h1", {}, "Spend"),
    h("p", {}, str(data.summary)),
    stats([
      ["Total", usd(total)],
      ["Calls", int(data.total_calls)],
      ["From", str(data.from_date) || "—"],
      ["To", str(data.to_date) || "—"],
      ["Groups", int(byGroup.size)],
    ]),
    data.hint ? h("p", { class: "note" }, str(data.hint)) : null,
    h("div", { class: "split" },
      h("section", { class: "chart" }, h("h2", {}, "Cost per bucket"), chart(times, buckets, groups, color),
        h("ul", { class: "legend", "aria-label": "Groups" }, groups.map((g) => h("li", {}, swatch(color.get(g)), g)))),
      h("section", { class: "scroll", tabindex: "0", "aria-label": "Cost per bucket and group, as a table" },
        table("Cost per bucket", [
          { label: "Bucket", value: (t) => h("time", { datetime: t }, shortTime(t)) },
          ...groups.map((g) => ({ label: g, value: (t) => usd(buckets.get(t).get(g) || 0), num: true })),
          { label: "Total", value: (t) => usd([...buckets.get(t).values()].reduce((a, b) => a + b, 0)), num: true },
        ], times, { class: "buckets" }))),
    top.length ? table("Top groups", [
      { label: "Group", value: (t) => [swatch(color.get(str(t.group)) || color.get(OTHER) || "var(--fg2)"), str(t.group)] },
      { label: "Cost", value: (t) => usd(t.cost_usd), num: true },
      { label: "Calls", value: (t) => int(t.calls), num: true },
      { label: "Share", value: (t) => [meter(total ? t.cost_usd / total : 0, null, "share of total"), " ",
        total && isNum(t.cost_usd) ? `${((t.cost_usd / total) * 100).toFixed(1)}%` : "—"] },
    ], top, { class: "top" }) : null,
  );
});

function chart(times, buckets, groups, color) {
  const W = 560;
  const H = 220;
  const pad = { l: 56, r: 8, t: 8, b: 34 };
  const stackMax = Math.max(0, ...times.map((t) => [...buckets.get(t).values()].reduce((a, b) => a + b, 0)));
  const yMax = niceMax(stackMax);
  const innerW = W - pad.l - pad.r;
  const innerH = H - pad.t - pad.b;
  const slot = innerW / Math.max(1, times.length);
  const barW = Math.max(1, Math.min(48, slot * 0.7));
  const y = (v) => pad.t + innerH - (yMax ? (v / yMax) * innerH : 0);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Stacked cost per bucket for ${times.length} buckets and ${groups.length} groups; the table beside it has the numbers` });
  for (const f of [0, 0.5, 1]) {
    const v = yMax * f;
    svg.append(s("line", { class: "grid", x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }),
      s("text", { x: pad.l - 6, y: y(v) + 3, "text-anchor": "end" }, usd(v)));
  }
  const every = Math.max(1, Math.ceil(times.length / 8));
  times.forEach((t, i) => {
    const x = pad.l + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const g of groups) {
      const v = buckets.get(t).get(g) || 0;
      if (v <= 0) continue;
      const rect = s("rect", { x, y: y(base + v), width: barW, height: Math.max(0.5, y(base) - y(base + v)), "data-group": g },
        s("title", {}, `${t} · ${g}: ${usd(v)}`));
      rect.style.fill = color.get(g);
      svg.append(rect);
      base += v;
    }
    if (i % every === 0) {
      svg.append(s("text", { x: x + barW / 2, y: H - pad.b + 14, "text-anchor": "middle" }, shortTime(t)));
    }
  });
  return svg;
}

function niceMax(v) {
  if (!(v > 0)) return 0;
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= v);
}

function shortTime(t) {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d))?/.exec(t);
  if (!m) return t.slice(0, 10);
  return m[4] && m[4] + m[5] !== "0000" ? `${m[2]}-${m[3]} ${m[4]}:${m[5]}` : `${m[2]}-${m[3]}`;
}
