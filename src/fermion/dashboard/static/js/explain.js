// Explanations as a person reads them: an image's heat map over the image, words shaded
// by their attribution, features as signed bars; and a model's global importance.
import { api } from "./api.js";
import { h, message, number } from "./ui.js";

const shade = (value, peak) => {
  const strength = Math.min(1, Math.abs(value) / (peak || 1));
  return value > 0 ? `rgba(201, 42, 42, ${strength})` : `rgba(28, 100, 242, ${strength})`;
};

export function signedBars(rows, valueOf, label) {
  const peak = Math.max(1e-12, ...rows.map((r) => Math.abs(valueOf(r))));
  return h("table", { class: "signed-bars" }, h("tbody", {}, rows.map((r) => {
    const v = valueOf(r);
    const width = (50 * Math.abs(v)) / peak;
    const bar = h("span", { class: `signed-bar ${v >= 0 ? "for" : "against"}`, style: `width:${width}%;${v >= 0 ? "left:50%" : `left:${50 - width}%`}` });
    return h("tr", { dataset: { feature: r.name } }, h("th", {}, label(r)), h("td", { class: "signed-cell" }, bar), h("td", { class: "num" }, number(v)));
  })));
}

export function explanationView(found) {
  const what = found.target ? `class ${found.target} (${(100 * found.score).toFixed(1)}%)` : `value ${number(found.score)}`;
  const parts = [h("p", { id: "explanation-summary" },
    `${what}, explained with ${found.method} against ${found.baseline} in ${found.seconds.toFixed(2)} s`)];
  if (found.check) {
    parts.push(message(`Check: the attributions add up to ${number(found.check.total)}; the change from the baseline is ${number(found.check.expected)} (error ${found.check.error.toExponential(1)}).`));
  }
  if (found.heatmap_png) {
    parts.push(h("img", { id: "explanation-heatmap", class: "explanation-image", alt: `where ${found.model} looked`,
      src: `data:image/png;base64,${found.heatmap_png}` }),
    message("Red: pixels that speak for the class; blue: against it."));
  }
  if (found.tokens) {
    const peak = Math.max(...found.tokens.map((t) => Math.abs(t.attribution)));
    parts.push(h("p", { class: "tokens", id: "explanation-tokens" }, found.tokens.map((t) =>
      h("span", { class: "token", title: number(t.attribution), dataset: { attribution: t.attribution },
        style: `background:${shade(t.attribution, peak)}` }, t.token))));
  }
  if (found.features) {
    parts.push(h("div", { id: "explanation-features" },
      signedBars(found.features, (f) => f.attribution, (f) => `${f.name} = ${number(f.value)}`)));
  }
  return h("div", { class: "explanation" }, parts);
}

// A model version's global importance, from its latest evaluation that measured one.
export function importanceView(report) {
  if (report.features) {
    return h("div", { id: "importance" }, message(`Permutation importance on ${report.records} records: the ${report.metric} lost when a feature is shuffled (from ${number(report.score)}).`),
      signedBars(report.features, (f) => f.importance, (f) => f.name));
  }
  if (report.heatmap_png) {
    return h("div", { id: "importance" }, message(`Where the model looks: mean |Integrated Gradients| over ${report.samples} images.`),
      h("img", { class: "explanation-image", alt: "mean attribution map", src: `data:image/png;base64,${report.heatmap_png}` }));
  }
  return h("div", { id: "importance" }, message(`Words with the largest mean attribution towards each class (${report.samples} texts).`),
    h("dl", { class: "facts" }, Object.entries(report.classes).flatMap(([label, tokens]) => [
      h("dt", {}, label), h("dd", {}, tokens.map((t) => h("span", { class: "token", style: `background:${shade(t.attribution, tokens[0]?.attribution)}` }, t.token)))])));
}

// The one input of a try-it form: the image file chosen, else a record (JSON), else text.
export async function inputFrom(file, text) {
  if (file.files.length) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",")[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file.files[0]);
    });
  }
  const value = text.value.trim();
  return value.startsWith("{") || value.startsWith("[") ? JSON.parse(value) : text.value;
}

// A form that explains one input with `path` (a model's or a deployment's explain).
export function explainForm(path, id, waiting) {
  const file = h("input", { type: "file", id: `${id}-image`, accept: "image/*", "aria-label": "image" });
  const text = h("textarea", { id: `${id}-text`, rows: 3, cols: 40, placeholder: 'text, or a record as JSON: {"feature": 1.0, ...}' });
  const result = h("div", { id: `${id}-result`, role: "status" });
  const form = h("form", { class: "inline", id, onsubmit: async (event) => {
    event.preventDefault();
    result.replaceChildren(message(waiting));
    try {
      const found = await api(path, { method: "POST", body: { input: await inputFrom(file, text) } });
      result.replaceChildren(explanationView(found));
    } catch (error) {
      result.replaceChildren(message(error.message, "error"));
    }
  } }, h("label", {}, "Image", file), h("label", {}, "or text / record", text), h("button", { type: "submit" }, "Explain"));
  return h("div", {}, form, result);
}
