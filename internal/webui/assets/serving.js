// What a peer serves now, from its Status: the running transfers with rate
// and progress, the queue, the limits, and the uploads it received.

import { APIError, PEER_SERVICE, isAbort } from "./api.js";
import { el, say } from "./dom.js";
import { fileName } from "./files.js";
import { ago, bytes } from "./format.js";

// REFRESH_MS is how often the page asks again, in milliseconds.
const REFRESH_MS = 2000;

const DIRECTIONS = {
  TRANSFER_DIRECTION_DOWNLOAD: "Sending",
  TRANSFER_DIRECTION_UPLOAD: "Receiving",
};

// capText describes a per-caller cap; 0 (or absent) is none.
function capText(n) {
  return Number(n ?? 0) === 0 ? "no cap" : `${n} transfers`;
}

// Serving shows status (a ScopedToken for this peer's Status) into parts
// {status, summary, limits, table, body, uploadsStatus, uploadsTable,
// uploadsBody}, refreshed every REFRESH_MS while started.
export class Serving {
  constructor(status, parts) {
    this.status = status;
    this.parts = parts;
    this.timer = 0;
    this.abort = null;
  }

  start() {
    this.stop();
    this.refresh();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.abort?.abort();
    this.abort = null;
  }

  // deny says that only owner sees what the peer serves.
  deny(owner) {
    this.clear();
    say(this.parts.status, `Only the account that owns this peer (${owner}) can see what it serves.`);
  }

  // clear forgets what is shown (at log out).
  clear() {
    this.stop();
    const p = this.parts;
    p.body.replaceChildren();
    p.uploadsBody.replaceChildren();
    p.table.hidden = p.uploadsTable.hidden = p.limits.hidden = true;
    p.summary.textContent = "";
    say(p.status, "");
    say(p.uploadsStatus, "");
  }

  async refresh() {
    const abort = new AbortController();
    this.abort = abort;
    try {
      this.show(await this.status.call("Status", {}, { service: PEER_SERVICE, signal: abort.signal }));
      say(this.parts.status, "");
    } catch (err) {
      if (isAbort(err)) return;
      say(this.parts.status, this.explain(err), "error");
    }
    if (this.abort === abort) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  explain(err) {
    if (!(err instanceof APIError)) return `Cannot ask this peer: ${err}`;
    if (err.code === "permission_denied") return "Only the account that owns this peer can see what it serves.";
    if (err.code === "not_found") return "This peer is not online at its directory.";
    return `Cannot ask this peer: ${err.message}`;
  }

  show(st) {
    const p = this.parts;
    const transfers = st.transfers ?? [];
    const limits = st.limits ?? {};
    const waiting = Number(st.waiting ?? 0);
    p.summary.textContent =
      `${transfers.length} of ${limits.maxTransfers ?? 0} transfers running, ` +
      `${waiting} waiting (the queue holds ${limits.maxQueue ?? 0}).`;
    p.limits.replaceChildren(
      ...limit("Per account", capText(limits.maxPerAccount)),
      ...limit("Per address", capText(limits.maxPerAddress)),
      ...limit("Send rate", Number(limits.maxRate ?? 0) > 0 ? `${bytes(limits.maxRate)}/s` : "unlimited"),
      ...limit(
        "Uploads",
        limits.acceptUploads
          ? `up to ${bytes(limits.maxUploadSize)} each; ${bytes(limits.uploadTotal)} of ${bytes(limits.maxUploadTotal)} stored`
          : "refused",
      ),
    );
    p.limits.hidden = false;
    p.body.replaceChildren(...transfers.map(transferRow));
    p.table.hidden = transfers.length === 0;

    const uploads = st.uploads ?? [];
    p.uploadsBody.replaceChildren(
      ...uploads.map((u) =>
        el(
          "tr",
          { "data-sha256": u.sha256 },
          el("td", {}, fileName(u.name)),
          el("td", { class: "num" }, bytes(u.size)),
          el("td", {}, u.account ?? ""),
          el("td", { class: "opt" }, ago(u.received)),
        ),
      ),
    );
    p.uploadsTable.hidden = uploads.length === 0;
    p.uploadsStatus.textContent = uploads.length === 0 ? "No upload received since this peer started." : "";
  }
}

// limit is one term of the limits list.
function limit(term, value) {
  return [el("dt", {}, term), el("dd", {}, value)];
}

// transferRow is one running transfer.
function transferRow(t) {
  const done = Number(t.bytesDone ?? 0);
  const size = Number(t.size ?? 0);
  const pct = size > 0 ? Math.floor((done * 100) / size) : 100;
  const label = `${bytes(done)} of ${bytes(size)}`;
  return el(
    "tr",
    { "data-sha256": t.sha256, "data-direction": t.direction },
    el("td", {}, DIRECTIONS[t.direction] ?? ""),
    el("td", {}, fileName(t.name ?? "")),
    el("td", { title: t.address ?? "" }, t.account ?? ""),
    el("td", { class: "num" }, `${bytes(t.rate)}/s`),
    el(
      "td",
      { class: "progress" },
      el("progress", { max: "100", value: String(pct), "aria-label": `${t.name}: ${pct}%` }),
      el("span", { class: "muted" }, ` ${label} (${pct}%)`),
    ),
  );
}
