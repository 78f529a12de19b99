package transferapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
	"github.com/peerhub/peerhub/peer/transferapi"
)

func bySHA(s string) *peerv1.StatRequest {
	return &peerv1.StatRequest{File: &peerv1.StatRequest_Sha256{Sha256: s}}
}

func statByName(n string) *peerv1.StatRequest {
	return &peerv1.StatRequest{File: &peerv1.StatRequest_Name{Name: n}}
}

func dlBySHA(s string, off, n int64) *peerv1.DownloadRequest {
	return &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Sha256{Sha256: s}, Offset: off, Length: n}
}

func dlByName(name string) *peerv1.DownloadRequest {
	return &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: name}}
}

func header(name string, data []byte) *peerv1.UploadHeader {
	return &peerv1.UploadHeader{Name: name, Size: int64(len(data)), Sha256: testutil.SHA256Hex(data)}
}

func wantCode(t *testing.T, what string, err error, want ...connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || !slices.Contains(want, got) {
		t.Errorf("%s: %v (code %v), want code %v", what, err, got, want)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	data := []byte("hello")
	e := newEnv(t, transfer.Options{AcceptUploads: true}, map[string][]byte{"f.txt": data})
	for _, tok := range []struct{ name, raw string }{
		{"missing", ""}, {"expired", e.tokens.expired}, {"forged", e.tokens.forged}, {"junk", e.tokens.junk},
	} {
		for proto, c := range e.callers(tok.raw) {
			t.Run(tok.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				_, err := c.stat(t.Context(), bySHA(testutil.SHA256Hex(data)))
				wantCode(t, "Stat", err, connect.CodeUnauthenticated)
				got, err := downloadAll(t.Context(), c, dlBySHA(testutil.SHA256Hex(data), 0, 0))
				wantCode(t, "Download", err, connect.CodeUnauthenticated)
				if len(got) > 0 {
					t.Errorf("Download sent %q", got)
				}
				_, err = c.upload(t.Context(), header("new-"+tok.name+proto, data), chunksOf(data, 2))
				wantCode(t, "Upload", err, connect.CodeUnauthenticated)
			})
		}
	}
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		for proto, c := range e.callers(e.tokens.valid) {
			if _, err := c.stat(t.Context(), bySHA(testutil.SHA256Hex(data))); err != nil {
				t.Errorf("%s: Stat with a valid token: %v", proto, err)
			}
		}
	})
	t.Cleanup(func() {
		if names := incoming(t, e.dir); len(names) > 0 {
			t.Errorf("temporary files left: %v", names)
		}
		for _, name := range []string{"new-missing", "new-expired", "new-forged", "new-junk"} {
			for _, proto := range []string{"connect", "grpc"} {
				if _, err := os.Stat(filepath.Join(e.dir, name+proto)); err == nil {
					t.Errorf("unauthenticated upload %s stored", name+proto)
				}
			}
		}
	})
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, transfer.Options{AcceptUploads: true}, nil)
	sizes := []int{0, 1, pieces.Size - 1, pieces.Size, pieces.Size + 1, 100 << 20}
	for _, size := range sizes {
		data := testutil.RandBytes(size, uint64(size))
		for proto, c := range e.callers(e.tokens.valid) {
			t.Run(fmt.Sprintf("%s/%d", proto, size), func(t *testing.T) {
				t.Parallel()
				name := fmt.Sprintf("rt/%s/%d.bin", proto, size)
				res, err := c.upload(t.Context(), header(name, data), chunksOf(data, 1<<20))
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
				if res.GetName() != name || res.GetSize() != int64(size) || res.GetSha256() != testutil.SHA256Hex(data) {
					t.Errorf("Upload = %v", res)
				}
				_, err = c.upload(t.Context(), header(name, data), chunksOf(data, 1<<20))
				wantCode(t, "second Upload", err, connect.CodeAlreadyExists)
				e.rescan(t)

				st, err := c.stat(t.Context(), statByName(name))
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				sum, err := pieces.Hash(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if st.GetSha256() != testutil.SHA256Hex(data) || st.GetSize() != int64(size) || st.GetPieceSize() != pieces.Size ||
					st.GetPieceRoot() != pieces.Hex(sum.Root) || len(st.GetPieceHashes()) != len(sum.Pieces) ||
					!slices.Contains(st.GetNames(), name) || st.GetModified() == nil {
					t.Errorf("Stat = sha %s size %d pieces %d root %s names %v", st.GetSha256(), st.GetSize(), len(st.GetPieceHashes()), st.GetPieceRoot(), st.GetNames())
				}
				for i, h := range st.GetPieceHashes() {
					if !bytes.Equal(h, sum.Pieces[i][:]) {
						t.Errorf("piece %d hash differs", i)
					}
				}

				for _, req := range []*peerv1.DownloadRequest{dlBySHA(testutil.SHA256Hex(data), 0, 0), dlByName(name)} {
					h := sha256.New()
					var n int64
					err := c.download(t.Context(), req, func(m *peerv1.DownloadResponse) error {
						if m.GetOffset() != n {
							return fmt.Errorf("chunk at %d, want %d", m.GetOffset(), n)
						}
						h.Write(m.GetData())
						n += int64(len(m.GetData()))
						return nil
					})
					if err != nil {
						t.Fatalf("Download(%v): %v", req.GetFile(), err)
					}
					if got := hex.EncodeToString(h.Sum(nil)); got != testutil.SHA256Hex(data) || n != int64(size) {
						t.Errorf("Download(%v) = %d bytes with sha256 %s, want %d, %s", req.GetFile(), n, got, size, testutil.SHA256Hex(data))
					}
				}
			})
		}
	}
}

func TestReadRange(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(3*pieces.Size+77, 9)
	s := testutil.SHA256Hex(data)
	e := newEnv(t, transfer.Options{}, map[string][]byte{"f": data})
	size := int64(len(data))
	tests := []struct {
		name     string
		off, n   int64
		dst      int
		wantErr  error
		wantCode connect.Code
	}{
		{"first piece", 0, pieces.Size, pieces.Size, nil, 0},
		{"last piece", 3 * pieces.Size, 77, 77, nil, 0},
		{"across chunks", 12345, 2*pieces.Size + 3, 2*pieces.Size + 3, nil, 0},
		{"one byte", size - 1, 1, 1, nil, 0},
		{"bigger buffer", 10, 10, 100, nil, 0},
		{"nothing", 5, 0, 0, nil, 0},
		{"past end is short", size - 10, 20, 20, transferapi.ErrBadStream, 0},
		{"offset past end", size + 1, 1, 1, nil, connect.CodeOutOfRange},
		{"buffer too small", 0, 10, 5, errors.New("any"), 0},
	}
	for _, opts := range []struct {
		name string
		opts []connect.ClientOption
	}{{"proto", nil}, {"json", []connect.ClientOption{connect.WithProtoJSON()}}, {"grpc", []connect.ClientOption{connect.WithGRPC()}}} {
		client := e.client(e.tokens.valid, opts.opts...)
		for _, tt := range tests {
			t.Run(opts.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				dst := make([]byte, tt.dst)
				err := transferapi.ReadRange(t.Context(), client, s, tt.off, tt.n, dst)
				switch {
				case tt.wantCode != 0:
					wantCode(t, "ReadRange", err, tt.wantCode)
				case tt.wantErr != nil && tt.wantErr.Error() == "any":
					if err == nil {
						t.Error("ReadRange succeeded")
					}
				case !errors.Is(err, tt.wantErr):
					t.Errorf("ReadRange: %v, want %v", err, tt.wantErr)
				case err == nil && !bytes.Equal(dst[:tt.n], data[tt.off:tt.off+tt.n]):
					t.Error("ReadRange read other bytes")
				}
			})
		}
	}
}

func TestFetchStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(4*transfer.DefaultChunkSize, 10)
	e := newEnv(t, transfer.Options{}, map[string][]byte{"f": data})
	stop := errors.New("enough")
	calls := 0
	got, err := transferapi.Fetch(t.Context(), e.client(e.tokens.valid), dlBySHA(testutil.SHA256Hex(data), 0, 0), func(off int64, p []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 || got != 0 {
		t.Errorf("Fetch = %d bytes, %v after %d calls; want 0, %v, 1", got, err, calls, stop)
	}
}

// encodingRecorder records the content encodings of the responses that pass
// through it.
type encodingRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *encodingRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.base.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		for _, h := range []string{"Content-Encoding", "Connect-Content-Encoding", "Grpc-Encoding"} {
			if v := res.Header.Get(h); v != "" {
				r.seen = append(r.seen, h+": "+v)
			}
		}
		r.mu.Unlock()
	}
	return res, err
}

func TestNeverCompressed(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("compressible "), 200_000)
	e := newEnv(t, transfer.Options{}, map[string][]byte{"f": data})
	for name, opts := range map[string][]connect.ClientOption{
		"connect": nil, "grpc": {connect.WithGRPC()}, "grpc-web": {connect.WithGRPCWeb()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// connect-go clients accept gzip unless told otherwise.
			rec := &encodingRecorder{base: e.http.Transport}
			var tok rpcclient.Token
			tok.Set(e.tokens.valid)
			c := peerv1connect.NewPeerServiceClient(&http.Client{Transport: rec}, "http://"+e.addr, rpcclient.Options(&tok, opts...)...)
			for _, req := range []*peerv1.DownloadRequest{dlBySHA(testutil.SHA256Hex(data), 0, 0), dlBySHA(testutil.SHA256Hex(data), 0, 1000)} {
				n, err := transferapi.Fetch(t.Context(), c, req, func(int64, []byte) error { return nil })
				if err != nil || (n != int64(len(data)) && n != 1000) {
					t.Fatalf("Download = %d bytes, %v", n, err)
				}
			}
			if _, err := c.Stat(t.Context(), connect.NewRequest(bySHA(testutil.SHA256Hex(data)))); err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, v := range rec.seen {
				if !strings.HasSuffix(v, "identity") {
					t.Errorf("response compressed: %s", v)
				}
			}
		})
	}
}
