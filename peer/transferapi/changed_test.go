package transferapi_test

import (
	"bytes"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestAttackChangedFileNeverServed changes a shared file between indexing
// and serving: the third of four pieces is rewritten in place, size and
// modification time kept, and nothing re-indexes it before the download.
// Read as a stream, message by message, over Connect and gRPC, every byte
// the peer sends is the announced content (the pieces before the change),
// no byte of the changed piece leaves, the stream ends with
// FailedPrecondition "file changed", and the peer no longer offers that
// content. Once re-indexed, the new content is served whole.
func TestAttackChangedFileNeverServed(t *testing.T) {
	t.Parallel()
	oldData := testutil.RandBytes(3*pieces.Size+1000, 1)
	for _, proto := range []string{"connect", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, transfer.Options{ChunkSize: 64 << 10}, map[string][]byte{"f.bin": oldData})
			c := e.callers(e.tokens.valid)[proto]
			oldSum := testutil.SHA256Hex(oldData)
			st, err := c.stat(t.Context(), bySHA(oldSum))
			if err != nil {
				t.Fatal(err)
			}

			p := filepath.Join(e.dir, "f.bin")
			newData := bytes.Clone(oldData)
			copy(newData[2*pieces.Size:], testutil.RandBytes(pieces.Size, 2))
			testutil.RewriteKeepingTimes(t, p, 2*pieces.Size, newData[2*pieces.Size:3*pieces.Size])

			var got []byte
			err = c.download(t.Context(), dlBySHA(oldSum, 0, 0), func(m *peerv1.DownloadResponse) error {
				if m.GetOffset() != int64(len(got)) {
					t.Fatalf("message at %d, want %d", m.GetOffset(), len(got))
				}
				got = append(got, m.GetData()...)
				return nil
			})
			wantCode(t, "Download of the changed file", err, connect.CodeFailedPrecondition)
			if err != nil && !bytes.Contains([]byte(err.Error()), []byte("changed")) {
				t.Errorf("error %q does not say the file changed", err)
			}
			if len(got) > 2*pieces.Size {
				t.Errorf("sent %d bytes: beyond the pieces that still match", len(got))
			}
			if !bytes.Equal(got, oldData[:len(got)]) {
				t.Fatal("sent bytes that are not the announced content")
			}
			// Whole pieces only, each matching its announced hash.
			if len(got)%pieces.Size != 0 {
				t.Errorf("sent %d bytes, not whole pieces", len(got))
			}
			for i := 0; i*pieces.Size < len(got); i++ {
				if h := sha256.Sum256(got[i*pieces.Size : (i+1)*pieces.Size]); !bytes.Equal(h[:], st.GetPieceHashes()[i]) {
					t.Errorf("piece %d sent does not match its announced hash", i)
				}
			}

			// No longer offered under the old content.
			_, err = c.stat(t.Context(), bySHA(oldSum))
			wantCode(t, "Stat of the old content", err, connect.CodeNotFound)
			got, err = downloadAll(t.Context(), c, dlBySHA(oldSum, 0, 0))
			wantCode(t, "second Download of the old content", err, connect.CodeNotFound)
			if len(got) != 0 {
				t.Errorf("second download sent %d bytes", len(got))
			}

			// Re-indexed (here by a scan; a peer's Watch does it by
			// itself), the new content is served.
			testutil.Eventually(t, 0, "re-indexed", func() error {
				e.rescan(t)
				_, err := c.stat(t.Context(), bySHA(testutil.SHA256Hex(newData)))
				return err
			})
			got, err = downloadAll(t.Context(), c, dlBySHA(testutil.SHA256Hex(newData), 0, 0))
			if err != nil || !bytes.Equal(got, newData) {
				t.Fatalf("download of the new content: %d bytes, %v", len(got), err)
			}
		})
	}
}
