-- Version 1: accounts, signing keys, sessions and the file index.
-- All times are INTEGER unix nanoseconds (0 = unset); liveness is always
-- "expires_at > now" with now bound by the caller.

CREATE TABLE accounts (
	name          TEXT PRIMARY KEY,
	password_hash BLOB NOT NULL,
	created       INTEGER NOT NULL
) WITHOUT ROWID;

-- seq keeps insertion order, the tie-break of "newest first".
CREATE TABLE signing_keys (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL UNIQUE,
	private BLOB NOT NULL,
	created INTEGER NOT NULL
);

-- seq is the compact key files refer to; id is the random session id.
-- file_count is maintained by the store so listing peers and stats do not
-- count a million rows.
CREATE TABLE sessions (
	seq        INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	username   TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	peer_name  TEXT NOT NULL,
	address    TEXT NOT NULL,
	created    INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	file_count INTEGER NOT NULL DEFAULT 0
);

-- At most one peer session (address <> '') holds a peer name, live or
-- expired-but-not-reaped; CreateSession drops an expired holder first.
-- It also orders ListPeers and ListFiles.
CREATE UNIQUE INDEX sessions_peer_name ON sessions (peer_name) WHERE address <> '';
CREATE INDEX sessions_username ON sessions (username);
-- No index on expires_at on purpose: every heartbeat would rewrite an index
-- entry, while the queries filtering on it (reap, stats, listings) visit
-- the sessions table in full or by peer name anyway.

-- id is the FTS rowid: search pages walk it in ascending order.
-- name_lower is strings.ToLower(name), computed in Go because SQLite's
-- lower() only folds ASCII.
CREATE TABLE files (
	id          INTEGER PRIMARY KEY,
	session_seq INTEGER NOT NULL REFERENCES sessions (seq) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	name_lower  TEXT NOT NULL,
	size        INTEGER NOT NULL,
	sha256      TEXT NOT NULL,
	piece_size  INTEGER NOT NULL,
	piece_root  TEXT NOT NULL,
	modified    INTEGER NOT NULL,
	UNIQUE (session_seq, name)
);

-- Content lookups (search by hash, grouping, sources); the implicit rowid
-- suffix serves "same content at a smaller id".
CREATE INDEX files_sha256 ON files (sha256);

-- Substring search: trigrams of the lowered name, FTS rowid = files.id.
-- Contentless (content = ''): search reads names from files, never from the
-- FTS table, and contentless_delete lets a row be removed by rowid alone,
-- without re-tokenizing the old name as an external-content table needs.
-- detail = none: search only ANDs single trigrams (see trigram.go), so
-- positions are not needed, which makes the index smaller and faster.
-- case_sensitive 1: names are already lowered in Go, so FTS matching agrees
-- exactly with instr() on name_lower.
CREATE VIRTUAL TABLE files_fts USING fts5 (
	name_lower,
	content = '',
	contentless_delete = 1,
	detail = none,
	tokenize = 'trigram case_sensitive 1'
);

-- Keep the FTS index in step with files in the same transaction, whoever
-- deletes (DeleteSession, ReapExpired, DeleteAccount cascade).
CREATE TRIGGER files_fts_insert AFTER INSERT ON files BEGIN
	INSERT INTO files_fts (rowid, name_lower) VALUES (new.id, new.name_lower);
END;

CREATE TRIGGER files_fts_delete AFTER DELETE ON files BEGIN
	DELETE FROM files_fts WHERE rowid = old.id;
END;

CREATE TRIGGER files_fts_update AFTER UPDATE OF name_lower ON files BEGIN
	DELETE FROM files_fts WHERE rowid = old.id;
	INSERT INTO files_fts (rowid, name_lower) VALUES (new.id, new.name_lower);
END;
