package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// t0 is the suite's "now". It has a nanosecond part so a store that rounds
// times is caught.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 89, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// noLimit is a number of files or sessions no test reaches.
const noLimit = 1 << 20

// bigLimit are file limits that no test reaches.
var bigLimit = store.FileLimits{Peer: noLimit, Account: noLimit}

// peerLimit are file limits of at most n files per peer, and none per
// account that a test reaches.
func peerLimit(n int) store.FileLimits { return store.FileLimits{Peer: n, Account: noLimit} }

// hashOf is the hex SHA-256 of s, used as a content id.
func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// file returns an index entry for name whose content is identified by
// content: equal content, equal hash, size and piece data.
func file(name, content string) store.File {
	return store.File{
		Name:      name,
		Size:      int64(len(content)) * 1000,
		SHA256:    hashOf(content),
		PieceSize: 1 << 18,
		PieceRoot: hashOf("pieces of " + content),
		Modified:  time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

// mustAccount creates an account or fails the test.
func mustAccount(t *testing.T, s store.Store, name string) {
	t.Helper()
	err := s.CreateAccount(t.Context(), store.Account{Name: name, PasswordHash: []byte("hash:" + name), Created: at(-time.Hour)})
	if err != nil {
		t.Fatalf("CreateAccount(%s): %v", name, err)
	}
}

// peerSession describes a peer session expiring at exp.
func peerSession(id, user, peer string, exp time.Time) store.Session {
	return store.Session{
		ID:        id,
		Username:  user,
		PeerName:  peer,
		Address:   "https://" + peer + ".example:7443",
		Created:   t0,
		LastSeen:  t0,
		ExpiresAt: exp,
	}
}

// clientSession describes a client session expiring at exp.
func clientSession(id, user string, exp time.Time) store.Session {
	return store.Session{ID: id, Username: user, Created: t0, LastSeen: t0, ExpiresAt: exp}
}

// mustSession creates a session at t0 or fails the test.
func mustSession(t *testing.T, s store.Store, sess store.Session) {
	t.Helper()
	if err := s.CreateSession(t.Context(), sess, noLimit, t0); err != nil {
		t.Fatalf("CreateSession(%s): %v", sess.ID, err)
	}
}

// mustReplace publishes files for a session at t0 or fails the test.
func mustReplace(t *testing.T, s store.Store, id string, files ...store.File) {
	t.Helper()
	n, err := s.ReplaceFiles(t.Context(), id, files, bigLimit, t0)
	if err != nil {
		t.Fatalf("ReplaceFiles(%s): %v", id, err)
	}
	if n != int64(len(files)) {
		t.Fatalf("ReplaceFiles(%s) = %d, want %d", id, n, len(files))
	}
}

// wantErr fails the test unless err wraps want (nil means no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// step is one operation of a sequence and the error it must return (nil
// for none).
type step struct {
	name string
	op   func() error
	want error
}

// runSteps runs steps in order, each as a subtest that checks its error.
func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { wantErr(t, st.name, st.op(), st.want) })
	}
}

// normTime makes times from different stores comparable with DeepEqual:
// no monotonic reading, UTC.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

func normSession(s store.Session) store.Session {
	s.Created, s.LastSeen, s.ExpiresAt = normTime(s.Created), normTime(s.LastSeen), normTime(s.ExpiresAt)
	return s
}

func normFile(f store.File) store.File {
	f.Modified = normTime(f.Modified)
	return f
}

func normAccount(a store.Account) store.Account {
	a.Created = normTime(a.Created)
	if len(a.PasswordHash) == 0 {
		a.PasswordHash = nil
	}
	return a
}

func normKey(k store.SigningKey) store.SigningKey {
	k.Created = normTime(k.Created)
	return k
}

func normResult(r store.SearchResult) store.SearchResult {
	r.Names = slices.Clone(r.Names)
	r.Sources = slices.Clone(r.Sources)
	for i := range r.Sources {
		r.Sources[i].LastSeen = normTime(r.Sources[i].LastSeen)
	}
	return r
}

// same fails the test unless got and want are deeply equal.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

// show formats v readably for a failure message.
func show(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return s
}

// walk follows page tokens from the first page to the last and returns the
// concatenated items, failing the test on an error, an oversized page, an
// empty non-final page or a token loop.
func walk[T any](t *testing.T, size int, list func(token string) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	token := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		items, next, err := list(token)
		if err != nil {
			t.Fatalf("page %d (token %q): %v", page, token, err)
		}
		if len(items) > size {
			t.Fatalf("page %d: %d items, page size %d", page, len(items), size)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 {
			t.Fatalf("page %d: empty page with a next token", page)
		}
		if seen[next] {
			t.Fatalf("page %d: token %q repeats", page, next)
		}
		seen[next] = true
		token = next
	}
}

// searchAll pages through a search with the given page size.
func searchAll(t *testing.T, s store.Store, q store.SearchQuery, size int, now time.Time) []store.SearchResult {
	t.Helper()
	q.PageSize = size
	rs := walk(t, size, func(tok string) ([]store.SearchResult, string, error) {
		q.PageToken = tok
		return s.Search(t.Context(), q, now)
	})
	for i := range rs {
		rs[i] = normResult(rs[i])
	}
	return rs
}

// hashes returns the SHA256 of each result, in order.
func hashes(rs []store.SearchResult) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.SHA256
	}
	return out
}

// sortedCopy returns a sorted copy of ss.
func sortedCopy(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

// listFiles pages through ListFiles.
func listFiles(t *testing.T, s store.Store, peer string, size int, now time.Time) []store.PeerFile {
	t.Helper()
	fs := walk(t, size, func(tok string) ([]store.PeerFile, string, error) {
		return s.ListFiles(t.Context(), peer, store.Page{Size: size, Token: tok}, now)
	})
	for i := range fs {
		fs[i].File = normFile(fs[i].File)
	}
	return fs
}

// fileKeys returns "peer:name" of each listed file, in order.
func fileKeys(fs []store.PeerFile) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Peer + ":" + f.File.Name
	}
	return out
}

// listPeers pages through ListPeers.
func listPeers(t *testing.T, s store.Store, size int, now time.Time) []store.Peer {
	t.Helper()
	ps := walk(t, size, func(tok string) ([]store.Peer, string, error) {
		return s.ListPeers(t.Context(), store.Page{Size: size, Token: tok}, now)
	})
	for i := range ps {
		ps[i].Session = normSession(ps[i].Session)
	}
	return ps
}

// peerNames returns "peer=count" of each listed peer, in order.
func peerNames(ps []store.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Session.PeerName + "=" + fmt.Sprint(p.FileCount)
	}
	return out
}

// mustStats returns the stats at now or fails the test.
func mustStats(t *testing.T, s store.Store, now time.Time) store.Stats {
	t.Helper()
	st, err := s.Stats(t.Context(), now)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// searchNow is when search tests look: the fixtures' "expired-peer" has
// expired by then, every other peer is live.
var searchNow = at(2 * time.Minute)

// loadPeers creates one account, a live peer session per entry of peers
// (session id "sess-"+peer) with its files, a client session, and an
// "expired-peer" that published a copy of every file plus extra before it
// expired at searchNow. Nothing of the expired peer or client may ever show.
func loadPeers(t *testing.T, s store.Store, peers map[string][]store.File, extra ...store.File) {
	t.Helper()
	mustAccount(t, s, "user")
	mustAccount(t, s, "ghost")
	// The expired peer publishes first, so its copies have the smallest
	// row ids in an implementation that numbers rows: an expired earlier
	// copy must not hide a live later one.
	var all []store.File
	names := map[string]bool{}
	for _, files := range peers {
		for _, f := range files {
			if !names[f.Name] {
				names[f.Name] = true
				all = append(all, f)
			}
		}
	}
	mustSession(t, s, peerSession("sess-expired", "ghost", "expired-peer", at(time.Minute)))
	mustReplace(t, s, "sess-expired", append(all, extra...)...)
	for peer, files := range peers {
		mustSession(t, s, peerSession("sess-"+peer, "user", peer, at(time.Hour)))
		mustReplace(t, s, "sess-"+peer, files...)
	}
	mustSession(t, s, clientSession("sess-client", "user", at(time.Hour)))
}
