import { api } from "../api.js";
import { badge, bytes, dataTable, h, link, meter, panel, when } from "../ui.js";

export async function overview(view, scope) {
  const capacity = h("div", { id: "capacity" });
  const jobs = h("div", { id: "active-jobs" });
  const deployments = h("div", { id: "deployment-health" });
  view.replaceChildren(h("h1", {}, "Overview"), h("div", { class: "grid" },
    panel("Capacity in use", capacity), panel("Deployments", deployments)),
  panel("Running and queued jobs", jobs));
  scope.every(3000, async () => {
    const [cap, active, queued, deployed] = await Promise.all([
      api("/api/v1/capacity"), api("/api/v1/jobs?status=running"), api("/api/v1/jobs?status=queued"),
      api("/api/v1/deployments"),
    ]);
    capacity.replaceChildren(
      meter("CPU", cap.used.cpu, cap.total.cpu, (n) => `${Number(n).toFixed(1)} cores`),
      meter("GPU", cap.used.gpu, cap.total.gpu, (n) => `${n}`),
      meter("Memory", cap.used.memory_bytes, cap.total.memory_bytes, bytes),
      h("p", { class: "muted" }, `executor: ${cap.executor}`));
    const rows = [...active.data, ...queued.data.sort((a, b) => a.queue_position - b.queue_position)];
    jobs.replaceChildren(dataTable([
      { key: "id", label: "job", num: true, render: (j) => link(`#/jobs/${j.id}`, j.id) },
      { key: "name", label: "name" },
      { key: "kind", label: "kind" },
      { key: "status", label: "status", render: (j) => badge(j.status) },
      { key: "queue_position", label: "queue", num: true, render: (j) => j.queue_position ?? "-" },
      { key: "cpu", label: "cpu", num: true },
      { key: "memory", label: "memory" },
      { key: "started_at", label: "started", render: (j) => when(j.started_at) },
    ], rows, { empty: "No job is running or waiting." }));
    deployments.replaceChildren(dataTable([
      { key: "name", label: "deployment", render: (d) => link(`#/deployments/${d.name}`, d.name) },
      { key: "model", label: "model" },
      { key: "status", label: "health", render: (d) => badge(d.status) },
      { key: "ready_replicas", label: "ready", num: true, render: (d) => `${d.ready_replicas}/${d.replicas}` },
    ], deployed.data, { empty: "No deployments." }));
  });
}
