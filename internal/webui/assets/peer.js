// A peer's dashboard: what the peer shares, as its directory lists it
// (ListFiles for this peer, through the directory methods the peer
// forwards, so the page talks only to its own origin).
//
// What the peer is serving now (transfers, queue, rates) and the uploads
// it received are not part of its API yet; the page says so rather than
// guess.

import { byId } from "./dom.js";
import { FileTable } from "./files.js";
import { startShell } from "./shell.js";

// The page's server names its peer in <meta name="peerhub-peer">.
const peerName = document.querySelector('meta[name="peerhub-peer"]').content;

let files;
const session = startShell({
  onSignedIn() {
    files.show(peerName);
  },
  onSignedOut() {
    files.clear();
  },
});
files = new FileTable(session, {
  table: byId("files-table"),
  body: byId("files-body"),
  status: byId("files-status"),
  more: byId("files-more"),
});
byId("files-refresh").addEventListener("click", () => files.show(peerName));
session.resume();
