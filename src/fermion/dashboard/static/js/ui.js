// Small building blocks for the pages: elements, formatting, sortable paged tables,
// live line charts (uPlot, shipped with the package), a heat map.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const link = (href, text) => h("a", { href }, text);

export function when(iso) {
  if (!iso) return "-";
  return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}

export function number(value, digits = 4) {
  if (value === undefined || value === null || Number.isNaN(value)) return "-";
  if (Number.isInteger(value)) return value.toLocaleString();
  return Number(value).toFixed(digits);
}

export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

const TONES = {
  succeeded: "ok", ready: "ok", running: "run", starting: "run", queued: "warn", loading: "run",
  updating: "warn", scaling: "warn", degraded: "warn", restarting: "warn", stopping: "warn",
  failed: "bad", unavailable: "bad", cancelled: "", stopped: "", complete: "ok", pruned: "",
};

export function badge(state) {
  return h("span", { class: `badge ${TONES[state] ?? ""}`, dataset: { state } }, state);
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "-")]));
}

export function panel(title, ...children) {
  return h("section", { class: "panel" }, title ? h("h2", {}, title) : null, ...children);
}

export function message(text, kind = "muted") {
  return h("p", { class: kind }, text);
}

// A table whose headers sort it and which shows `pageSize` rows at a time.
// columns: [{ key, label, value(row) -> sortable, render(row) -> node, num }]
export function dataTable(columns, rows, { pageSize = 20, empty = "Nothing here yet.", id } = {}) {
  let sortBy = null;
  let ascending = true;
  let page = 0;
  const wrap = h("div", { class: "table-wrap", id });
  const draw = () => {
    const valueOf = (c, r) => (c.value ? c.value(r) : r[c.key]);
    let shown = [...rows];
    if (sortBy) {
      shown.sort((a, b) => {
        const x = valueOf(sortBy, a); const y = valueOf(sortBy, b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
    }
    const pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(page, pages - 1);
    shown = shown.slice(page * pageSize, (page + 1) * pageSize);
    const head = h("tr", {}, columns.map((c) => h("th", {
      class: `sortable ${c.num ? "num" : ""}`, scope: "col",
      "aria-sort": sortBy === c ? (ascending ? "ascending" : "descending") : "none",
      onclick: () => { ascending = sortBy === c ? !ascending : true; sortBy = c; draw(); },
    }, c.label)));
    const body = shown.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "" },
      c.render ? c.render(r) : String(valueOf(c, r) ?? "-")))));
    const table = h("table", {}, h("thead", {}, head), h("tbody", {}, body));
    const pager = rows.length > pageSize ? h("div", { class: "pager" },
      h("button", { class: "secondary", disabled: page === 0, onclick: () => { page -= 1; draw(); } }, "Previous"),
      h("span", { class: "muted" }, `page ${page + 1} of ${pages} (${rows.length} rows)`),
      h("button", { class: "secondary", disabled: page >= pages - 1, onclick: () => { page += 1; draw(); } }, "Next"),
    ) : null;
    wrap.replaceChildren(rows.length ? table : message(empty), pager ?? "");
  };
  draw();
  return wrap;
}

const PALETTE = ["#3b5bdb", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0b7285"];

// A line chart that can be fed new points. series: [label, ...]; data: [xs, ys1, ys2...]
export function lineChart(title, labels, { xLabel = "step", id, time = false } = {}) {
  const box = h("div", { class: "chart", id, dataset: { points: "0" } });
  let chart = null;
  const options = (width) => ({
    title, width, height: 220, scales: { x: { time } },
    axes: [{ label: xLabel }, {}],
    series: [{}, ...labels.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))],
    legend: { live: false },
  });
  const resize = new ResizeObserver(() => { if (chart) chart.setSize({ width: box.clientWidth, height: 220 }); });
  resize.observe(box);
  return {
    node: box,
    update(data) {
      const points = data[0].length;
      box.dataset.points = String(points);
      if (!chart) {
        if (!points) { box.replaceChildren(message(`${title}: no points yet`)); return; }
        box.replaceChildren();
        chart = new uPlot(options(box.clientWidth || 600), data, box);
      } else {
        chart.setData(data);
      }
    },
  };
}

// Series from the metrics API, aligned on their steps for one chart.
export function align(series, names) {
  const steps = [...new Set(names.flatMap((n) => (series[n] || []).map((p) => p.step ?? 0)))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const columns = names.map((n) => {
    const column = new Array(steps.length).fill(null);
    for (const p of series[n] || []) column[index.get(p.step ?? 0)] = p.value;
    return column;
  });
  return [steps, ...columns];
}

// A confusion matrix as a heat map: rows are true classes, columns predictions.
export function heatmap(matrix, labels) {
  const peak = Math.max(1, ...matrix.flat());
  const cell = (n, diagonal) => {
    const strength = n / peak;
    const color = diagonal ? `rgba(43, 138, 62, ${strength})` : `rgba(201, 42, 42, ${strength})`;
    return h("td", { style: `background:${n ? color : "transparent"};color:${strength > 0.55 ? "#fff" : "inherit"}`, title: `${n}` }, n);
  };
  return h("div", { class: "table-wrap" }, h("table", { class: "heatmap", id: "confusion-matrix" },
    h("thead", {}, h("tr", {}, h("th", {}, "true \\ predicted"), labels.map((l) => h("th", {}, l)))),
    h("tbody", {}, matrix.map((row, i) => h("tr", {}, h("th", {}, labels[i]), row.map((n, j) => cell(n, i === j)))))));
}

export function meter(label, used, total, show) {
  const share = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return h("div", {}, h("div", {}, `${label}: ${show(used)} of ${show(total)} in use`),
    h("div", { class: "meter", role: "meter", "aria-valuenow": used, "aria-valuemax": total, "aria-label": label },
      h("span", { style: `width:${share}%` })));
}
