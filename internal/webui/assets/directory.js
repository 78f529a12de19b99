// The directory's dashboard: live search, online peers with their
// accounts, a peer's files, and the sources of a content.

import { APIError, isAbort } from "./api.js";
import { byId, el, say } from "./dom.js";
import { downloadControl } from "./download.js";
import { FileTable, fileName } from "./files.js";
import { ago, bytes, shortHash, when } from "./format.js";
import { startShell } from "./shell.js";

// DEBOUNCE_MS is how long typing must pause before a search is sent.
const DEBOUNCE_MS = 250;
// MIN_QUERY is the shortest name query the directory accepts, in characters.
const MIN_QUERY = 3;
// Page sizes of Search and ListPeers.
const SEARCH_PAGE = 50;
const PEERS_PAGE = 100;

const SHA256 = /^[0-9a-f]{64}$/i;

const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

let session;
let files;

// ---- search ----

const search = {
  input: byId("search-input"),
  status: byId("search-status"),
  list: byId("search-results"),
  more: byId("search-more"),
  timer: 0,
  abort: null,
  request: null,
  next: "",
  count: 0,
};

// searchRequest turns what the user typed into a SearchRequest, or a hint
// of what is missing.
function searchRequest(text) {
  const q = text.trim();
  if (q === "") return { hint: "" };
  if (SHA256.test(q)) return { request: { sha256: q.toLowerCase() }, what: `content ${shortHash(q.toLowerCase())}` };
  if ([...q].length < MIN_QUERY) return { hint: `Type at least ${MIN_QUERY} characters.` };
  return { request: { query: q }, what: `“${q}”` };
}

function clearSearch(hint) {
  search.abort?.abort();
  clearTimeout(search.timer);
  search.list.replaceChildren();
  search.more.hidden = true;
  say(search.status, hint);
}

// runSearch sends the search for the input's text now.
async function runSearch() {
  clearTimeout(search.timer);
  const { request, what, hint } = searchRequest(search.input.value);
  if (!request) {
    clearSearch(hint);
    return;
  }
  search.request = { ...request, what };
  search.next = "";
  search.count = 0;
  await fetchResults(true);
}

async function fetchResults(fresh) {
  search.abort?.abort();
  const abort = new AbortController();
  search.abort = abort;
  const { what, ...request } = search.request;
  say(search.status, `Searching ${what}…`);
  search.more.disabled = true;
  try {
    const res = await session.call(
      "Search",
      { ...request, pageSize: SEARCH_PAGE, pageToken: search.next },
      { signal: abort.signal },
    );
    const results = res.results ?? [];
    if (fresh) search.list.replaceChildren();
    search.list.append(...results.map(resultItem));
    search.count += results.length;
    search.next = res.nextPageToken ?? "";
    search.more.hidden = !search.next;
    say(
      search.status,
      search.count === 0
        ? `Nothing online matches ${what}.`
        : `${plural(search.count, "content")} ${search.count === 1 ? "matches" : "match"} ${what}${search.next ? " so far" : ""}.`,
    );
  } catch (err) {
    if (isAbort(err)) return;
    if (fresh) search.list.replaceChildren();
    search.more.hidden = true;
    say(search.status, `Search failed: ${err instanceof APIError ? err.message : err}`, "error");
  } finally {
    search.more.disabled = false;
  }
}

// resultItem shows one content: its names, size, hash and every source.
function resultItem(r) {
  const [first, ...others] = r.names ?? [];
  const sources = el(
    "ul",
    { class: "sources", "aria-label": `Sources of ${first}` },
    ...(r.sources ?? []).map((s) => sourceItem(r, s)),
  );
  return el(
    "li",
    { class: "result", "data-sha256": r.sha256 },
    el(
      "div",
      { class: "result-head" },
      el("strong", {}, fileName(first ?? "")),
      el("span", { class: "meta" }, bytes(r.size), " · ", el("code", { title: r.sha256 }, shortHash(r.sha256))),
    ),
    others.length ? el("p", { class: "aka" }, "Also named: ", others.join(", ")) : null,
    el("p", { class: "sources-title" }, plural((r.sources ?? []).length, "source")),
    sources,
  );
}

function sourceItem(r, s) {
  const item = el(
    "li",
    { "data-peer": s.peer },
    el(
      "button",
      { type: "button", class: "link peer", "aria-label": `Browse the files of ${s.peer}`, onclick: () => browse(s.peer) },
      s.peer,
    ),
    " ",
    el("span", { class: "name" }, s.name),
    " ",
    el("span", { class: "muted", title: when(s.lastSeen) }, `seen ${ago(s.lastSeen)}`),
  );
  const dl = downloadControl(session, { peer: s.peer, address: s.address, sha256: r.sha256, name: s.name });
  if (dl) item.append(" ", dl);
  return item;
}

// showSources searches for one content, which lists all its sources.
function showSources(sha256) {
  search.input.value = sha256;
  runSearch();
  byId("search-title").focus();
  byId("search").scrollIntoView({ block: "start" });
}

search.input.addEventListener("input", () => {
  clearTimeout(search.timer);
  const { request, hint } = searchRequest(search.input.value);
  if (!request) {
    clearSearch(hint);
    return;
  }
  search.timer = setTimeout(runSearch, DEBOUNCE_MS);
});
byId("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  runSearch();
});
search.more.addEventListener("click", () => fetchResults(false));

// ---- peers ----

const peers = {
  table: byId("peers-table"),
  body: byId("peers-body"),
  status: byId("peers-status"),
  more: byId("peers-more"),
  refresh: byId("peers-refresh"),
  next: "",
  count: 0,
  abort: null,
};

async function loadPeers(fresh) {
  peers.abort?.abort();
  const abort = new AbortController();
  peers.abort = abort;
  if (fresh) {
    peers.next = "";
    peers.count = 0;
  }
  say(peers.status, "Loading online peers…");
  peers.more.disabled = peers.refresh.disabled = true;
  try {
    const res = await session.call("ListPeers", { pageSize: PEERS_PAGE, pageToken: peers.next }, { signal: abort.signal });
    const list = res.peers ?? [];
    if (fresh) peers.body.replaceChildren();
    peers.body.append(...list.map(peerRow));
    peers.count += list.length;
    peers.next = res.nextPageToken ?? "";
    peers.table.hidden = peers.count === 0;
    peers.more.hidden = !peers.next;
    say(peers.status, peers.count === 0 ? "No peer is online." : `${plural(peers.count, "peer")} online${peers.next ? " so far" : ""}.`);
  } catch (err) {
    if (isAbort(err)) return;
    say(peers.status, `Cannot list the peers: ${err instanceof APIError ? err.message : err}`, "error");
  } finally {
    peers.more.disabled = peers.refresh.disabled = false;
  }
}

// safeURL returns address if it is an http(s) URL, for a link.
function safeURL(address) {
  try {
    const u = new URL(address);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

function peerRow(p) {
  const href = safeURL(p.address);
  return el(
    "tr",
    { "data-peer": p.name },
    el(
      "th",
      { scope: "row" },
      el("button", { type: "button", class: "link peer", "aria-label": `Browse the files of ${p.name}`, onclick: () => browse(p.name) }, p.name),
    ),
    el("td", { class: "account-cell" }, p.username ?? ""),
    el("td", { class: "num" }, String(Number(p.fileCount ?? 0))),
    el("td", { class: "opt", title: when(p.onlineSince) }, ago(p.onlineSince)),
    el("td", { class: "opt" }, href ? el("a", { href, rel: "noopener noreferrer", target: "_blank" }, p.address) : p.address ?? ""),
  );
}

peers.refresh.addEventListener("click", () => loadPeers(true));
peers.more.addEventListener("click", () => loadPeers(false));

// ---- a peer's files ----

async function browse(peer) {
  const section = byId("files");
  section.hidden = false;
  const title = byId("files-title");
  title.textContent = `Files of ${peer}`;
  title.focus();
  section.scrollIntoView({ block: "start" });
  await files.show(peer);
}

// ---- start ----

session = startShell({
  onSignedIn() {
    loadPeers(true);
    search.input.focus();
    if (search.input.value) runSearch();
  },
  onSignedOut() {
    clearSearch("");
    peers.abort?.abort();
    peers.body.replaceChildren();
    peers.table.hidden = true;
    say(peers.status, "");
    files.clear();
    byId("files").hidden = true;
  },
});
files = new FileTable(
  session,
  { table: byId("files-table"), body: byId("files-body"), status: byId("files-status"), more: byId("files-more") },
  { onSources: showSources },
);
session.resume();
