// Your account: the workspaces you belong to (and your role in each), your API tokens
// (made here, their secret shown once; revoked here).
import { api } from "../api.js";
import { dataTable, h, message, panel, when } from "../ui.js";

export async function account(view, scope) {
  const spaces = h("div");
  const tokens = h("div");
  const made = h("div", { id: "token-made" });
  const name = h("input", { name: "name", required: true, placeholder: "laptop", "aria-label": "token name" });
  const expires = h("input", { name: "expires", placeholder: "30d (empty: never)", "aria-label": "expires" });
  const form = h("form", { class: "inline", id: "token-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const token = await api("/api/v1/tokens", { method: "POST", body: { name: name.value, expires: expires.value || null } });
      made.replaceChildren(message("Your new token; keep it now, it is not shown again:"), h("code", { id: "token-secret" }, token.token));
      form.reset();
      await draw();
    } catch (error) { made.replaceChildren(message(error.message, "error")); }
  } }, h("label", {}, "Name", name), h("label", {}, "Expires", expires), h("button", { type: "submit" }, "Create token"));
  view.replaceChildren(h("h1", {}, "Account"), panel("Your workspaces", spaces), panel("Your API tokens", form, made, tokens));

  async function draw() {
    const me = await api("/api/v1/users/me");
    spaces.replaceChildren(dataTable([
      { key: "name", label: "workspace" },
      { key: "role", label: "your role" },
      { key: "default", label: "", render: (w) => (w.name === me.default_workspace ? "default" : "") },
    ], Object.entries(me.workspaces).map(([n, role]) => ({ name: n, role })), { id: "my-workspaces" }));
    const found = await api("/api/v1/tokens");
    tokens.replaceChildren(dataTable([
      { key: "name", label: "name" },
      { key: "created_at", label: "created", render: (t) => when(t.created_at) },
      { key: "expires_at", label: "expires", render: (t) => (t.expires_at ? when(t.expires_at) : "never") },
      { key: "id", label: "", render: (t) => h("button", { class: "danger", onclick: async () => {
        await api(`/api/v1/tokens/${t.id}`, { method: "DELETE" });
        await draw();
      } }, "Revoke") },
    ], found.data, { empty: "No API tokens yet.", id: "tokens-table" }));
  }
  await draw();
  scope.every(30000, draw);
}
