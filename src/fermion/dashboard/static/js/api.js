// The dashboard's only way to the server: the public REST API, authenticated by the
// session cookie (HTTP-only, so scripts never see the token). The custom header marks
// requests from this page: the server refuses cookie-authenticated changes without it,
// which a page of another origin cannot add.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The workspace the pages act in (the user's default until they choose another); kept
// per browser. Every call names it, and so do the URLs an <img> loads (no headers there).
let workspace = localStorage.getItem("fermion.workspace") || null;

export function currentWorkspace() { return workspace; }

export function useWorkspace(name) {
  workspace = name;
  if (name) localStorage.setItem("fermion.workspace", name);
  else localStorage.removeItem("fermion.workspace");
}

export function inWorkspace(url) {
  if (!workspace) return url;
  return `${url}${url.includes("?") ? "&" : "?"}workspace=${encodeURIComponent(workspace)}`;
}

export async function api(path, { method = "GET", body, form, raw = false, signal } = {}) {
  const headers = { "X-Fermion-Dashboard": "1" };
  if (workspace) headers["X-Fermion-Workspace"] = workspace;
  let payload;
  if (form !== undefined) {
    payload = form;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin", signal });
  if (response.status === 401 && !path.endsWith("/session")) {
    window.dispatchEvent(new CustomEvent("fermion:signed-out"));
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const error = await response.json();
      message = error.message || error.error || message;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// A streamed text response (a log that grows), delivered chunk by chunk.
export async function stream(path, onText, signal) {
  const response = await api(path, { raw: true, signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onText(decoder.decode(value, { stream: true }));
  }
}
