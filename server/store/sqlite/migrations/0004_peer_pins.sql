-- Version 4: each peer name's TLS identity.
--
-- A peer proves at login that it holds the TLS key it serves with; the
-- directory binds the key's pin (curl's sha256//base64 form) to the peer's
-- name, and search results and listings carry it so that clients accept
-- only that key at the peer's address. changed is when a login last
-- replaced a different pin (Unix nanoseconds; 0: never). The binding goes
-- with the name (released, or its account deleted).

CREATE TABLE peer_pins (
	name    TEXT PRIMARY KEY REFERENCES peer_names (name) ON DELETE CASCADE,
	pin     TEXT NOT NULL,
	bound   INTEGER NOT NULL,
	changed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
