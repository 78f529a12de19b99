// A table of one peer's shared files, a page at a time, from the
// directory's ListFiles.

import { APIError, isAbort } from "./api.js";
import { el, say } from "./dom.js";
import { downloadControl } from "./download.js";
import { bytes, shortHash, splitName, when } from "./format.js";

// PAGE_SIZE is how many files one ListFiles call asks for.
const PAGE_SIZE = 200;

// fileName shows a name with its folder muted: "music/" "song.ogg".
export function fileName(name) {
  const [dir, base] = splitName(name);
  return el("span", { class: "name" }, dir ? el("span", { class: "dir" }, dir) : null, base);
}

// FileTable lists a peer's files into the elements {table, body, status,
// more}. onSources(sha256, name), if given, adds a "Sources" button to
// each row.
export class FileTable {
  constructor(session, parts, { onSources } = {}) {
    this.session = session;
    this.parts = parts;
    this.onSources = onSources;
    this.peer = "";
    this.next = "";
    this.count = 0;
    this.abort = null;
    parts.more.addEventListener("click", () => this.load());
  }

  // show lists peer's files from the first page.
  async show(peer) {
    this.abort?.abort();
    this.peer = peer;
    this.next = "";
    this.count = 0;
    this.parts.body.replaceChildren();
    this.parts.table.hidden = true;
    this.parts.more.hidden = true;
    await this.load();
  }

  // clear forgets the listed files (at log out).
  clear() {
    this.abort?.abort();
    this.peer = "";
    this.parts.body.replaceChildren();
    this.parts.table.hidden = true;
    this.parts.more.hidden = true;
    say(this.parts.status, "");
  }

  async load() {
    const { table, body, status, more } = this.parts;
    const abort = new AbortController();
    this.abort = abort;
    more.disabled = true;
    say(status, `Loading the files of ${this.peer}…`);
    try {
      const res = await this.session.call(
        "ListFiles",
        { peer: this.peer, pageSize: PAGE_SIZE, pageToken: this.next },
        { signal: abort.signal },
      );
      const files = res.files ?? [];
      body.append(...files.map((f) => this.row(f)));
      this.count += files.length;
      this.next = res.nextPageToken ?? "";
      table.hidden = this.count === 0;
      more.hidden = !this.next;
      say(
        status,
        this.count === 0
          ? `${this.peer} shares no file, or is not online.`
          : `${this.count} file${this.count === 1 ? "" : "s"}${this.next ? " so far" : ""}.`,
      );
    } catch (err) {
      if (isAbort(err)) return;
      say(status, `Cannot list the files: ${err instanceof APIError ? err.message : err}`, "error");
    } finally {
      more.disabled = false;
    }
  }

  row({ peer, address, file }) {
    const content = el("td", { class: "content" }, el("code", { title: file.sha256 }, shortHash(file.sha256)));
    if (this.onSources) {
      content.append(
        el(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Sources of ${file.name}`,
            onclick: () => this.onSources(file.sha256, file.name),
          },
          "Sources",
        ),
      );
    }
    const dl = downloadControl(this.session, { peer, address, sha256: file.sha256, name: file.name });
    if (dl) content.append(dl);
    return el(
      "tr",
      { "data-sha256": file.sha256 },
      el("td", {}, fileName(file.name)),
      el("td", { class: "num" }, bytes(file.size)),
      el("td", { class: "opt" }, when(file.modified)),
      content,
    );
  }
}
