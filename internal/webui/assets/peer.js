// A peer's dashboard: what the peer shares (the directory's ListFiles for
// this peer), and what it serves now (its own Status).
//
// The user logs in at the peer's directory itself, named in
// <meta name="peerhub-directory">, with a cross-origin call the directory
// allows (--cors-origin): the password never goes to the peer. The page
// then asks the directory for scoped tokens: a read token for ListFiles at
// the directory, and a status token for Status at this peer (the directory
// issues it to the peer's owner only, named in <meta name="peerhub-account">).
// The session token goes to the directory only.

import { byId } from "./dom.js";
import { FileTable } from "./files.js";
import { Serving } from "./serving.js";
import { startShell } from "./shell.js";
import { ScopedToken } from "./tokens.js";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
// The page's server names its peer, the peer's account and its directory.
const peerName = meta("peerhub-peer");
const owner = meta("peerhub-account");
const directory = meta("peerhub-directory").replace(/\/+$/, "");

let files;
let serving;
let reads;
let status;
const session = startShell({
  base: directory,
  onSignedIn(user) {
    reads = new ScopedToken(session, "TOKEN_SCOPE_READ");
    status = new ScopedToken(session, "TOKEN_SCOPE_STATUS", peerName);
    serving.status = status;
    files.show(peerName);
    // The directory issues a status token to the peer's owner only; the
    // page does not ask for what it would be refused.
    if (user === owner) serving.start();
    else serving.deny(owner);
  },
  onSignedOut() {
    reads?.forget();
    status?.forget();
    files.clear();
    serving.clear();
  },
});
// The file table lists through the read token, at the directory.
files = new FileTable(
  { call: (method, request, opts) => reads.call(method, request, { ...opts, base: directory }) },
  {
    table: byId("files-table"),
    body: byId("files-body"),
    status: byId("files-status"),
    more: byId("files-more"),
  },
);
serving = new Serving(null, {
  status: byId("serving-status"),
  summary: byId("serving-summary"),
  limits: byId("limits"),
  table: byId("transfers-table"),
  body: byId("transfers-body"),
  uploadsStatus: byId("uploads-status"),
  uploadsTable: byId("uploads-table"),
  uploadsBody: byId("uploads-body"),
});
byId("files-refresh").addEventListener("click", () => files.show(peerName));
session.resume();
