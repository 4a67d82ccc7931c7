import { api } from "../api.js";
import { explanationView, inputFrom } from "../explain.js";
import { boxedImage, imageSize } from "../boxes.js";
import { badge, dataTable, facts, h, lineChart, link, message, panel, when } from "../ui.js";

export async function deploymentList(view, scope) {
  const body = h("div");
  view.replaceChildren(h("h1", {}, "Deployments"), body);
  scope.every(3000, async () => {
    const found = await api("/api/v1/deployments");
    body.replaceChildren(dataTable([
      { key: "name", label: "name", render: (d) => link(`#/deployments/${d.name}`, d.name) },
      { key: "model", label: "model" },
      { key: "status", label: "status", render: (d) => badge(d.status) },
      { key: "ready_replicas", label: "ready", num: true, render: (d) => `${d.ready_replicas}/${d.replicas}` },
      { key: "cpu", label: "cpu each", num: true },
      { key: "memory", label: "memory each" },
      { key: "public", label: "access", render: (d) => (d.public ? "public" : "token") },
      { key: "created_at", label: "created", render: (d) => when(d.created_at) },
    ], found.data, { empty: "No deployments: open a model and deploy it, or fermion deploy MODEL --name NAME", id: "deployments-table" }));
  });
}

// The q-quantile of the observations between two snapshots of a cumulative histogram.
function quantile(before, after, q) {
  const counts = after.buckets.map(([le, n], i) => [le, n - (before.buckets[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  let previousLe = 0;
  let previousCount = 0;
  for (const [le, n] of counts) {
    if (n >= q * total) {
      if (!Number.isFinite(le)) return previousLe;  // in the +Inf bucket: its lower edge
      const share = n === previousCount ? 0 : (q * total - previousCount) / (n - previousCount);
      return previousLe + share * (le - previousLe);
    }
    previousLe = le;
    previousCount = n;
  }
  return previousLe;
}

export async function deploymentDetail(view, scope, name) {
  const summary = h("div");
  const replicas = h("div");
  const scaling = h("div");
  const traffic = lineChart("Requests/s", ["requests/s", "errors/s"], { xLabel: "time", time: true, id: "rate-chart" });
  const latency = lineChart("Latency (ms)", ["p50", "p99"], { xLabel: "time", time: true, id: "latency-chart" });
  const actions = h("div", { class: "actions" });
  view.replaceChildren(h("h1", {}, `Deployment ${name}`), actions, summary,
    h("div", { class: "grid" }, panel("Traffic", traffic.node), panel("Latency", latency.node)),
    panel("Replicas", replicas), scaling, panel("Try it", tryIt(name)));

  scope.every(2000, async () => {
    const d = await api(`/api/v1/deployments/${name}`);
    summary.replaceChildren(h("div", { class: "grid" }, panel("Deployment", facts([
      ["model", link(`#/models/${d.model.split(":")[0]}`, d.model)], ["status", badge(d.status)],
      ["replicas", `${d.ready_replicas} ready of ${d.replicas}`],
      ["resources", `cpu ${d.cpu}, memory ${d.memory} per replica`],
      ["runtime", d.runtime === "onnx" ? "ONNX Runtime (light)" : "PyTorch"],
      ["batching", `up to ${d.max_batch_size} inputs, ${d.max_batch_delay_ms} ms`],
      ["autoscaling", d.autoscaling ? `${d.autoscaling.min_replicas} to ${d.autoscaling.max_replicas} replicas, `
        + `${d.autoscaling.target_concurrency} in flight each; now ${d.in_flight ?? 0}` : "off"],
      ["access", d.public ? "public" : "token"], ["predict", h("code", {}, `${d.url}/predict`)],
      ["Open Inference (V2)", h("code", {}, `${d.url}/v2/models/${d.name}/infer`)]]))));
    replicas.replaceChildren(dataTable([
      { key: "job_id", label: "job", num: true, render: (r) => link(`#/jobs/${r.job_id}`, r.job_id) },
      { key: "model", label: "model" },
      { key: "state", label: "state", render: (r) => badge(r.state) },
      { key: "endpoint", label: "endpoint", render: (r) => r.endpoint ?? "-" },
      { key: "restarts", label: "restarts", num: true },
      { key: "reason", label: "last failure", render: (r) => r.reason ?? "" },
    ], d.replica_details, { id: "replicas-table", empty: "No replicas." }));
    scaling.replaceChildren(d.autoscaling ? panel("Autoscaling", dataTable([
      { key: "at", label: "when", render: (e) => new Date(e.at).toLocaleTimeString() },
      { key: "before", label: "replicas", render: (e) => `${e.before} → ${e.after}` },
      { key: "reason", label: "why" },
    ], [...d.scale_events].reverse(), { id: "scale-events", empty: "No change yet." })) : "");
    actions.replaceChildren(h("button", { class: "danger", id: "delete-deployment", onclick: async () => {
      if (!window.confirm(`Delete ${name} and stop its replicas?`)) return;
      await api(`/api/v1/deployments/${name}`, { method: "DELETE" });
      location.hash = "#/deployments";
    } }, "Delete"));
  });

  const rates = [[], [], []];
  const latencies = [[], [], []];
  let previous = null;
  scope.every(2000, async () => {
    const now = await api(`/api/v1/deployments/${name}/metrics`);
    if (previous && now.time > previous.time) {
      const seconds = now.time - previous.time;
      const requests = Math.max(0, now.requests - previous.requests);
      const errors = Math.max(0, now.errors - previous.errors);
      rates[0].push(now.time); rates[1].push(requests / seconds); rates[2].push(errors / seconds);
      const reset = now.latency.count < previous.latency.count;  // a replica restarted
      latencies[0].push(now.time);
      latencies[1].push(reset ? null : 1000 * (quantile(previous.latency, now.latency, 0.5) ?? NaN));
      latencies[2].push(reset ? null : 1000 * (quantile(previous.latency, now.latency, 0.99) ?? NaN));
      for (const series of [rates, latencies]) if (series[0].length > 300) series.forEach((s) => s.shift());
      traffic.update(rates);
      latency.update(latencies.map((s) => s.map((x) => (Number.isNaN(x) ? null : x))));
    }
    previous = now;
  });
}

// A recommendation beside what the user has seen lately: the list makes sense of the other.
function recommendationView(p) {
  const list = (id, entries) => (entries.length ? h("ol", { id }, entries.map((e) => h("li", {}, e))) : message("nothing", "muted"));
  return h("div", { class: "grid" },
    h("div", {}, h("strong", {}, p.known_user ? `Recommended for ${p.user}` : `${p.user} is new: the popular items`),
      list("recommended-items", p.items.map((i) => `${i.item} (${i.score.toFixed(2)})`))),
    h("div", {}, h("strong", {}, "Seen lately"), list("user-history", p.history)));
}

// What a detector found, drawn over the uploaded image, beside the list of it.
async function detectionView(p, file, input) {
  const src = `data:${file.files[0]?.type || "image/png"};base64,${input}`;
  const { width, height } = await imageSize(src);
  const rows = p.detections.map((d) => `${d.label} ${d.score.toFixed(2)} at [${d.box.map((v) => v.toFixed(0)).join(", ")}]`);
  return h("div", { class: "detections", id: "detected-boxes" }, boxedImage(src, width, height, p.detections),
    rows.length ? h("ol", {}, rows.map((r) => h("li", {}, r))) : message("Nothing found above the model's minimum score.", "muted"));
}

function tryIt(name) {
  const file = h("input", { type: "file", id: "try-image", accept: "image/*,audio/*", "aria-label": "image or sound file" });
  const text = h("textarea", { id: "try-text", rows: 3, cols: 40, placeholder: 'text, a user id, or a record as JSON: {"feature": 1.0, ...}' });
  const result = h("div", { class: "prediction", id: "prediction", role: "status" });
  const ask = (doing, work) => async (event) => {
    event.preventDefault();
    result.className = "prediction muted";
    result.textContent = doing;
    try {
      const input = await inputFrom(file, text);
      result.className = "prediction";
      result.replaceChildren(await work(input));
    } catch (error) {
      result.className = "prediction error";
      result.textContent = error.message;
    }
  };
  const predict = async (input) => {
    const answer = await api(`/api/v1/deployments/${name}/predict`, { method: "POST", body: { inputs: [input] } });
    const p = answer.predictions[0];
    if (p.items !== undefined) return recommendationView(p);
    if (p.detections !== undefined) return detectionView(p, file, input);
    return p.label !== undefined
      ? h("span", {}, h("strong", { id: "predicted-label" }, p.label), ` (${(100 * p.probability).toFixed(1)}%) `,
        h("span", { class: "muted" }, p.top_k.slice(1).map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(", ")),
        h("span", { class: "muted" }, ` from ${answer.model}`))
      : h("strong", { id: "predicted-label" }, String(p.value));
  };
  const explain = async (input) => explanationView(
    await api(`/api/v1/deployments/${name}/explain`, { method: "POST", body: { input } }));
  const form = h("form", { class: "inline", id: "try-form", onsubmit: ask("Asking...", predict) },
    h("label", {}, "Image or sound", file), h("label", {}, "or text / user / record", text), h("button", { type: "submit" }, "Predict"),
    h("button", { type: "button", id: "try-explain", onclick: ask("Explaining...", explain) }, "Explain"));
  return h("div", {}, form, result);
}
