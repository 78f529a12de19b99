// The suite's tests of a peer's index: whole snapshots and deltas.

package storetest

import (
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

func testReplaceFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustSession(t, s, peerSession("p", "alice", "attic", at(time.Hour)))

	a := file("a.txt", "A")
	b := file("b.txt", "B")
	c := file("dir/c.txt", "C")
	b2 := file("b.txt", "B2")
	d := file("d.txt", "D")

	steps := []struct {
		name  string
		files []store.File
		limit int
		want  error
		count int64
		// state is the listing afterwards, also when the step failed.
		state []store.File
	}{
		{"first snapshot", []store.File{c, a, b}, 10, nil, 3, []store.File{a, b, c}},
		{"second snapshot replaces", []store.File{d, b2}, 10, nil, 2, []store.File{b2, d}},
		{"duplicate names", []store.File{a, file("a.txt", "other")}, 10, store.ErrInvalidArgument, 0, []store.File{b2, d}},
		{"over limit", []store.File{a, b, c}, 2, store.ErrLimit, 0, []store.File{b2, d}},
		{"at limit", []store.File{a, b}, 2, nil, 2, []store.File{a, b}},
		{"empty snapshot", nil, 2, nil, 0, nil},
		{"same snapshot twice", []store.File{a, c}, 2, nil, 2, []store.File{a, c}},
		{"same snapshot twice, again", []store.File{a, c}, 2, nil, 2, []store.File{a, c}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.ReplaceFiles(ctx, "p", st.files, peerLimit(st.limit), t0)
			wantErr(t, "ReplaceFiles", err, st.want)
			if err == nil {
				same(t, "count", n, st.count)
			}
			var got []store.File
			for _, f := range listFiles(t, s, "attic", 2, t0) {
				got = append(got, f.File)
			}
			var want []store.File
			for _, f := range st.state {
				want = append(want, normFile(f))
			}
			same(t, "files", got, want)
			same(t, "stats", mustStats(t, s, t0).IndexedFiles, int64(len(st.state)))
			// The search index follows: every listed content is found
			// by name, nothing else is.
			rs := searchAll(t, s, store.SearchQuery{Query: ".txt"}, 2, t0)
			var wantHashes []string
			for _, f := range st.state {
				wantHashes = append(wantHashes, f.SHA256)
			}
			same(t, "search", sortedCopy(hashes(rs)), sortedCopy(wantHashes))
		})
	}
	_, err := s.ReplaceFiles(ctx, "nope", []store.File{a}, peerLimit(10), t0)
	wantErr(t, "unknown session", err, store.ErrNotFound)
}

func testApplyDelta(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustSession(t, s, peerSession("p", "alice", "attic", at(time.Hour)))
	a, b, c := file("a.txt", "A"), file("b.txt", "B"), file("c.txt", "C")
	d, e, f := file("d.txt", "D"), file("e.txt", "E"), file("f.txt", "F")
	b2, c2 := file("b.txt", "B2"), file("c.txt", "C2")
	mustReplace(t, s, "p", a, b, c)

	steps := []struct {
		name    string
		added   []store.File
		removed []string
		limit   int
		want    error
		state   []store.File // the listing afterwards, also on failure
	}{
		{"add and remove", []store.File{d}, []string{"a.txt"}, 10, nil, []store.File{b, c, d}},
		{"same delta again", []store.File{d}, []string{"a.txt"}, 10, nil, []store.File{b, c, d}},
		{"absent names ignored", nil, []string{"zzz.txt", "a.txt"}, 10, nil, []store.File{b, c, d}},
		{"replace by name", []store.File{b2}, nil, 10, nil, []store.File{b2, c, d}},
		{"remove then add the same name", []store.File{c2}, []string{"c.txt"}, 10, nil, []store.File{b2, c2, d}},
		{"duplicate added names", []store.File{e, e}, nil, 10, store.ErrInvalidArgument, []store.File{b2, c2, d}},
		{"up to the limit", []store.File{e, f}, []string{"d.txt"}, 4, nil, []store.File{b2, c2, e, f}},
		{"over the limit changes nothing", []store.File{a, d}, []string{"e.txt"}, 4, store.ErrLimit, []store.File{b2, c2, e, f}},
		{"replacing at the limit", []store.File{b, c}, nil, 4, nil, []store.File{b, c, e, f}},
		{"empty delta", nil, nil, 4, nil, []store.File{b, c, e, f}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.ApplyDelta(ctx, "p", st.added, st.removed, peerLimit(st.limit), t0)
			wantErr(t, "ApplyDelta", err, st.want)
			if err == nil {
				same(t, "count", n, int64(len(st.state)))
			}
			var got, want []store.File
			for _, pf := range listFiles(t, s, "attic", 3, t0) {
				got = append(got, pf.File)
			}
			var wantHashes []string
			for _, f := range st.state {
				want = append(want, normFile(f))
				wantHashes = append(wantHashes, f.SHA256)
			}
			same(t, "files", got, want)
			same(t, "search", sortedCopy(hashes(searchAll(t, s, store.SearchQuery{Query: ".txt"}, 3, t0))), sortedCopy(wantHashes))
			ps := listPeers(t, s, 1, t0)
			same(t, "FileCount", ps[0].FileCount, int64(len(st.state)))
		})
	}
	_, err := s.ApplyDelta(ctx, "nope", []store.File{a}, nil, peerLimit(10), t0)
	wantErr(t, "unknown session", err, store.ErrNotFound)
}
