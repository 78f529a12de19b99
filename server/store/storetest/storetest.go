// Package storetest owns the conformance suite every store.Store
// implementation must pass (Run) and the shared benchmark (Bench), so that
// sqlite, postgres and any later backend are held to the same contract:
// liveness decided by the "now" argument, peer names owned by accounts,
// sessions per account, revocations of ended sessions, atomic index changes
// with per-peer and per-account limits, search grouped by whole content
// descriptor and stably paged, ordered listings and
// the documented sentinel errors.
//
// It is imported only by _test.go files; it lives in a non-test file so that
// every implementation's tests can share it.
package storetest

import (
	"testing"

	"github.com/peerhub/peerhub/server/store"
)

// Run runs the conformance suite against fresh stores made by open. open is
// called once per subtest, possibly concurrently (subtests are parallel,
// since a Store must be safe for concurrent use), and must return an empty
// store; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"DeleteAccountCascades", testDeleteAccountCascades},
		{"SigningKeys", testSigningKeys},
		{"Sessions", testSessions},
		{"Expiry", testExpiry},
		{"PeerNames", testPeerNames},
		{"PeerPins", testPeerPins},
		{"SessionLimit", testSessionLimit},
		{"AccountFiles", testAccountFiles},
		{"AccountLimitsConcurrent", testAccountLimitsConcurrent},
		{"ClientSessions", testClientSessions},
		{"Revocations", testRevocations},
		{"PeerSession", testPeerSession},
		{"ReplaceFiles", testReplaceFiles},
		{"ApplyDelta", testApplyDelta},
		{"SearchMatching", testSearchMatching},
		{"SearchGrouping", testSearchGrouping},
		{"SearchPaging", testSearchPaging},
		{"SearchDescriptors", testSearchDescriptors},
		{"SearchDescriptorPaging", testSearchDescriptorPaging},
		{"SearchHashPrefix", testSearchHashPrefix},
		{"ListPeers", testListPeers},
		{"ListFiles", testListFiles},
		{"Stats", testStats},
		{"IndexSource", testIndexSource},
		{"BadPageTokens", testBadPageTokens},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}
