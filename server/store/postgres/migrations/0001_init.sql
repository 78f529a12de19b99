-- Version 1: accounts, signing keys, sessions and the file index.
--
-- Times are bigint unix nanoseconds (0 = unset), not timestamptz: the store
-- hands back exactly the time it was given, and timestamptz would round to
-- microseconds. Liveness is always "expires_at > now" with now bound by the
-- caller, so replicas never depend on the database's clock.
--
-- Names that are ordered (accounts, peer names, file names) use the "C"
-- collation: byte order, the order every store implementation lists in,
-- whatever the database's locale.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE accounts (
	name          text COLLATE "C" PRIMARY KEY,
	password_hash bytea NOT NULL,
	created       bigint NOT NULL
);

-- seq keeps insertion order, the tie-break of "newest first".
CREATE TABLE signing_keys (
	seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id      text NOT NULL UNIQUE,
	private bytea NOT NULL,
	created bigint NOT NULL
);

-- seq is the compact key files refer to; id is the random session id.
-- file_count is maintained by the store so that listing peers and stats do
-- not count a million rows. fillfactor leaves room in every page so that a
-- heartbeat (an update of last_seen and expires_at, neither indexed) is a
-- HOT update: the new row version goes in the same page and no index is
-- touched.
CREATE TABLE sessions (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         text NOT NULL UNIQUE,
	username   text COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	peer_name  text COLLATE "C" NOT NULL,
	address    text NOT NULL,
	created    bigint NOT NULL,
	last_seen  bigint NOT NULL,
	expires_at bigint NOT NULL,
	file_count bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

-- At most one peer session (address <> '') holds a peer name, live or
-- expired-but-not-reaped; CreateSession drops an expired holder first. It
-- also orders ListPeers and ListFiles.
CREATE UNIQUE INDEX sessions_peer_name ON sessions (peer_name) WHERE address <> '';
CREATE INDEX sessions_username ON sessions (username);
-- No index on expires_at on purpose: every heartbeat would then write an
-- index entry (and stop being a HOT update), while the queries that filter
-- on it (reap, stats, listings) visit sessions in full or by peer name.

-- id orders search pages (keyset on id). name_lower is strings.ToLower(name),
-- computed in Go: PostgreSQL's lower() depends on the database's locale and
-- folds only ASCII under "C". sha256 and piece_root are the 32 raw bytes of
-- the hex the API speaks, half the size of the text.
CREATE TABLE files (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	session_seq bigint NOT NULL REFERENCES sessions (seq) ON DELETE CASCADE,
	name        text COLLATE "C" NOT NULL,
	name_lower  text COLLATE "C" NOT NULL,
	size        bigint NOT NULL,
	sha256      bytea NOT NULL,
	piece_size  integer NOT NULL,
	piece_root  bytea NOT NULL,
	modified    bigint NOT NULL,
	UNIQUE (session_seq, name)
);

-- Content lookups (search by hash, grouping, sources); the id suffix
-- answers "a matching row of the same content with a smaller id" in one
-- descent.
CREATE INDEX files_sha256 ON files (sha256, id);

-- Substring search: trigrams of the lowered name answer
-- name_lower LIKE '%query%'.
CREATE INDEX files_name_trgm ON files USING gin (name_lower gin_trgm_ops);

-- Search asks the planner how many names a pattern matches to choose
-- between the trigram index and a walk in id order; the planner tests the
-- pattern on the column's histogram, and 1000 entries (not 100) tell apart
-- the 0.1 % of a million names where the two strategies cost the same.
ALTER TABLE files ALTER COLUMN name_lower SET STATISTICS 1000;
