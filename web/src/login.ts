// The login dialog of a server in token mode: the page's first refused
// request (401) asks for a token once, trades it for the HttpOnly login
// cookie (POST /v1/login) and reloads, so neither scripts nor URLs ever
// hold the token afterwards.

import { h } from "./dom.js";

let shown = false;

/** requestLogin shows the login dialog, once per page. */
export function requestLogin(base = ""): void {
  if (shown || typeof document === "undefined") return;
  shown = true;
  const input = h("input", {
    type: "password", id: "login-token", name: "token", autocomplete: "current-password",
    required: true, placeholder: "tst_…", class: "ts-input",
  });
  const err = h("p", { class: "ts-login-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "ts-btn ts-primary" }, "Log in");
  const form = h("form", { method: "dialog", class: "ts-login" },
    h("h2", { id: "login-h", text: "This server needs a token" }),
    h("p", { text: "Ask the server's owner for one (thinkstream token create). It is kept in an HttpOnly cookie, never in the page." }),
    h("label", { for: "login-token", text: "Token" }), input, err, submit);
  const d = h("dialog", { id: "login", class: "ts-dialog", "aria-labelledby": "login-h" }, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.hidden = true;
    try {
      const resp = await fetch(base + "/v1/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: input.value.trim() }), credentials: "same-origin",
      });
      if (!resp.ok) throw new Error(resp.status === 401 ? "That token is unknown, revoked or expired." : `The server answered ${resp.status}.`);
      location.reload();
    } catch (x) {
      err.textContent = x instanceof Error ? x.message : "Login failed.";
      err.hidden = false;
      submit.disabled = false;
    }
  });
  document.body.append(d);
  d.showModal();
  input.focus();
}
