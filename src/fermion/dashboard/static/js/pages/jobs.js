import { api, inWorkspace, stream } from "../api.js";
import { align, badge, dataTable, facts, h, lineChart, link, message, panel, when } from "../ui.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const LOG_LINES = 500;

export async function jobList(view, scope) {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Jobs"), body);
  scope.every(3000, async () => {
    const found = await api("/api/v1/jobs");
    body.replaceChildren(dataTable([
      { key: "id", label: "job", num: true, render: (j) => link(`#/jobs/${j.id}`, j.id) },
      { key: "name", label: "name" },
      { key: "kind", label: "kind" },
      { key: "status", label: "status", render: (j) => badge(j.status) },
      { key: "queue_position", label: "queue", num: true, render: (j) => j.queue_position ?? "-" },
      { key: "waiting_for", label: "waiting for", render: (j) => j.waiting_for ?? "" },
      { key: "nproc", label: "nproc", num: true },
      { key: "cpu", label: "cpu", num: true },
      { key: "gpu", label: "gpu", num: true },
      { key: "memory", label: "memory" },
      { key: "attempt", label: "attempt", num: true },
      { key: "created_at", label: "created", render: (j) => when(j.created_at) },
    ], found.data, { empty: "No jobs yet: fermion job run -- COMMAND, or fermion train --dataset D", id: "jobs-table" }));
  });
}

// Which metrics go on which chart; anything else a job logs gets a chart of its own.
const CHARTS = [
  ["Training loss", (n) => n === "train/loss" || n === "train/epoch_loss", "loss-chart"],
  ["Validation", (n) => n.startsWith("val/"), "validation-chart"],
  ["Learning rate", (n) => n === "lr", "lr-chart"],
  ["Samples/s", (n) => n === "samples_per_s", "throughput-chart"],
];
const HIDDEN = (n) => n.startsWith("progress/") || n.startsWith("test/");

export async function jobDetail(view, scope, id) {
  const summary = h("div");
  const actions = h("div", { class: "actions" });
  const charts = h("div", { class: "grid", id: "charts" });
  const noMetrics = message("No metrics yet: fm.log() in a job, or the built-in trainer, reports them.");
  const config = h("div");
  const log = h("pre", { class: "log", id: "log" });
  view.replaceChildren(h("h1", {}, `Job ${id}`), actions, summary,
    panel("Metrics", noMetrics, charts), panel("Log (following)", log), panel("Configuration", config));

  let job = await api(`/api/v1/jobs/${id}`);
  const spec = await api(`/api/v1/jobs/${id}/config`);
  config.replaceChildren(
    facts([["command", h("code", {}, job.command.join(" "))], ["job folder", h("code", {}, spec.job_dir)],
      ["TensorBoard", h("span", {}, h("code", {}, `tensorboard --logdir ${spec.tensorboard_dir}`), " or ",
        h("a", { href: inWorkspace(`/api/v1/jobs/${id}/tensorboard`), id: "tensorboard-download", download: "" }, "download the event files (.tar.gz)"))]]),
    ...Object.entries(spec.files).map(([name, content]) => h("div", {}, h("h2", {}, name),
      h("pre", { class: "log", id: `config-${name.replace(/\W/g, "-")}` }, JSON.stringify(content, null, 2)))));

  let settled = false;  // the job has ended and its last metrics are drawn
  const drawn = new Map();  // chart title -> chart
  const draw = (metrics) => {
    const names = Object.keys(metrics.series).filter((n) => !HIDDEN(n));
    const groups = CHARTS.map(([title, wanted, chartId]) => [title, names.filter(wanted), chartId]);
    const grouped = new Set(groups.flatMap(([, members]) => members));
    for (const n of names) if (!grouped.has(n)) groups.push([n, [n], `chart-${n.replace(/\W/g, "-")}`]);
    for (const [title, members, chartId] of groups) {
      if (!members.length) continue;
      if (!drawn.has(title)) {
        const chart = lineChart(title, members, { id: chartId });
        drawn.set(title, { chart, members });
        charts.append(h("div", { class: "panel" }, chart.node));
      }
      const entry = drawn.get(title);
      entry.members = [...new Set([...entry.members, ...members])];
      entry.chart.update(align(metrics.series, entry.members));
    }
    noMetrics.hidden = drawn.size > 0;
  };
  const render = () => {
    summary.replaceChildren(h("div", { class: "grid" }, panel("Status", facts([
      ["name", job.name], ["kind", job.kind], ["status", badge(job.status)],
      ["queue position", job.queue_position ?? "-"],
      ...(job.waiting_for ? [["waiting for", h("span", { id: "waiting-for" }, job.waiting_for)]] : []),
      ["attempt", `${job.attempt} (retries allowed: ${job.max_retries})`],
      ["started", when(job.started_at)], ["finished", when(job.finished_at)],
      ["reason", job.failure_reason ?? "-"]])),
    panel(job.nodes > 1 ? `Resources (on each of ${job.nodes} nodes)` : "Resources",
      facts([["processes", job.nproc], ["cpu", job.cpu], ["gpu", job.gpu],
      ["memory", job.memory], ["GPUs", job.gpu_ids.join(", ") || "-"]]))));
    actions.replaceChildren(...[
      TERMINAL.has(job.status) ? null : h("button", { class: "danger", id: "cancel-job", onclick: async (e) => {
        e.target.disabled = true;
        job = await api(`/api/v1/jobs/${id}/cancel`, { method: "POST" });
        render();
      } }, "Cancel"),
      ["failed", "cancelled"].includes(job.status) ? h("button", { id: "retry-job", onclick: async () => {
        job = await api(`/api/v1/jobs/${id}/retry`, { method: "POST" });
        settled = false;
        render();
        followLog();
      } }, "Retry") : null].filter(Boolean));
  };
  render();

  let lines = [];
  const followLog = () => {
    lines = [];
    stream(`/api/v1/jobs/${id}/logs?follow=true`, (text) => {
      lines = lines.concat(text.split(/(?<=\n)/));
      if (lines.length > LOG_LINES) lines = lines.slice(-LOG_LINES);
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
      log.textContent = lines.join("");
      if (atBottom) log.scrollTop = log.scrollHeight;
    }, scope.signal).catch(() => {});
  };
  followLog();

  scope.every(2000, async () => {
    if (settled) return;
    const [fresh, metrics] = await Promise.all([api(`/api/v1/jobs/${id}`), api(`/api/v1/jobs/${id}/metrics`)]);
    const changed = fresh.status !== job.status || fresh.attempt !== job.attempt;
    job = fresh;
    if (changed) render();
    draw(metrics);
    settled = TERMINAL.has(job.status);  // one last pass after it ended, then stop polling
  });
}
