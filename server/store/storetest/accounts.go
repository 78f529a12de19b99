// The suite's tests of accounts and signing keys.

package storetest

import (
	"testing"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"carol", "alice", "bob"} {
		mustAccount(t, s, n)
	}
	alice := store.Account{Name: "alice", PasswordHash: []byte("hash:alice"), Created: at(-time.Hour)}

	runSteps(t, []step{
		{"duplicate create", func() error { return s.CreateAccount(ctx, alice) }, store.ErrAlreadyExists},
		{"get", func() error {
			a, err := s.GetAccount(ctx, "alice")
			if err == nil {
				same(t, "GetAccount", normAccount(a), normAccount(alice))
			}
			return err
		}, nil},
		{"get missing", func() error { _, err := s.GetAccount(ctx, "mallory"); return err }, store.ErrNotFound},
		{"list ordered", func() error {
			as, err := s.ListAccounts(ctx)
			var names []string
			for _, a := range as {
				names = append(names, a.Name)
			}
			same(t, "ListAccounts", names, []string{"alice", "bob", "carol"})
			return err
		}, nil},
		{"delete", func() error { return s.DeleteAccount(ctx, "bob", t0) }, nil},
		{"delete again", func() error { return s.DeleteAccount(ctx, "bob", t0) }, store.ErrNotFound},
		{"get deleted", func() error { _, err := s.GetAccount(ctx, "bob"); return err }, store.ErrNotFound},
		{"delete missing", func() error { return s.DeleteAccount(ctx, "mallory", t0) }, store.ErrNotFound},
		{"recreate deleted", func() error {
			return s.CreateAccount(ctx, store.Account{Name: "bob", PasswordHash: []byte("new"), Created: t0})
		}, nil},
		{"list after changes", func() error {
			as, err := s.ListAccounts(ctx)
			var got []store.Account
			for _, a := range as {
				got = append(got, normAccount(a))
			}
			same(t, "ListAccounts", got, []store.Account{
				normAccount(alice),
				{Name: "bob", PasswordHash: []byte("new"), Created: t0},
				{Name: "carol", PasswordHash: []byte("hash:carol"), Created: at(-time.Hour)},
			})
			return err
		}, nil},
	})
}

func testDeleteAccountCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAccount(t, s, "alice")
	mustAccount(t, s, "bob")
	mustSession(t, s, peerSession("a-peer", "alice", "attic", at(time.Hour)))
	mustSession(t, s, clientSession("a-client", "alice", at(time.Hour)))
	mustSession(t, s, peerSession("b-peer", "bob", "basement", at(time.Hour)))
	mustReplace(t, s, "a-peer", file("shared.txt", "shared"), file("alice-only.txt", "a"))
	mustReplace(t, s, "b-peer", file("shared.txt", "shared"))

	wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, "alice", t0), nil)
	for _, id := range []string{"a-peer", "a-client"} {
		_, err := s.GetSession(ctx, id, t0)
		wantErr(t, "GetSession "+id, err, store.ErrNotFound)
	}
	same(t, "files", fileKeys(listFiles(t, s, "", 10, t0)), []string{"basement:shared.txt"})
	rs := searchAll(t, s, store.SearchQuery{Query: "txt"}, 10, t0)
	if len(rs) != 1 || len(rs[0].Sources) != 1 || rs[0].Sources[0].Peer != "basement" {
		t.Fatalf("search after delete: %s", show(rs))
	}
	same(t, "stats", mustStats(t, s, t0), store.Stats{OnlinePeers: 1, IndexedFiles: 1})
	// The peer name is free again, for anyone.
	mustSession(t, s, peerSession("b-attic", "bob", "attic", at(time.Hour)))
	// A session of a deleted (or never created) account is refused.
	err := s.CreateSession(ctx, peerSession("a-again", "alice", "loft", at(time.Hour)), noLimit, t0)
	wantErr(t, "CreateSession for deleted account", err, store.ErrNotFound)
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	ks, err := s.SigningKeys(ctx)
	wantErr(t, "SigningKeys", err, nil)
	if len(ks) != 0 {
		t.Fatalf("empty store has keys: %s", show(ks))
	}
	key := func(id string, created time.Time) store.SigningKey {
		priv := make([]byte, 64)
		for i := range priv {
			priv[i] = byte(i) ^ id[0]
		}
		return store.SigningKey{ID: id, Private: priv, Created: created}
	}
	k1, k2, k3 := key("k1", t0), key("k2", at(time.Hour)), key("k3", at(2*time.Hour))
	for _, k := range []store.SigningKey{k1, k3, k2} {
		wantErr(t, "AddSigningKey "+k.ID, s.AddSigningKey(ctx, k), nil)
	}
	wantErr(t, "duplicate key", s.AddSigningKey(ctx, key("k2", at(3*time.Hour))), store.ErrAlreadyExists)
	ks, err = s.SigningKeys(ctx)
	wantErr(t, "SigningKeys", err, nil)
	for i := range ks {
		ks[i] = normKey(ks[i])
	}
	same(t, "SigningKeys newest first", ks, []store.SigningKey{normKey(k3), normKey(k2), normKey(k1)})
}
