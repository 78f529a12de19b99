package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Change is one publish (store.Store.ReplaceFiles or ApplyDelta) inside a
// store's write transaction: the statements whose SQL and encodings are the
// store's own, for the change's files, which the store has checked and
// encoded before the transaction. R is a file as stored, compared to skip
// unchanged entries.
type Change[R comparable] interface {
	// LivePeer returns the seq and file count of the session id if it is
	// a peer session live at now (SQLLivePeer), locked against other
	// changes of its index where the database needs it, or an error
	// wrapping sql.ErrNoRows or store.ErrNotFound.
	LivePeer(ctx context.Context, id string, now time.Time) (seq, count int64, err error)
	// Stored returns the session's stored files by name (see
	// StoredFiles).
	Stored(ctx context.Context, seq int64) (map[string]R, error)
	// Row returns the change's i-th file as stored.
	Row(i int) R
	// Write writes a snapshot's diff with the stored index.
	Write(ctx context.Context, seq int64, d Diff) error
	// Remove deletes the session's files of the given names, and
	// returns how many it deleted.
	Remove(ctx context.Context, seq int64, names []string) (int64, error)
	// CountStored returns how many of the change's files' names the
	// session has stored.
	CountStored(ctx context.Context, seq int64) (int64, error)
	// Upsert adds the change's files, replacing stored ones of the same
	// name.
	Upsert(ctx context.Context, seq int64) error
	// SetCount records the session's file count (SQLSetFileCount).
	SetCount(ctx context.Context, seq, n int64) error
	// AccountFiles returns the file count of the other peer sessions live
	// at now of session seq's account (SQLAccountFiles). LivePeer has
	// made the account's publishes take turns where the database needs
	// it, so that the count holds until the transaction ends.
	AccountFiles(ctx context.Context, seq int64, now time.Time) (int64, error)
}

// Statements of a Change that are the same in both schemas.
const (
	// SQLLivePeer selects the seq and file count of session $1 if it is
	// a peer session live at $2.
	SQLLivePeer = `SELECT seq, file_count FROM sessions WHERE id = $1 AND expires_at > $2 AND address <> ''`
	// SQLStoredFiles selects the files of session seq $1, name first
	// then the columns of a file as stored.
	SQLStoredFiles = `SELECT name, size, sha256, piece_size, piece_root, modified FROM files WHERE session_seq = $1`
	// SQLSetFileCount sets the file count ($1) of session seq $2 and
	// moves its files version on (store.IndexedPeer.FilesVersion): every
	// change ends with it.
	SQLSetFileCount = `UPDATE sessions SET file_count = $1, files_version = files_version + 1 WHERE seq = $2`
	// SQLAccountFiles sums the file counts of the peer sessions live at
	// $2 of the account of session seq $1, that session excluded.
	SQLAccountFiles = `SELECT CAST(coalesce(sum(o.file_count), 0) AS BIGINT)
		FROM sessions s JOIN sessions o ON o.username = s.username
		WHERE s.seq = $1 AND o.seq <> $1 AND o.expires_at > $2 AND o.address <> ''`
)

// checkAccount fails with TooManyAccountFiles if a change that leaves
// session seq with n files, from old, would leave its account with more
// than limits.Account across its live peers. A change that does not grow
// the session's index passes, so that an account over its limit (a limit
// lowered since) can always shrink.
func checkAccount[R comparable](ctx context.Context, c Change[R], sessionID string, seq, old, n int64, limits store.FileLimits, now time.Time) error {
	if n <= old {
		return nil
	}
	others, err := c.AccountFiles(ctx, seq, now)
	if err != nil {
		return err
	}
	if others+n > int64(limits.Account) {
		return TooManyAccountFiles(sessionID, others+n, limits.Account)
	}
	return nil
}

// livePeer is c.LivePeer, with a missing row as store.ErrNotFound.
func livePeer[R comparable](ctx context.Context, c Change[R], id string, now time.Time) (seq, count int64, err error) {
	seq, count, err = c.LivePeer(ctx, id, now)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("peer session %s: %w", id, store.ErrNotFound)
	}
	return seq, count, err
}

// StoredFiles reads the files of session seq by name (SQLStoredFiles) with
// q, for Change.Stored: scan reads one row, its name into name and the
// rest into the file as stored, which it returns.
func StoredFiles[R any](ctx context.Context, q Querier, seq int64, scan func(r Row, name *string) (R, error)) (map[string]R, error) {
	rows, err := q.Query(ctx, SQLStoredFiles, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]R)
	var name string
	for rows.Next() {
		r, err := scan(rows, &name)
		if err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, rows.Err()
}

// ReplaceFiles is store.Store.ReplaceFiles inside the transaction of c,
// whose files are the snapshot files: it writes only the snapshot's diff
// with the stored index, which it returns. An error leaves the transaction
// to be rolled back.
func ReplaceFiles[R comparable](ctx context.Context, c Change[R], sessionID string, files []store.File, limits store.FileLimits, now time.Time) (Diff, error) {
	seq, old, err := livePeer(ctx, c, sessionID, now)
	if err != nil {
		return Diff{}, err
	}
	if len(files) > limits.Peer {
		return Diff{}, TooManyFiles(sessionID, int64(len(files)), limits.Peer)
	}
	if err := checkAccount(ctx, c, sessionID, seq, old, int64(len(files)), limits, now); err != nil {
		return Diff{}, err
	}
	stored, err := c.Stored(ctx, seq)
	if err != nil {
		return Diff{}, err
	}
	d := DiffSnapshot(files, stored, c.Row)
	if err := c.Write(ctx, seq, d); err != nil {
		return Diff{}, err
	}
	return d, c.SetCount(ctx, seq, int64(len(files)))
}

// ApplyDelta is store.Store.ApplyDelta inside the transaction of c, whose
// files are the added files (added of them), and returns the new file
// count: the old one, minus the rows the removal deleted, plus the added
// names not stored yet. Over the limit it fails with the transaction to be
// rolled back, so that nothing changes.
func ApplyDelta[R comparable](ctx context.Context, c Change[R], sessionID string, added int, removed []string, limits store.FileLimits, now time.Time) (int64, error) {
	seq, n, err := livePeer(ctx, c, sessionID, now)
	if err != nil {
		return 0, err
	}
	old := n
	if len(removed) > 0 {
		gone, err := c.Remove(ctx, seq, removed)
		if err != nil {
			return 0, err
		}
		n -= gone
	}
	if added > 0 {
		existing, err := c.CountStored(ctx, seq)
		if err != nil {
			return 0, err
		}
		n += int64(added) - existing
		if n > int64(limits.Peer) {
			return 0, TooManyFiles(sessionID, n, limits.Peer)
		}
		if err := checkAccount(ctx, c, sessionID, seq, old, n, limits, now); err != nil {
			return 0, err
		}
		if err := c.Upsert(ctx, seq); err != nil {
			return 0, err
		}
	}
	return n, c.SetCount(ctx, seq, n)
}

// Diff is what publishing a snapshot changes in a peer's stored index, so
// that a store writes only that: a peer republishing a mostly unchanged
// snapshot costs few index writes, and unchanged entries keep their rows
// (and so their place in search order).
type Diff struct {
	// Insert are the snapshot's entries under names not stored, by
	// index in the snapshot.
	Insert []int
	// Update are the snapshot's entries stored under their name with
	// other values, by index in the snapshot.
	Update []int
	// Gone are the stored names the snapshot does not have, in no order.
	Gone []string
}

// DiffSnapshot compares the snapshot files with the stored rows by name.
// row(i) is the stored form of files[i]; rows that compare equal are
// unchanged. It removes from stored every name of the snapshot.
func DiffSnapshot[R comparable](files []store.File, stored map[string]R, row func(i int) R) Diff {
	var d Diff
	for i, f := range files {
		o, ok := stored[f.Name]
		switch {
		case !ok:
			d.Insert = append(d.Insert, i)
		case o != row(i):
			d.Update = append(d.Update, i)
		}
		delete(stored, f.Name)
	}
	d.Gone = make([]string, 0, len(stored))
	for name := range stored {
		d.Gone = append(d.Gone, name)
	}
	return d
}
