package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestStatus runs a slow download from p1 in the background and polls
// `peerhub status` as p1's owner until the transfer shows, then checks its
// fields in the JSON and the table; another account is refused.
func TestStatus(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	const rate = 128 << 10 // bytes/s: the 2 MiB file takes about 16 s
	data := testutil.RandBytes(2<<20, 11)
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"slow.bin": data}, MaxRate: rate, AcceptUploads: true})
	waitIndexed(t, n, "slow.bin")

	// p1's owner asks, naming the peer through PEERHUB_NAME; nothing runs
	// yet.
	owner := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "p1", "PEERHUB_PASSWORD": testnet.Password, "PEERHUB_NAME": "p1"}
	if r := run(t, owner, "", "status"); r.code != 0 || !strings.Contains(r.out, "No transfer running.") {
		t.Errorf("idle status: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// alice downloads in the background until the test ends.
	alice := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var out, errb bytes.Buffer
		cli.Run(ctx, []string{"get", "slow.bin", "-o", t.TempDir()}, cli.Streams{
			In: strings.NewReader(""), Out: &out, Err: &errb,
			LookupEnv: func(k string) (string, bool) { v, ok := alice[k]; return v, ok },
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	var tr *peerv1.Transfer
	var st peerv1.StatusResponse
	// Past the limiter's first burst (one chunk), the average rate is
	// within a few times the limit.
	const enough = 512 << 10 // bytes
	testutil.Eventually(t, 20*time.Second, "status shows the running download past its first 512 KiB", func() error {
		r := run(t, owner, "", "status", "--json")
		if r.code != 0 {
			return fmt.Errorf("status: exit %d: %s", r.code, r.err)
		}
		if err := protojson.Unmarshal([]byte(r.out), &st); err != nil {
			return fmt.Errorf("decode %q: %w", r.out, err)
		}
		for _, x := range st.GetTransfers() {
			if x.GetBytesDone() >= enough {
				tr = x
				return nil
			}
		}
		return fmt.Errorf("no transfer with %d bytes sent yet: %v", enough, st.GetTransfers())
	})
	if tr.GetDirection() != peerv1.TransferDirection_TRANSFER_DIRECTION_DOWNLOAD || tr.GetName() != "slow.bin" ||
		tr.GetSha256() != testutil.SHA256Hex(data) || tr.GetAccount() != "alice" || tr.GetAddress() != "127.0.0.1" ||
		tr.GetSize() <= 0 || tr.GetSize() > int64(len(data)) || tr.GetBytesDone() >= tr.GetSize() ||
		tr.GetRate() <= 0 || tr.GetRate() > 3*rate || tr.GetStarted() == nil {
		t.Errorf("transfer %v", tr)
	}
	l := st.GetLimits()
	if l.GetMaxRate() != rate || l.GetMaxTransfers() <= 0 || !l.GetAcceptUploads() || l.GetMaxUploadSize() <= 0 || l.GetMaxPerAccount() <= 0 {
		t.Errorf("limits %v", l)
	}

	// The table, naming the peer as an argument.
	r := run(t, owner, "", "status", "p1")
	if r.code != 0 {
		t.Fatalf("status p1: exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{"Peer p1:", "send rate 128.0 KiB/s", "sending", "slow.bin", "alice", "127.0.0.1", "of 2.0 MiB"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status table lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "No transfer running.") {
		t.Errorf("status says nothing runs during a download:\n%s", r.out)
	}

	// Another account gets no status token.
	r = run(t, alice, "", "status", "p1")
	if r.code != 1 || !strings.Contains(r.err, "not allowed") || !strings.Contains(r.err, "owns it") {
		t.Errorf("alice's status of p1: exit %d, %q; want 1 and not allowed", r.code, r.err)
	}
	// No peer at all is a usage error.
	if r := run(t, alice, "", "status"); r.code != 2 {
		t.Errorf("status without a peer: exit %d, want 2: %s", r.code, r.err)
	}
}
