// A session with the directory: the token Login returned, kept in this
// tab's sessionStorage (never in a URL or cookie) and renewed by Heartbeat
// while the page is open.

import { APIError, call } from "./api.js";

const KEY = "peerhub.session";

// MIN_HEARTBEAT_MS bounds how often the page heartbeats, in milliseconds.
const MIN_HEARTBEAT_MS = 1000;

// seconds parses a protobuf JSON duration such as "30s" or "1.5s".
function seconds(d) {
  const n = Number.parseFloat(d);
  return Number.isFinite(n) ? n : 0;
}

// Session holds the signed-in user's token. onChange(user) runs when the
// user signs in (user is their name) or the session ends (user is null;
// reason says why, if not a log out). base is the directory's URL when it
// is not this page's origin (a peer's page logs in at its directory).
export class Session {
  constructor(onChange, { base = "" } = {}) {
    this.onChange = onChange;
    this.base = base;
    this.state = null;
    this.timer = 0;
    // inflight settles when the heartbeat under way (if any) has.
    this.inflight = null;
  }

  // resume picks up this tab's session if it has not expired.
  resume() {
    let s = null;
    try {
      s = JSON.parse(sessionStorage.getItem(KEY));
    } catch {
      s = null;
    }
    if (!s?.token || Date.parse(s.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(KEY);
      this.onChange(null);
      return;
    }
    this.state = s;
    this.onChange(s.user);
    this.heartbeat();
  }

  get user() {
    return this.state?.user ?? null;
  }

  async login(username, password) {
    const res = await call("Login", { username, password }, { base: this.base });
    this.save({
      user: username,
      token: res.token,
      expiresAt: res.expiresAt,
      heartbeatMs: Math.max(MIN_HEARTBEAT_MS, seconds(res.heartbeatInterval) * 1000),
    });
    this.schedule();
    this.onChange(username);
  }

  async logout() {
    const token = this.state?.token;
    // A heartbeat already sent ends first: sent after the session, it
    // would be refused (a 401 in the console) for nothing.
    const pending = this.inflight;
    this.end(null);
    if (token) {
      await pending;
      try {
        await call("Logout", {}, { token, base: this.base });
      } catch {
        // The token is forgotten either way; it expires on its own.
      }
    }
  }

  // call calls method with the session's token. An Unauthenticated answer
  // ends the session: the page shows the login form again.
  async call(method, request, opts = {}) {
    if (!this.state) throw new APIError("unauthenticated", "not logged in");
    try {
      return await call(method, request, { base: this.base, ...opts, token: this.state.token });
    } catch (err) {
      if (err instanceof APIError && err.code === "unauthenticated") this.end("Your session has ended; log in again.");
      throw err;
    }
  }

  save(s) {
    this.state = s;
    sessionStorage.setItem(KEY, JSON.stringify(s));
  }

  end(reason) {
    clearTimeout(this.timer);
    this.state = null;
    sessionStorage.removeItem(KEY);
    this.onChange(null, reason);
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.state) this.timer = setTimeout(() => this.heartbeat(), this.state.heartbeatMs);
  }

  async heartbeat() {
    if (!this.state) return;
    const token = this.state.token;
    const beat = this.call("Heartbeat", {});
    this.inflight = beat.then(() => {}, () => {});
    try {
      const res = await beat;
      // Unless the session ended (logout) or changed meanwhile.
      if (this.state?.token === token) this.save({ ...this.state, token: res.token, expiresAt: res.expiresAt });
    } catch {
      // Unauthenticated ended the session; anything else is retried.
    }
    this.inflight = null;
    this.schedule();
  }
}
