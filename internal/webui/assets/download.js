// "Download this file from this peer": a plain HTTP link to the peer,
// GET /files/{sha256}/{name}?token=…, that the directory issues for that
// peer and that content (IssueToken with sha256). The link's token is a
// download token for that one content at that one peer, valid minutes, so
// it is asked for at the moment of the click and never kept or shown.
// The download itself is a navigation to the peer's origin, which the
// dashboard's connect-src does not govern; the peer answers with
// Content-Disposition: attachment, so the page stays where it is.

import { el } from "./dom.js";

// baseName is the last segment of a shared file's name: what the file is
// saved as.
function baseName(name) {
  return (name ?? "").split("/").pop();
}

// downloadControl returns a button that downloads content sha256 (file
// name) from the peer named peer, or null when there is nothing to download
// from (no peer address or no hash).
export function downloadControl(session, { peer, address, sha256, name }) {
  if (!peer || !address || !sha256) return null;
  const saveAs = baseName(name);
  const status = el("span", { class: "muted", role: "status" });
  const button = el(
    "button",
    {
      type: "button",
      class: "link download",
      "data-sha256": sha256,
      "aria-label": `Download ${saveAs || sha256} from ${peer}`,
      onclick: async () => {
        button.disabled = true;
        status.textContent = "";
        try {
          const res = await session.call("IssueToken", {
            scope: "TOKEN_SCOPE_DOWNLOAD",
            peer,
            sha256,
            ...(saveAs ? { name: saveAs } : {}),
          });
          const a = el("a", { href: res.link, download: saveAs || sha256, hidden: true, rel: "noopener noreferrer" });
          document.body.append(a);
          a.click();
          a.remove();
          status.textContent = "started";
        } catch (err) {
          status.textContent = `cannot download: ${err.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    "Download",
  );
  return el("span", { class: "download-control" }, button, " ", status);
}
