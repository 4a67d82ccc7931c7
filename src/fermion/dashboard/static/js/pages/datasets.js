import { api, inWorkspace } from "../api.js";
import { boxedImage } from "../boxes.js";
import { bytes, dataTable, facts, h, link, message, number, panel, when } from "../ui.js";

export async function datasetList(view) {
  const found = await api("/api/v1/datasets");
  view.replaceChildren(h("h1", {}, "Datasets"), dataTable([
    { key: "name", label: "name", render: (d) => link(`#/datasets/${d.name}`, d.name) },
    { key: "type", label: "type" },
    { key: "latest", label: "latest", value: (d) => d.versions.at(-1)?.version, render: (d) => `v${d.versions.at(-1)?.version}` },
    { key: "records", label: "records", num: true, value: (d) => d.versions.at(-1)?.num_records, render: (d) => number(d.versions.at(-1)?.num_records) },
    { key: "versions", label: "versions", num: true, value: (d) => d.versions.length },
    { key: "created_at", label: "created", render: (d) => when(d.created_at) },
  ], found.data, { empty: "No datasets yet: fermion dataset create --name NAME --type TYPE --source PATH", id: "datasets-table" }));
}

export async function datasetDetail(view, scope, name) {
  const dataset = await api(`/api/v1/datasets/${name}`);
  const select = h("select", { id: "version", "aria-label": "version" },
    dataset.versions.map((v) => h("option", { value: v.version }, v.ref)).reverse());
  const body = h("div");
  view.replaceChildren(h("h1", {}, `Dataset ${name}`), h("div", { class: "actions" }, select), body);
  const show = async () => {
    const version = dataset.versions.find((v) => String(v.version) === select.value);
    body.replaceChildren(message("Loading..."));
    body.replaceChildren(await versionView(dataset, version));
  };
  select.addEventListener("change", show);
  select.value = String(dataset.versions.at(-1).version);
  await show();
}

async function versionView(dataset, v) {
  const splits = Object.entries(v.split_counts);
  const classes = {};  // over every split
  for (const counts of Object.values(v.class_counts)) {
    for (const [label, n] of Object.entries(counts)) classes[label] = (classes[label] || 0) + n;
  }
  const peak = Math.max(1, ...Object.values(classes));
  const parts = [
    h("div", { class: "grid" },
      panel("Version", facts([["ref", v.ref], ["type", dataset.type], ["records", number(v.num_records)],
        ["size", bytes(v.size_bytes)], ["digest", h("code", {}, v.digest.slice(0, 16))], ["source", v.source], ["created", when(v.created_at)]])),
      panel("Splits", dataTable([{ key: "0", label: "split" }, { key: "1", label: "records", num: true }], splits, { id: "split-sizes" }))),
  ];
  if (Object.keys(classes).length) {
    parts.push(panel("Classes", h("div", { class: "bars", id: "class-histogram" }, Object.entries(classes).flatMap(([label, n]) => [
      h("span", {}, label), h("div", { class: "bar", style: `width:${(100 * n) / peak}%`, title: `${n}` }), h("span", { class: "num" }, n)]))));
  }
  parts.push(panel("Train a model on it", trainForm(dataset, v)));
  parts.push(panel("Samples (train)", await samples(dataset, v)));
  parts.push(panel("Validation report of the ingest", v.skipped_count
    ? h("div", {}, message(`${v.skipped_count} invalid record(s) were skipped (--skip-invalid); the first ${v.skipped.length}:`),
      dataTable([{ key: "location", label: "where" }, { key: "reason", label: "reason" }], v.skipped, { id: "validation-report" }))
    : message("Every record was valid; none was skipped.", "muted")));
  return h("div", {}, parts);
}

async function samples(dataset, v) {
  const base = `/api/v1/datasets/${dataset.name}/versions/${v.version}`;
  if (dataset.type === "image-classification") {
    // A few of each class: records are often stored sorted by class.
    const found = await api(`${base}/samples?split=train&per_class=3`);
    return h("div", { class: "samples", id: "sample-grid" }, found.samples.map((s) => h("figure", {},
      h("img", { src: inWorkspace(`${base}/images/train/${s.index}`), alt: `train image ${s.index}`, loading: "lazy" }),
      h("figcaption", {}, s.label))));
  }
  if (dataset.type === "audio-classification") {
    // Each sample: its spectrogram to look at, and the sound itself to listen to.
    const found = await api(`${base}/samples?split=train&per_class=2`);
    return h("div", { class: "samples sounds", id: "sample-sounds" }, found.samples.map((s) => h("figure", {},
      h("img", { src: inWorkspace(`${base}/audio/train/${s.index}?spectrogram=true`), alt: `spectrogram of train sound ${s.index}`, loading: "lazy" }),
      h("audio", { controls: "", preload: "none", src: inWorkspace(`${base}/audio/train/${s.index}`), "aria-label": `train sound ${s.index}` }),
      h("figcaption", {}, s.label))));
  }
  if (dataset.type === "object-detection") {
    // The first images of the split, each with its boxes drawn over it.
    const found = await api(`${base}/samples?split=train&per_class=20`);
    return h("div", { class: "samples boxed", id: "sample-boxes" }, found.samples.map((s) => h("figure", {},
      boxedImage(inWorkspace(`${base}/images/train/${s.index}`), s.width, s.height,
        s.boxes.map((box, n) => ({ box, label: s.categories[n] })), v.class_names),
      h("figcaption", {}, s.label || "no objects"))));
  }
  const head = await api(`${base}/head?split=train&limit=20`);
  return dataTable(head.columns.map((c) => ({ key: c, label: c, render: (r) => String(r[c]).slice(0, 120) })), head.rows, { id: "sample-rows" });
}

const MODELS = {
  "image-classification": ["small-cnn", "resnet18", "resnet34", "resnet50", "mobilenet_v3_small"],
  "audio-classification": ["audio-cnn"],
  "recommendation": ["mf", "two-tower"],
  "object-detection": ["small-detector", "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet50_fpn", "ssdlite320_mobilenet_v3_large"],
  "text-classification": ["small-transformer"],
  "tabular-classification": ["mlp"],
  "tabular-regression": ["mlp"],
};

// The built-in trainer, as `fermion train` runs it; left empty, an option takes the
// default for the dataset's type.
function trainForm(dataset, v) {
  const field = (label, input) => h("label", {}, label, input);
  const name = h("input", { id: "train-name", name: "name", placeholder: `${dataset.name}-...`, pattern: "[A-Za-z0-9][A-Za-z0-9._-]{0,62}" });
  const model = h("select", { id: "train-model", name: "model" }, h("option", { value: "" }, "default"),
    (MODELS[dataset.type] || []).map((m) => h("option", { value: m }, m)));
  const epochs = h("input", { id: "train-epochs", name: "epochs", type: "number", min: 1, placeholder: "default" });
  const nproc = h("input", { id: "train-nproc", name: "nproc", type: "number", min: 1, value: 1 });
  const accum = h("input", { id: "train-grad-accum", name: "grad_accum", type: "number", min: 1, value: 1 });
  const precision = h("select", { id: "train-precision", name: "precision" }, ["auto", "fp32", "bf16", "fp16"].map((p) => h("option", { value: p }, p)));
  const memory = h("input", { id: "train-memory", name: "memory", placeholder: "e.g. 4Gi" });
  const status = h("p", { role: "status" });
  return h("form", { class: "inline", id: "train-form", onsubmit: async (event) => {
    event.preventDefault();
    const body = { dataset: v.ref, nproc: Number(nproc.value), grad_accum: Number(accum.value), precision: precision.value };
    if (name.value) body.name = name.value;
    if (model.value) body.model = model.value;
    if (epochs.value) body.epochs = Number(epochs.value);
    if (memory.value) body.memory = memory.value;
    status.className = "muted";
    status.textContent = "Submitting...";
    try {
      const started = await api("/api/v1/jobs/train", { method: "POST", body });
      location.hash = `#/jobs/${started.job.id}`;
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    }
  } },
  field("Model name", name), field("Architecture", model), field("Epochs", epochs), field("Processes", nproc),
  field("Grad. accumulation", accum), field("Precision", precision), field("Memory", memory),
  h("button", { type: "submit" }, "Train"), status);
}
