// Scoped tokens from the directory's IssueToken: what a page sends instead
// of the session token to anything but the directory's own session calls
// (a read token for the read-only methods, a status token for a peer's
// Status). They live in memory only, and are asked for again shortly
// before they expire or when a call says they are no longer good.

import { APIError, call } from "./api.js";

// RENEW_MS is how long before its expiry a token is replaced, in
// milliseconds.
const RENEW_MS = 30000;

// ScopedToken calls with a token of scope (a TokenScope name such as
// "TOKEN_SCOPE_READ") for peer ("" for a read token), issued through
// session.
export class ScopedToken {
  constructor(session, scope, peer = "") {
    this.session = session;
    this.scope = scope;
    this.peer = peer;
    this.token = "";
    this.expires = 0;
    this.pending = null;
  }

  // get returns a live token, asking the directory for one if needed.
  async get() {
    if (this.token && this.expires - Date.now() > RENEW_MS) return this.token;
    this.pending ??= this.session
      .call("IssueToken", { scope: this.scope, peer: this.peer })
      .then((res) => {
        this.token = res.token;
        this.expires = Date.parse(res.expiresAt);
        return this.token;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }

  // forget drops the token (at log out).
  forget() {
    this.token = "";
    this.expires = 0;
  }

  // call calls method with the token; opts are call's (base, service,
  // signal). A token refused as unauthenticated is dropped, so the next
  // call asks for a new one.
  async call(method, request, opts = {}) {
    const token = await this.get();
    try {
      return await call(method, request, { ...opts, token });
    } catch (err) {
      if (err instanceof APIError && err.code === "unauthenticated") this.forget();
      throw err;
    }
  }
}
