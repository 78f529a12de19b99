// The public APIs (the directory's, and a peer's PeerService), called with
// Connect's JSON protocol: a POST of the request message as JSON to
// /<service>/<method>, answered with the
// response message as JSON, or with {code, message} and an HTTP error
// status. Messages use the protobuf JSON mapping: lowerCamelCase fields,
// 64-bit integers as strings, durations as "1.5s".

const SERVICE = "/peerhub.directory.v1.DirectoryService/";

// PEER_SERVICE is a peer's own API, for call's service option.
export const PEER_SERVICE = "/peerhub.peer.v1.PeerService/";

// TIMEOUT_MS bounds every call, in milliseconds; the server is told too.
const TIMEOUT_MS = 15000;

// APIError is a call that failed: code is the Connect code
// ("unauthenticated", "invalid_argument", "unavailable", …).
export class APIError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "APIError";
    this.code = code;
  }
}

// call sends request to method of DirectoryService (or of service) at base
// (a URL such as "http://dir.example:8000"; this page's own origin if
// empty) and returns the response message. token, when given, goes in the
// Authorization header; signal aborts the call (the promise then rejects
// with an AbortError).
export async function call(method, request, { token, signal, base = "", service = SERVICE } = {}) {
  const headers = {
    "Content-Type": "application/json",
    "Connect-Protocol-Version": "1",
    "Connect-Timeout-Ms": String(TIMEOUT_MS),
  };
  if (token) headers.Authorization = "Bearer " + token;
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  let res;
  try {
    res = await fetch(base + service + method, {
      method: "POST",
      headers,
      body: JSON.stringify(request ?? {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    if (timeout.aborted) throw new APIError("deadline_exceeded", "the server did not answer in time");
    throw new APIError("unavailable", "cannot reach the server");
  }
  let body = {};
  const text = await res.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new APIError("unknown", `unexpected answer (HTTP ${res.status})`);
    }
  }
  if (!res.ok) throw new APIError(body.code || "unknown", body.message || `HTTP ${res.status}`);
  return body;
}

// isAbort reports whether err is a call cancelled through its signal.
export function isAbort(err) {
  return err?.name === "AbortError";
}
