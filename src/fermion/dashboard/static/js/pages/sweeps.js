import { signedBars } from "../explain.js";
import { api } from "../api.js";
import { badge, dataTable, facts, h, lineChart, link, message, number, panel, when } from "../ui.js";

const short = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(3) : String(v));

export async function sweepList(view, scope) {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Sweeps"), body);
  scope.every(3000, async () => {
    const found = await api("/api/v1/sweeps");
    body.replaceChildren(dataTable([
      { key: "name", label: "name", render: (s) => link(`#/sweeps/${s.name}`, s.name) },
      { key: "status", label: "status", render: (s) => badge(s.status) },
      { key: "dataset", label: "trains", value: (s) => s.dataset ?? s.command.join(" ") },
      { key: "trials", label: "trials", num: true, value: (s) => s.trials.length, render: (s) => `${s.trials.length}/${s.trials_wanted}` },
      { key: "pruned", label: "pruned", num: true, value: (s) => s.trials.filter((t) => t.state === "pruned").length },
      { key: "best_value", label: "best", num: true, render: (s) => number(s.best_value) },
      { key: "model", label: "model", render: (s) => (s.model ? link(`#/models/${s.model.split(":")[0]}`, s.model) : "-") },
      { key: "created_at", label: "created", render: (s) => when(s.created_at) },
    ], found.data, { empty: "No sweeps: fermion sweep --dataset NAME --param lr=loguniform:1e-4:1e-1", id: "sweeps-table" }));
  });
}

export async function sweepDetail(view, scope, name) {
  const summary = h("div");
  const trials = h("div");
  const importance = h("div");
  const history = lineChart("Optimisation history", ["trial's value", "best so far"], { xLabel: "trial", id: "history-chart" });
  view.replaceChildren(h("h1", {}, `Sweep ${name}`), summary,
    h("div", { class: "grid" }, panel("Optimisation history", history.node), panel("Parameter importance", importance)),
    panel("Trials", trials));
  scope.every(2000, async () => {
    const s = await api(`/api/v1/sweeps/${name}`);
    const best = s.best_trial !== null ? s.trials[s.best_trial] : null;
    summary.replaceChildren(panel("Sweep", facts([
      ["status", badge(s.status)], s.dataset ? ["dataset", link(`#/datasets/${s.dataset.split(":")[0]}`, s.dataset)] : ["command", h("code", {}, s.command.join(" "))],
      ["search", s.params.map((p) => `${p.name} ${p.kind === "choice" ? `in {${p.choices.join(", ")}}` : `${p.kind} ${p.low}..${p.high}`}`).join("; ")],
      ["metric", `${s.metric} (${s.direction})`],
      ["trials", `${s.trials.length} of ${s.trials_wanted}, ${s.parallel} at a time; ${s.trials.filter((t) => t.state === "pruned").length} pruned (${s.pruner})`],
      ["best", best ? `trial ${best.number}: ${number(best.value)} with ${Object.entries(best.params).map(([k, v]) => `${k}=${short(v)}`).join(", ")}` : "-"],
      ["model", s.model ? link(`#/models/${s.model.split(":")[0]}`, s.model) : "-"],
      ...(s.reason ? [["reason", s.reason]] : [])])));
    const done = s.trials.filter((t) => t.value !== null);
    const better = s.direction === "maximize" ? Math.max : Math.min;
    let running = null;
    const bestSoFar = done.map((t) => (running = running === null ? t.value : better(running, t.value)));
    history.update([done.map((t) => t.number), done.map((t) => t.value), bestSoFar]);
    importance.replaceChildren(s.importance
      ? h("div", { id: "param-importance" }, signedBars(Object.entries(s.importance).map(([name, share]) => ({ name, share })), (r) => r.share, (r) => r.name))
      : message(s.status === "running" ? "Measured when the sweep ends." : "Too few trials reached a value."));
    trials.replaceChildren(dataTable([
      { key: "number", label: "trial", num: true },
      { key: "job_id", label: "job", num: true, render: (t) => (t.job_id ? link(`#/jobs/${t.job_id}`, t.job_id) : "-") },
      { key: "state", label: "state", render: (t) => badge(t.state) },
      ...s.params.map((p) => ({ key: p.name, label: p.name, value: (t) => t.params[p.name], render: (t) => short(t.params[p.name]) })),
      { key: "value", label: s.metric, num: true, render: (t) => number(t.value) },
      { key: "epochs", label: "epochs", num: true, value: (t) => t.intermediate.length },
    ], s.trials, { id: "trials-table", pageSize: 50, empty: "No trial has started yet." }));
  });
}
