package transferapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// grpcurl runs the grpcurl pinned in tools/go.mod.
func grpcurl(t *testing.T, args ...string) []byte { return testutil.Grpcurl(t, args...) }

// TestGrpcurl checks that a stock gRPC tool, using server reflection, sees
// PeerService and downloads through it.
func TestGrpcurl(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds grpcurl")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	data := testutil.RandBytes(3*transfer.DefaultChunkSize+5, 16)
	e := newEnv(t, transfer.Options{}, map[string][]byte{"f.bin": data})

	list := string(grpcurl(t, "-plaintext", e.addr, "list"))
	if !strings.Contains(list, "peerhub.peer.v1.PeerService\n") {
		t.Errorf("grpcurl list:\n%s\nwant peerhub.peer.v1.PeerService", list)
	}

	const off, n = 7, 2*transfer.DefaultChunkSize + 3
	req := fmt.Sprintf(`{"sha256":%q,"offset":"%d","length":"%d"}`, testutil.SHA256Hex(data), off, n)
	out := grpcurl(t, "-plaintext", "-H", "authorization: Bearer "+e.tokens.valid, "-d", req,
		e.addr, "peerhub.peer.v1.PeerService/Download")
	var got []byte
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct {
			Offset string `json:"offset"` // int64 in proto JSON
			Data   string `json:"data"`   // base64
		}
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("grpcurl output: %v", err)
		}
		if o, _ := strconv.ParseInt(m.Offset, 10, 64); o != int64(off+len(got)) {
			t.Fatalf("chunk at offset %q, want %d", m.Offset, off+len(got))
		}
		b, err := base64.StdEncoding.DecodeString(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data[off:off+n]) {
		t.Errorf("grpcurl downloaded %d bytes, want bytes [%d, %d)", len(got), off, off+n)
	}

	// Without a token it is refused.
	cmd := exec.CommandContext(t.Context(), "go", "tool", "-modfile="+filepath.Join(testutil.RepoRoot(t), "tools", "go.mod"), "grpcurl",
		"-plaintext", "-d", req, e.addr, "peerhub.peer.v1.PeerService/Download")
	cmd.Dir = testutil.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Errorf("grpcurl without a token: %v\n%s", err, out)
	}
}
