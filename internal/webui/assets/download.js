// The place for "download this file from this peer".
//
// Downloads will be plain HTTP links to a peer, GET /files/{sha256}/{name},
// signed by a short-lived transfer token that the directory issues for that
// peer and that content. The directory's API has no method that issues
// such a link yet, so no control is offered: the dashboard offers only what
// the API can do. When the method exists, downloadControl asks for a link
// through the session and returns an <a download> to it; every file row of
// the dashboard (search sources, a peer's files) already calls it.

// downloadControl returns the element that downloads content sha256 (file
// name) from the peer at address, or null when none can be offered.
export function downloadControl(session, { peer, address, sha256, name }) {
  return null;
}
