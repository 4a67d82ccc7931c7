// Admins: the users (create one with a first token, disable, enable), the workspaces
// (create, members and their roles, quotas), and the audit log.
import { api } from "../api.js";
import { badge, dataTable, h, message, panel, when } from "../ui.js";

const input = (name, placeholder) => h("input", { name, placeholder, "aria-label": name });
const roleSelect = (roles) => h("select", { name: "role", "aria-label": "role" }, roles.map((r) => h("option", { value: r }, r)));

export async function admin(view, scope) {
  const users = h("div");
  const spaces = h("div");
  const events = h("div");
  const note = h("div", { id: "admin-note" });
  const report = async (work) => {
    try { await work(); await draw(); } catch (error) { note.replaceChildren(message(error.message, "error")); }
  };

  const userName = input("user", "name");
  const userRole = roleSelect(["member", "viewer", "admin"]);
  const userSpace = input("workspace", "workspace (optional)");
  const userForm = h("form", { class: "inline", id: "user-form", onsubmit: (event) => { event.preventDefault(); report(async () => {
    const made = await api("/api/v1/users", { method: "POST", body: { name: userName.value, role: userRole.value, workspace: userSpace.value || null } });
    note.replaceChildren(message(`${made.name}'s first token; give it to them now, it is not shown again:`), h("code", { id: "user-token" }, made.token));
    userForm.reset();
  }); } }, h("label", {}, "Name", userName), h("label", {}, "Role", userRole), h("label", {}, "Workspace", userSpace), h("button", { type: "submit" }, "Create user"));

  const spaceName = input("name", "name");
  const spaceForm = h("form", { class: "inline", id: "workspace-form", onsubmit: (event) => { event.preventDefault(); report(async () => {
    await api("/api/v1/workspaces", { method: "POST", body: { name: spaceName.value } });
    spaceForm.reset();
  }); } }, h("label", {}, "Name", spaceName), h("button", { type: "submit" }, "Create workspace"));

  const memberSpace = input("workspace", "workspace");
  const memberUser = input("member", "user");
  const memberRole = roleSelect(["member", "viewer"]);
  const memberForm = h("form", { class: "inline", id: "member-form", onsubmit: (event) => { event.preventDefault(); report(async () => {
    await api(`/api/v1/workspaces/${encodeURIComponent(memberSpace.value)}/members`, { method: "PUT", body: { user: memberUser.value, role: memberRole.value } });
    memberForm.reset();
  }); } }, h("label", {}, "Workspace", memberSpace), h("label", {}, "User", memberUser), h("label", {}, "Role", memberRole), h("button", { type: "submit" }, "Add member"));

  view.replaceChildren(h("h1", {}, "Admin"), note, panel("Users", userForm, users), panel("Workspaces", spaceForm, memberForm, spaces),
    panel("Audit log: the latest changes and sign-ins", events));

  async function draw() {
    const found = await api("/api/v1/users");
    users.replaceChildren(dataTable([
      { key: "name", label: "name" },
      { key: "role", label: "role" },
      { key: "workspaces", label: "workspaces", value: (u) => Object.entries(u.workspaces).map(([w, r]) => `${w} (${r})`).join(", ") },
      { key: "disabled", label: "status", render: (u) => badge(u.disabled ? "disabled" : "active"), value: (u) => u.disabled },
      { key: "created_at", label: "created", render: (u) => when(u.created_at) },
      { key: "action", label: "", render: (u) => h("button", { class: u.disabled ? "" : "danger", onclick: () => report(() =>
        api(`/api/v1/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body: { disabled: !u.disabled } })) }, u.disabled ? "Enable" : "Disable") },
    ], found.data, { id: "users-table" }));
    const listed = await api("/api/v1/workspaces");
    spaces.replaceChildren(dataTable([
      { key: "name", label: "name" },
      { key: "members", label: "members", value: (w) => w.members.map((m) => `${m.user} (${m.role})`).join(", ") },
      { key: "quota", label: "quota", value: (w) => Object.entries(w.quota).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(", ") || "none" },
    ], listed.data, { id: "workspaces-table" }));
    const audit = await api("/api/v1/audit?limit=50");
    events.replaceChildren(dataTable([
      { key: "at", label: "when", render: (e) => when(e.at) },
      { key: "actor", label: "who" },
      { key: "workspace", label: "workspace" },
      { key: "call", label: "call", value: (e) => `${e.method} ${e.path}` },
      { key: "status", label: "status", num: true },
      { key: "client", label: "from" },
    ], audit.data, { id: "audit-table" }));
  }
  await draw();
  scope.every(10000, draw);
}
