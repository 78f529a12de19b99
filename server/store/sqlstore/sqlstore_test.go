package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/sqlstore"
)

func TestNanos(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		{},
		time.Date(2031, 3, 4, 5, 6, 7, 89, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("x", 3600)),
	} {
		n := sqlstore.Nanos(tm)
		back := sqlstore.FromNanos(n)
		if !back.Equal(tm) || (!tm.IsZero() && back.Location() != time.UTC) {
			t.Errorf("FromNanos(Nanos(%v)) = %v", tm, back)
		}
	}
	if sqlstore.Nanos(time.Time{}) != 0 || !sqlstore.FromNanos(0).IsZero() {
		t.Error("the zero time is not stored as 0")
	}
}

func TestCheckUnique(t *testing.T) {
	t.Parallel()
	f := func(name string) store.File { return store.File{Name: name} }
	if err := sqlstore.CheckUnique([]store.File{f("a"), f("b"), f("A")}); err != nil {
		t.Errorf("distinct names: %v", err)
	}
	if err := sqlstore.CheckUnique([]store.File{f("a"), f("b"), f("a")}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("a name twice: %v, want ErrInvalidArgument", err)
	}
}

func TestWrapWrite(t *testing.T) {
	t.Parallel()
	if err := sqlstore.WrapWrite("replace files of session", "s", nil); err != nil {
		t.Errorf("nil: %v", err)
	}
	limit := sqlstore.TooManyFiles("s", 11, 10)
	if !errors.Is(limit, store.ErrLimit) {
		t.Errorf("TooManyFiles = %v, want ErrLimit", limit)
	}
	if err := sqlstore.WrapWrite("replace files of session", "s", limit); err != limit {
		t.Errorf("a sentinel error is wrapped again: %v", err)
	}
	io := errors.New("disk on fire")
	if err := sqlstore.WrapWrite("replace files of session", "s", io); !errors.Is(err, io) || err.Error() != "replace files of session s: disk on fire" {
		t.Errorf("WrapWrite = %v", err)
	}
}

func TestDiffSnapshot(t *testing.T) {
	t.Parallel()
	files := []store.File{{Name: "same", Size: 1}, {Name: "changed", Size: 2}, {Name: "new", Size: 3}}
	stored := map[string]int64{"same": 1, "changed": 20, "gone": 4, "also gone": 5}
	d := sqlstore.DiffSnapshot(files, stored, func(i int) int64 { return files[i].Size })
	slices.Sort(d.Gone)
	if !slices.Equal(d.Insert, []int{2}) || !slices.Equal(d.Update, []int{1}) || !slices.Equal(d.Gone, []string{"also gone", "gone"}) {
		t.Errorf("diff = %+v", d)
	}
	empty := sqlstore.DiffSnapshot(nil, map[string]int64{}, func(int) int64 { return 0 })
	if len(empty.Insert)+len(empty.Update)+len(empty.Gone) != 0 {
		t.Errorf("diff of nothing = %+v", empty)
	}
}

// TestListingTokens pages a listing's position through its token, and
// refuses tokens of another listing.
func TestListingTokens(t *testing.T) {
	t.Parallel()
	const tokens, other = pagetoken.Format('t'), pagetoken.Format('o')
	peers := make([]store.Peer, 4)
	for i := range peers {
		peers[i].Session.PeerName = fmt.Sprint("peer", i)
	}
	page, next := sqlstore.PeersPage(tokens, peers, 3)
	if len(page) != 3 || next == "" {
		t.Fatalf("PeersPage = %d, %q", len(page), next)
	}
	if last, ok, err := sqlstore.PeersAfter(tokens, next); err != nil || !ok || last != "peer2" {
		t.Errorf("PeersAfter = %q, %v, %v", last, ok, err)
	}
	if _, next := sqlstore.PeersPage(tokens, peers, 4); next != "" {
		t.Errorf("last page has a next token %q", next)
	}
	if _, ok, err := sqlstore.PeersAfter(tokens, ""); ok || err != nil {
		t.Errorf("first page: %v, %v", ok, err)
	}
	if _, _, err := sqlstore.PeersAfter(other, next); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("token of another format: %v", err)
	}

	files := []store.PeerFile{{Peer: "a", File: store.File{Name: "x"}}, {Peer: "a", File: store.File{Name: "y"}}}
	_, next = sqlstore.FilesPage(tokens, "a", files, 1)
	if p, n, ok, err := sqlstore.FilesAfter(tokens, "a", next); err != nil || !ok || p != "a" || n != "x" {
		t.Errorf("FilesAfter = %q %q %v %v", p, n, ok, err)
	}
	for _, peer := range []string{"", "b"} {
		if _, _, _, err := sqlstore.FilesAfter(tokens, peer, next); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("token of peer a's files, listing %q: %v", peer, err)
		}
	}
	if _, _, _, err := sqlstore.FilesAfter(tokens, "a", "garbage"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("garbage token: %v", err)
	}
}
