import { api } from "../api.js";
import { explainForm, importanceView } from "../explain.js";
import { dataTable, facts, h, heatmap, link, message, number, panel, when } from "../ui.js";

const RANKING = ["hr@10", "ndcg@10", "recall@20", "mrr"];
const EXPLAINED = ["image-classification", "text-classification", "tabular-classification", "tabular-regression"];

function headline(test) {
  if ("map_50" in (test || {})) return `mAP@0.5 ${number(test.map_50)}, mAP@0.5:0.95 ${number(test.map)}`;
  if ("hr@10" in (test || {})) {
    return ["hr@10", "ndcg@10"].map((k) => `${k} ${number(test[k])} (popularity ${number(test[`popularity_${k}`])})`).join(", ");
  }
  const keys = "accuracy" in (test || {}) ? ["accuracy", "macro_f1"] : ["rmse", "r2"];
  return keys.filter((k) => k in (test || {})).map((k) => `${k} ${number(test[k])}`).join(", ") || "-";
}

export async function modelList(view) {
  const found = await api("/api/v1/models");
  view.replaceChildren(h("h1", {}, "Models"), dataTable([
    { key: "name", label: "name", render: (m) => link(`#/models/${m.name}`, m.name) },
    { key: "type", label: "type" },
    { key: "latest", label: "latest", value: (m) => m.versions.at(-1).version, render: (m) => `v${m.versions.at(-1).version}` },
    { key: "test", label: "test", value: (m) => m.versions.at(-1).metrics.test?.accuracy ?? m.versions.at(-1).metrics.test?.map_50 ?? 0, render: (m) => headline(m.versions.at(-1).metrics.test) },
    { key: "dataset", label: "dataset", value: (m) => m.versions.at(-1).dataset },
    { key: "created_at", label: "created", value: (m) => m.versions.at(-1).created_at, render: (m) => when(m.versions.at(-1).created_at) },
  ], found.data, { empty: "No models yet: fermion train --dataset NAME makes one.", id: "models-table" }));
}

export async function modelDetail(view, scope, name) {
  const model = await api(`/api/v1/models/${name}`);
  const select = h("select", { id: "version", "aria-label": "version" },
    model.versions.map((v) => h("option", { value: v.version }, v.ref)).reverse());
  const body = h("div");
  view.replaceChildren(h("h1", {}, `Model ${name}`), h("div", { class: "actions" }, select), body);
  const show = () => body.replaceChildren(versionView(model.versions.find((v) => String(v.version) === select.value)));
  select.addEventListener("change", show);
  select.value = String(model.versions.at(-1).version);
  show();
}

function versionView(v) {
  const test = v.metrics.test || {};
  const datasetName = v.dataset ? v.dataset.split(":")[0] : null;
  const parts = [h("div", { class: "grid" },
    panel("Lineage", facts([
      ["version", v.ref], ["type", v.type],
      ["made by", v.job_id ? link(`#/jobs/${v.job_id}`, `job ${v.job_id}`) : `imported from ${v.config.imported_from ?? "elsewhere"}`],
      ["dataset", datasetName ? link(`#/datasets/${datasetName}`, v.dataset) : "-"],
      ["architecture", `${v.config.model_file ?? v.config.model ?? "-"} (${v.config.architecture ?? "?"})`],
      ["deployed as", v.deployments.length ? h("span", {}, v.deployments.map((d) => link(`#/deployments/${d}`, d))) : "-"],
      ["created", when(v.created_at)]])),
    panel("Test metrics", facts([["result", headline(test)], ["best epoch", v.metrics.best_epoch ?? "-"],
      ...Object.entries(test).filter(([, x]) => typeof x === "number").map(([k, x]) => [k, number(x)])]),
    deployForm(v)))];
  if (test.per_class) {
    parts.push(panel("Per class", dataTable([
      { key: "0", label: "class" },
      { key: "precision", label: "precision", num: true, value: (r) => r[1].precision, render: (r) => r[1].precision.toFixed(3) },
      { key: "recall", label: "recall", num: true, value: (r) => r[1].recall, render: (r) => r[1].recall.toFixed(3) },
      { key: "f1", label: "f1", num: true, value: (r) => r[1].f1, render: (r) => r[1].f1.toFixed(3) },
      { key: "support", label: "support", num: true, value: (r) => r[1].support },
    ], Object.entries(test.per_class), { id: "per-class", pageSize: 50 })));
  }
  if (test.per_class_ap) {
    parts.push(panel("Average precision per class (test split, IoU 0.5:0.95)", dataTable([
      { key: "0", label: "class" },
      { key: "1", label: "AP", num: true, render: (r) => r[1].toFixed(3) },
    ], Object.entries(test.per_class_ap), { id: "per-class-ap", pageSize: 50 })));
  }
  if ("hr@10" in test) {
    // A recommender is only as good as what it adds to the popular items.
    parts.push(panel("Against the popularity ranking (test split)", dataTable([
      { key: "0", label: "metric" },
      { key: "1", label: "model", num: true, render: (r) => number(r[1]) },
      { key: "2", label: "popularity", num: true, render: (r) => number(r[2]) },
      { key: "3", label: "ratio", num: true, render: (r) => (r[3] === null ? "-" : `${r[3].toFixed(2)}x`) },
    ], RANKING.map((k) => {
      const base = test[`popularity_${k}`];
      return [k, test[k], base, base ? test[k] / base : null];
    }), { id: "ranking-vs-popularity" })));
  }
  if (test.confusion_matrix) parts.push(panel("Confusion matrix (test split)", heatmap(test.confusion_matrix, test.labels)));
  if (v.evaluations.length) {
    parts.push(panel("Evaluations", dataTable([
      { key: "dataset", label: "dataset" }, { key: "split", label: "split" },
      { key: "result", label: "result", value: (e) => e.metrics.accuracy ?? e.metrics["hr@10"] ?? e.metrics.map_50 ?? e.metrics.rmse, render: (e) => headline(e.metrics) },
      { key: "job_id", label: "job", render: (e) => (e.job_id ? link(`#/jobs/${e.job_id}`, e.job_id) : "-") },
      { key: "created_at", label: "when", render: (e) => when(e.created_at) },
    ], v.evaluations)));
  }
  // Sound, recommenders and Keras models: no attributions.
  if (!EXPLAINED.includes(v.type) || v.config.framework === "keras") return h("div", {}, parts);
  const measured = v.evaluations.filter((e) => e.importance).at(-1);
  parts.push(panel(`Importance${measured ? ` (${measured.dataset}, ${measured.split})` : ""}`, measured
    ? importanceView(measured.importance)
    : message(`Not measured yet: fermion model evaluate ${v.ref} --dataset ${v.dataset || "NAME"} --importance`)));
  parts.push(panel("Explain an input", explainForm(
    `/api/v1/models/${v.name}/versions/${v.version}/explain`, "explain-form", "Explaining in a job (a few seconds)...")));
  return h("div", {}, parts);
}

function deployForm(v) {
  const name = h("input", { name: "name", id: "deploy-name", value: v.name, required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,62}" });
  const replicas = h("input", { name: "replicas", id: "deploy-replicas", type: "number", min: 1, max: 64, value: 1 });
  const cpu = h("input", { name: "cpu", id: "deploy-cpu", type: "number", min: 0.1, step: 0.1, value: 1 });
  // ONNX Runtime serves classifiers and regressors of images, sound, tables and text:
  // light replicas, without torch. A Keras model is served by Keras.
  const keras = v.config.framework === "keras";
  const light = !keras && !["object-detection", "recommendation"].includes(v.type);
  const runtime = h("select", { name: "runtime", id: "deploy-runtime" },
    keras ? h("option", { value: "keras" }, "Keras") : h("option", { value: "torch" }, "PyTorch"),
    ...(light ? [h("option", { value: "onnx" }, "ONNX Runtime (light)")] : []));
  const status = h("p", { role: "status" });
  return h("form", { class: "inline", id: "deploy-form", onsubmit: async (event) => {
    event.preventDefault();
    status.className = "muted";
    status.textContent = "Deploying...";
    try {
      const deployment = await api("/api/v1/deployments", { method: "POST",
        body: { name: name.value, model: v.ref, replicas: Number(replicas.value), cpu: Number(cpu.value),
          runtime: runtime.value } });
      location.hash = `#/deployments/${deployment.name}`;
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    }
  } },
  h("label", {}, "Deployment name", name), h("label", {}, "Replicas", replicas), h("label", {}, "CPU each", cpu),
  h("label", {}, "Runtime", runtime),
  h("button", { type: "submit" }, `Deploy ${v.ref}`), status);
}
