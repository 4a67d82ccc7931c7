import { api } from "../api.js";
import { align, badge, dataTable, facts, h, lineChart, link, panel, when } from "../ui.js";

const modelLink = (ref) => (ref ? link(`#/models/${ref.split(":")[0]}`, ref) : "-");

export async function federationList(view, scope) {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Federations"), body);
  scope.every(3000, async () => {
    const found = await api("/api/v1/federations");
    body.replaceChildren(dataTable([
      { key: "name", label: "name", render: (f) => link(`#/federations/${f.name}`, f.name) },
      { key: "status", label: "status", render: (f) => badge(f.status) },
      { key: "sites", label: "sites", value: (f) => f.sites.map((s) => s.site).join(", ") },
      { key: "rounds", label: "rounds", num: true },
      { key: "strategy", label: "strategy" },
      { key: "model", label: "model", render: (f) => modelLink(f.model) },
      { key: "created_at", label: "created", render: (f) => when(f.created_at) },
    ], found.data, { empty: "No federations: fermion federate --sites a=DATASET_A,b=DATASET_B", id: "federations-table" }));
  });
}

export async function federationDetail(view, scope, name) {
  const summary = h("div");
  const sites = h("div");
  const accuracy = lineChart("Global model, validation accuracy", ["accuracy"], { xLabel: "round", id: "rounds-accuracy-chart" });
  const loss = lineChart("Sites' training loss", ["loss"], { xLabel: "round", id: "rounds-loss-chart" });
  view.replaceChildren(h("h1", {}, `Federation ${name}`), summary,
    h("div", { class: "grid" }, panel("Accuracy by round", accuracy.node), panel("Loss by round", loss.node)),
    panel("Sites", sites));
  scope.every(2000, async () => {
    const f = await api(`/api/v1/federations/${name}`);
    const job = f.coordinator_job_id;
    summary.replaceChildren(panel("Federation", facts([
      ["status", badge(f.status)],
      ["rounds", `${f.rounds} of ${f.strategy}${f.strategy === "fedprox" ? ` (mu ${f.options.proximal_mu})` : ""}, ${f.options.local_epochs} local epoch(s) each`],
      ["network", f.model_type],
      ["privacy", f.privacy ? `updates clipped to ${f.privacy.clipping_norm}, noise multiplier ${f.privacy.noise_multiplier}` : "none"],
      ["coordinator", job ? link(`#/jobs/${job}`, `job ${job}`) : "-"],
      ["model", f.model ? modelLink(f.model) : "registered at the end"],
      ...(f.reason ? [["reason", f.reason]] : [])])));
    sites.replaceChildren(dataTable([
      { key: "site", label: "site" },
      { key: "dataset", label: "dataset (read by this site only)", render: (s) => link(`#/datasets/${s.dataset.split(":")[0]}`, s.dataset) },
      { key: "job_id", label: "job", num: true, render: (s) => (s.job_id ? link(`#/jobs/${s.job_id}`, s.job_id) : "-") },
      { key: "status", label: "job status", render: (s) => badge(s.status ?? "deleted") },
    ], f.sites, { id: "sites-table" }));
    if (job) {
      const metrics = await api(`/api/v1/jobs/${job}/metrics`);
      accuracy.update(align(metrics.series, ["val/accuracy"]));
      loss.update(align(metrics.series, ["train/loss"]));
    }
  });
}
