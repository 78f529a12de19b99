package transferapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

// snapshotDir returns every file under dir with its content, to compare
// before and after.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[p] = string(b)
		} else {
			m[p] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHostileNames(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	testutil.WriteFile(t, out, "secret.txt", []byte("secret outside the share\n"))
	e := newEnv(t, transfer.Options{AcceptUploads: true}, map[string][]byte{"ok.txt": []byte("ok")})
	for link, target := range map[string]string{
		"passwd": "/etc/passwd",
		"secret": filepath.Join(out, "secret.txt"),
		"outdir": out,
		"rel":    "../" + filepath.Base(out),
	} {
		if err := os.Symlink(target, filepath.Join(e.dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	e.rescan(t)
	before := snapshotDir(t, out)
	etcBefore := snapshotDir(t, "/etc/passwd")

	names := []string{
		"../x", "/etc/passwd", "a/../../b", "a\x00b", strings.Repeat("n", 10_000), "CON", "nul.txt", "COM1",
		"passwd", "secret", "outdir/secret.txt", "outdir/new.txt", "rel/secret.txt", "rel/new.txt",
		".peerhub/incoming/x", "../" + filepath.Base(out) + "/secret.txt",
	}
	payload := []byte("overwritten!")
	t.Cleanup(func() { // after every subtest
		if after := snapshotDir(t, out); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("outside folder changed: %v, was %v", after, before)
		}
		if after := snapshotDir(t, "/etc/passwd"); fmt.Sprint(after) != fmt.Sprint(etcBefore) {
			t.Error("/etc/passwd changed")
		}
		if names := incoming(t, e.dir); len(names) > 0 {
			t.Errorf("temporary files left: %v", names)
		}
	})
	for proto, c := range e.callers(e.tokens.valid) {
		for _, name := range names {
			label := strings.ReplaceAll(name, "\x00", `\0`)
			if len(label) > 24 {
				label = label[:24] + "…"
			}
			t.Run(proto+"/"+label, func(t *testing.T) {
				t.Parallel()
				_, err := c.stat(t.Context(), statByName(name))
				wantCode(t, "Stat", err, connect.CodeInvalidArgument, connect.CodeNotFound)
				got, err := downloadAll(t.Context(), c, &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: name}})
				wantCode(t, "Download", err, connect.CodeInvalidArgument, connect.CodeNotFound)
				if len(got) > 0 {
					t.Errorf("Download sent %q", got)
				}
				_, err = c.upload(t.Context(), header(name, payload), chunksOf(payload, 4))
				wantCode(t, "Upload", err, connect.CodeInvalidArgument, connect.CodeNotFound)
			})
		}
	}
}

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(3<<20, 11)
	tests := []struct {
		name string
		opts transfer.Options
		hdr  *peerv1.UploadHeader
		// before runs before the upload, e.g. to take the name.
		before func(t *testing.T, e *env)
		want   connect.Code
		// keep says the final name exists before (and after) the upload.
		keep bool
	}{
		{"exists", transfer.Options{AcceptUploads: true}, header("taken", data), func(t *testing.T, e *env) {
			testutil.WriteFile(t, e.dir, "taken", []byte("mine"))
		}, connect.CodeAlreadyExists, true},
		{"too large", transfer.Options{AcceptUploads: true, MaxUploadSize: 1 << 20}, header("big", data), nil, connect.CodeResourceExhausted, false},
		{"disabled", transfer.Options{}, header("no", data), nil, connect.CodePermissionDenied, false},
		{"wrong sha", transfer.Options{AcceptUploads: true}, &peerv1.UploadHeader{Name: "bad", Size: int64(len(data)), Sha256: testutil.SHA256Hex(nil)}, nil, connect.CodeDataLoss, false},
		{"short", transfer.Options{AcceptUploads: true}, &peerv1.UploadHeader{Name: "short", Size: int64(len(data)) + 1, Sha256: testutil.SHA256Hex(data)}, nil, connect.CodeDataLoss, false},
		{"long", transfer.Options{AcceptUploads: true}, &peerv1.UploadHeader{Name: "long", Size: int64(len(data)) - 1, Sha256: testutil.SHA256Hex(data)}, nil, connect.CodeDataLoss, false},
	}
	for _, tt := range tests {
		e := newEnv(t, tt.opts, nil)
		if tt.before != nil {
			tt.before(t, e)
		}
		for proto, c := range e.callers(e.tokens.valid) {
			t.Run(tt.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				_, err := c.upload(t.Context(), tt.hdr, chunksOf(data, 1<<20))
				wantCode(t, "Upload", err, tt.want)
				testutil.Eventually(t, 0, "temporary files removed", func() error {
					if names := incoming(t, e.dir); len(names) > 0 {
						return fmt.Errorf("left: %v", names)
					}
					return nil
				})
				_, err = os.Stat(filepath.Join(e.dir, tt.hdr.GetName()))
				if exists := err == nil; exists != tt.keep {
					t.Errorf("%s exists: %v, want %v", tt.hdr.GetName(), exists, tt.keep)
				}
				if tt.keep {
					if b, _ := os.ReadFile(filepath.Join(e.dir, tt.hdr.GetName())); string(b) != "mine" {
						t.Error("existing file overwritten")
					}
				}
			})
		}
	}
}

func TestUploadStreamShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, transfer.Options{AcceptUploads: true}, nil)
	client := e.client(e.tokens.valid)
	for name, msgs := range map[string][]*peerv1.UploadRequest{
		"no message":    nil,
		"chunk first":   {{Part: &peerv1.UploadRequest_Chunk{Chunk: []byte("x")}}},
		"header twice":  {{Part: &peerv1.UploadRequest_Header{Header: header("twice", []byte("x"))}}, {Part: &peerv1.UploadRequest_Header{Header: header("twice", []byte("x"))}}},
		"empty message": {{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stream := client.Upload(t.Context())
			for _, m := range msgs {
				if err := stream.Send(m); err != nil {
					break
				}
			}
			_, err := stream.CloseAndReceive()
			wantCode(t, "Upload", err, connect.CodeInvalidArgument)
		})
	}
}

// TestUploadCut cuts upload streams in the middle (the client cancels after
// some chunks): no final and no temporary file may be left.
func TestUploadCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, transfer.Options{AcceptUploads: true}, nil)
	data := testutil.RandBytes(8<<20, 12)
	for proto, c := range e.callers(e.tokens.valid) {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			name := "cut-" + proto
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			chunks := chunksOf(data[:3<<20], 1<<20)
			next := func() []byte {
				if c := chunks(); c != nil {
					return c
				}
				// Three chunks are out: wait until the server writes
				// them, then cut the stream.
				testutil.Eventually(t, 0, "temporary file", func() error {
					if len(incoming(t, e.dir)) == 0 {
						return errors.New("none yet")
					}
					return nil
				})
				cancel()
				<-ctx.Done()
				return nil
			}
			_, err := c.upload(ctx, header(name, data), next)
			wantCode(t, "Upload", err, connect.CodeCanceled)
			testutil.Eventually(t, 0, "temporary files removed", func() error {
				if names := incoming(t, e.dir); len(names) > 0 {
					return fmt.Errorf("left: %v", names)
				}
				if running, _ := e.svc.Load(); running != 0 {
					return errors.New("upload still running")
				}
				return nil
			})
			if _, err := os.Stat(filepath.Join(e.dir, name)); err == nil {
				t.Errorf("%s stored from a cut stream", name)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	// One transfer at a time and no queue: a second is refused while the
	// first runs, and served once it ended.
	data := testutil.RandBytes(32<<20, 13)
	e := newEnv(t, transfer.Options{MaxTransfers: 1, MaxQueue: -1}, map[string][]byte{"f": data})
	for proto, c := range e.callers(e.tokens.valid) {
		t.Run(proto, func(t *testing.T) {
			// Not parallel: both protocols share the one slot.
			client := e.client(e.tokens.valid)
			ctx, cancel := context.WithCancel(t.Context())
			first, err := client.Download(ctx, connect.NewRequest(dlBySHA(testutil.SHA256Hex(data), 0, 0)))
			if err != nil {
				t.Fatal(err)
			}
			if !first.Receive() { // the first now holds the slot, and stalls
				t.Fatal(first.Err())
			}
			_, err = downloadAll(t.Context(), c, dlBySHA(testutil.SHA256Hex(data), 0, 0))
			wantCode(t, "second Download", err, connect.CodeResourceExhausted)
			cancel()
			first.Close()
			testutil.Eventually(t, 0, "download after the first ended", func() error {
				got, err := downloadAll(t.Context(), c, dlBySHA(testutil.SHA256Hex(data), 0, 1000))
				if err == nil && !bytes.Equal(got, data[:1000]) {
					t.Fatal("wrong content")
				}
				return err
			})
		})
	}
}

func TestQueue(t *testing.T) {
	t.Parallel()
	// One transfer at a time and one may wait: the second waits and is
	// served once the first ends.
	data := testutil.RandBytes(32<<20, 14)
	e := newEnv(t, transfer.Options{MaxTransfers: 1, MaxQueue: 1}, map[string][]byte{"f": data})
	client := e.client(e.tokens.valid)
	ctx, cancel := context.WithCancel(t.Context())
	first, err := client.Download(ctx, connect.NewRequest(dlBySHA(testutil.SHA256Hex(data), 0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Receive() {
		t.Fatal(first.Err())
	}
	second := make(chan error, 1)
	go func() {
		dst := make([]byte, 1000)
		second <- transferapi.ReadRange(t.Context(), client, testutil.SHA256Hex(data), 5, 1000, dst)
	}()
	testutil.Eventually(t, 0, "second queued", func() error {
		if running, waiting := e.svc.Load(); running != 1 || waiting != 1 {
			return fmt.Errorf("%d running, %d waiting", running, waiting)
		}
		return nil
	})
	err = transferapi.ReadRange(t.Context(), client, testutil.SHA256Hex(data), 0, 10, make([]byte, 10))
	wantCode(t, "third Download", err, connect.CodeResourceExhausted)
	cancel()
	first.Close()
	if err := <-second; err != nil {
		t.Errorf("queued download: %v", err)
	}
}
