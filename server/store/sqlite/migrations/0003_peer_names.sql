-- Version 3: peer names belong to accounts.
--
-- The first account that logs a peer in under a name owns the name, online
-- or not, until it releases it (or an admin does) or the account is
-- deleted: another account can no longer take the name while its owner is
-- offline. (Version 2 is another change's step; steps are numbered by the
-- change that adds them.)

CREATE TABLE peer_names (
	name     TEXT PRIMARY KEY,
	username TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	created  INTEGER NOT NULL
) WITHOUT ROWID;

-- Deleting an account finds its names by this index (the cascade).
CREATE INDEX peer_names_username ON peer_names (username);

-- The names peer sessions hold now, live or expired but not reaped, belong
-- to their accounts: the unique index on sessions (peer_name) leaves at most
-- one holder per name.
INSERT INTO peer_names (name, username, created)
	SELECT peer_name, username, created FROM sessions WHERE address <> '';
