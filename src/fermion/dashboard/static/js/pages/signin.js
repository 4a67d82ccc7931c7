import { api } from "../api.js";
import { h, message, panel } from "../ui.js";

// The token is sent once; the server answers with an HTTP-only session cookie.
export function signIn(view, reason, done) {
  const input = h("input", { type: "password", name: "token", id: "token", autocomplete: "off", required: true });
  const status = h("p", { class: "error", id: "sign-in-error", role: "alert" });
  const form = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      status.textContent = "";
      try {
        done(await api("/api/v1/session", { method: "POST", body: { token: input.value.trim() } }));
      } catch (error) {
        status.textContent = error.message;
      }
    },
  },
  h("label", { for: "token" }, "API token", input),
  h("button", { type: "submit" }, "Sign in"),
  status);
  view.replaceChildren(h("div", { class: "signin" }, panel("Sign in to Fermion",
    reason ? message(reason) : null,
    message("Paste an API token: the admin token is in $FERMION_HOME/credentials."),
    form)));
  input.focus();
}
