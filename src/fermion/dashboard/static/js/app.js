// The dashboard: a hash router over pages. Each page gets a scope whose timers and
// streams end when the user navigates away.
import { api, currentWorkspace, useWorkspace } from "./api.js";
import { h, message } from "./ui.js";
import { overview } from "./pages/overview.js";
import { datasetList, datasetDetail } from "./pages/datasets.js";
import { jobList, jobDetail } from "./pages/jobs.js";
import { modelList, modelDetail } from "./pages/models.js";
import { deploymentList, deploymentDetail } from "./pages/deployments.js";
import { sweepList, sweepDetail } from "./pages/sweeps.js";
import { federationList, federationDetail } from "./pages/federations.js";
import { signIn } from "./pages/signin.js";
import { account } from "./pages/account.js";
import { admin } from "./pages/admin.js";

const ROUTES = [
  [/^\/?$/, overview],
  [/^\/datasets$/, datasetList],
  [/^\/datasets\/([^/]+)$/, datasetDetail],
  [/^\/jobs$/, jobList],
  [/^\/jobs\/(\d+)$/, jobDetail],
  [/^\/models$/, modelList],
  [/^\/models\/([^/]+)$/, modelDetail],
  [/^\/deployments$/, deploymentList],
  [/^\/deployments\/([^/]+)$/, deploymentDetail],
  [/^\/sweeps$/, sweepList],
  [/^\/sweeps\/([^/]+)$/, sweepDetail],
  [/^\/federations$/, federationList],
  [/^\/federations\/([^/]+)$/, federationDetail],
  [/^\/account$/, account],
  [/^\/admin$/, admin],
];

class Scope {
  constructor() { this.timers = []; this.controller = new AbortController(); this.closed = false; }
  // Run `fn` now and every `ms` while the page is shown (a failed run is shown, not fatal).
  every(ms, fn) {
    const run = async () => {
      if (this.closed) return;
      try { await fn(); } catch (error) { if (!this.closed) console.warn(error); }
      if (!this.closed) this.timers.push(setTimeout(run, ms));
    };
    run();
  }
  get signal() { return this.controller.signal; }
  close() { this.closed = true; this.timers.forEach(clearTimeout); this.controller.abort(); }
}

const view = document.getElementById("view");
let scope = null;
let user = null;

async function route() {
  if (scope) scope.close();
  scope = new Scope();
  if (!user) {
    try {
      user = await api("/api/v1/session");
    } catch (_) {
      showSignIn();
      return;
    }
  }
  document.getElementById("who").textContent = `${user.name} (${user.role})`;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("admin-link").hidden = user.role !== "admin";
  document.getElementById("account-link").hidden = false;
  await showWorkspaces();
  const path = decodeURIComponent(location.hash.replace(/^#/, "").split("?")[0]);
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").slice(1);
    a.classList.toggle("active", target === "/" ? path === "/" || path === "" : path.startsWith(target));
  }
  for (const [pattern, page] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      view.replaceChildren(message("Loading..."));
      try {
        await page(view, scope, ...match.slice(1));
      } catch (error) {
        view.replaceChildren(h("h1", {}, "Something went wrong"), message(error.message, "error"));
      }
      return;
    }
  }
  view.replaceChildren(h("h1", {}, "Not found"), message(`Nothing at ${path}.`), h("a", { href: "#/" }, "Overview"));
}

// The workspace chooser: the user's workspaces (an admin's: all); choosing one shows
// that workspace's datasets, jobs, models and deployments on every page.
async function showWorkspaces() {
  const chooser = document.getElementById("workspace");
  const names = user.role === "admin"
    ? (await api("/api/v1/workspaces")).data.map((w) => w.name)
    : Object.keys(user.workspaces);
  if (!names.includes(currentWorkspace())) useWorkspace(user.default_workspace || names[0] || null);
  chooser.replaceChildren(...names.map((n) => new Option(n, n, false, n === currentWorkspace())));
  chooser.hidden = names.length === 0;
}

document.getElementById("workspace").addEventListener("change", (event) => {
  useWorkspace(event.target.value);
  route();
});

function showSignIn(reason) {
  user = null;
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
  document.getElementById("workspace").hidden = true;
  document.getElementById("admin-link").hidden = true;
  document.getElementById("account-link").hidden = true;
  useWorkspace(null);
  signIn(view, reason, (signedIn) => { user = signedIn; route(); });
}

document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("/api/v1/session", { method: "DELETE" }); } catch (_) { /* signed out anyway */ }
  if (scope) scope.close();
  showSignIn("Signed out.");
});
window.addEventListener("fermion:signed-out", () => { if (user) showSignIn("Your session ended; sign in again."); });
window.addEventListener("hashchange", route);
route();
