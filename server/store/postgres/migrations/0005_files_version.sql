-- Version 5: a version of each session's files.
--
-- Every publish that changes a session's files (ReplaceFiles, ApplyDelta)
-- adds one, in the same transaction. A directory's in-memory index of live
-- files (package liveindex) compares it with the version it holds and
-- reloads only the sessions whose files changed, also when another replica
-- changed them. A constant default: adding the column rewrites no row.

ALTER TABLE sessions ADD COLUMN files_version bigint NOT NULL DEFAULT 0;
