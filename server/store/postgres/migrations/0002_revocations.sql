-- Version 2: revoked sessions.
-- A session ended by a logout, by a new login of the same peer, or by the
-- removal of its account is recorded here for as long as a token of it
-- could still be alive at a peer (the directory forgets older rows): peers
-- learn the list with each heartbeat and refuse those sessions' tokens.
-- A session that merely expired is not listed. revoked_at is unix
-- nanoseconds, as every time in this schema.

CREATE TABLE revocations (
	session_id text PRIMARY KEY,
	revoked_at bigint NOT NULL
);

-- RevokedSessions and ForgetRevocations select by time.
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
