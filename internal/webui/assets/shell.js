// What both dashboards share: the login form, the signed-in header with its
// log-out button, and switching between the two.

import { APIError } from "./api.js";
import { byId, say } from "./dom.js";
import { Session } from "./session.js";

// loginError says in words what a failed login means.
function loginError(err) {
  if (!(err instanceof APIError)) return "Login failed.";
  switch (err.code) {
    case "unauthenticated":
      return "Wrong username or password.";
    case "invalid_argument":
      return "Check the username: letters, digits, '.', '_' or '-'.";
    case "resource_exhausted":
      return "Too many failed logins for this account; wait a minute and try again.";
    default:
      return `Login failed: ${err.message}`;
  }
}

// startShell wires the login form and log-out button. onSignedIn runs each
// time a user signs in (or the page resumes a session), onSignedOut when the
// session ends. base is the directory's URL when it is not this page's
// origin. It returns the Session the page calls the API through; the page
// calls its resume() once it is ready.
export function startShell({ onSignedIn, onSignedOut, base = "" }) {
  const login = byId("login");
  const app = byId("app");
  const account = byId("account");
  const form = byId("login-form");
  const username = byId("login-username");
  const password = byId("login-password");
  const submit = byId("login-submit");
  const status = byId("login-status");

  const session = new Session((user, reason) => {
    login.hidden = user !== null;
    app.hidden = user === null;
    account.hidden = user === null;
    if (user !== null) {
      byId("account-name").textContent = user;
      say(status, "");
      onSignedIn(user);
    } else {
      onSignedOut();
      say(status, reason ?? "", reason ? "error" : "");
      username.focus();
    }
  }, { base });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = username.value.trim();
    if (!user || !password.value) {
      say(status, "Enter a username and a password.", "error");
      (user ? password : username).focus();
      return;
    }
    submit.disabled = true;
    say(status, "Logging in…");
    try {
      await session.login(user, password.value);
    } catch (err) {
      say(status, loginError(err), "error");
      password.select();
    } finally {
      password.value = "";
      submit.disabled = false;
    }
  });

  byId("logout").addEventListener("click", () => session.logout());
  return session;
}
