package downloader_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestDownloadResumesLegacyState resumes a partial file whose state an
// earlier version wrote (JSON): what it records is kept (here every piece:
// the peer sends nothing) and the state is rewritten in the new format.
func TestDownloadResumesLegacyState(t *testing.T) {
	t.Parallel()
	const size = 5*mib + 7
	a, peers, tgt, dest := served(t, "l.bin", size, peerOptions{})
	p := peers[0]
	copyFile(t, filepath.Join(p.Dir, "l.bin"), dest+sharepath.PartialSuffix)
	psize := tgt.PieceSize
	if psize == 0 {
		psize = mib
	}
	legacy, err := json.Marshal(map[string]any{
		"version": 1, "sha256": tgt.SHA256, "size": tgt.Size, "piece_size": psize,
		"piece_root": tgt.PieceRoot, "done": []byte{0b111111},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest+sharepath.StateSuffix, legacy, 0o644); err != nil {
		t.Fatal(err)
	}
	p.resetSent(t)
	res, err := downloader.Download(t.Context(), tgt, sources(p), downloader.Options{Dest: dest, Token: a.token(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedBytes != size || p.sent.Load() != 0 {
		t.Errorf("resumed %d bytes, peer sent %d; want all %d resumed, nothing sent", res.ResumedBytes, p.sent.Load(), int64(size))
	}
	if got := testutil.FileSHA256(t, dest); got != tgt.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, tgt.SHA256)
	}
}
