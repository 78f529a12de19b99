package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
)

// randBytes returns n pseudo-random bytes, the same for the same seed.
func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// share is a shared folder with its index.
type share struct {
	dir string
	ix  *index.Index
}

// newShare creates a shared folder holding files and indexes it.
func newShare(t *testing.T, files map[string][]byte) *share {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	ix, err := index.Open(t.Context(), index.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	s := &share{dir: dir, ix: ix}
	s.rescan(t)
	return s
}

func (s *share) rescan(t *testing.T) {
	t.Helper()
	if _, err := s.ix.Scan(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
}

func (s *share) service(t *testing.T, o transfer.Options) *transfer.Service {
	t.Helper()
	o.Catalog, o.Root = s.ix, s.ix.Root()
	svc, err := transfer.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// download collects what Download sends, checking that chunks are
// contiguous and at most ChunkSize long.
func download(ctx context.Context, svc *transfer.Service, r transfer.Range) ([]byte, int, error) {
	var got []byte
	chunks := 0
	err := svc.Download(ctx, r, func(off int64, data []byte) error {
		if off != r.Offset+int64(len(got)) {
			return errors.New("chunk out of order")
		}
		if len(data) > svc.ChunkSize() || len(data) == 0 {
			return errors.New("chunk size out of bounds")
		}
		got = append(got, data...)
		chunks++
		return nil
	})
	return got, chunks, err
}

func TestStat(t *testing.T) {
	t.Parallel()
	a := randBytes(pieces.Size+1, 1)
	s := newShare(t, map[string][]byte{"x/a.bin": a, "b.bin": a, "c.txt": []byte("c")})
	svc := s.service(t, transfer.Options{})
	tests := []struct {
		name    string
		target  transfer.Target
		want    []string
		wantErr error
	}{
		{"by hash", transfer.Target{SHA256: sha(a)}, []string{"b.bin", "x/a.bin"}, nil},
		{"by name lists every name", transfer.Target{Name: "x/a.bin"}, []string{"b.bin", "x/a.bin"}, nil},
		{"single", transfer.Target{Name: "c.txt"}, []string{"c.txt"}, nil},
		{"unknown hash", transfer.Target{SHA256: strings.Repeat("0", 64)}, nil, transfer.ErrNotFound},
		{"unknown name", transfer.Target{Name: "nope"}, nil, transfer.ErrNotFound},
		{"uppercase hash", transfer.Target{SHA256: strings.ToUpper(sha(a))}, nil, transfer.ErrInvalid},
		{"no target", transfer.Target{}, nil, transfer.ErrInvalid},
		{"two targets", transfer.Target{SHA256: sha(a), Name: "b.bin"}, nil, transfer.ErrInvalid},
		{"state folder", transfer.Target{Name: ".peerhub/cache"}, nil, transfer.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := svc.Stat(t.Context(), tt.target)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Stat: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(info.Names, tt.want) {
				t.Errorf("Names = %q, want %q", info.Names, tt.want)
			}
			if tt.target.Name == "c.txt" {
				return
			}
			sum, err := pieces.Hash(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if info.SHA256 != sha(a) || info.Size != int64(len(a)) || info.PieceSize != pieces.Size ||
				!slices.Equal(info.PieceHashes, sum.Pieces) || info.PieceRoot != pieces.Hex(sum.Root) {
				t.Errorf("Stat = %+v, want the content's hashes", info)
			}
			if info.Modified.IsZero() {
				t.Error("Modified is zero")
			}
		})
	}
}

func TestDownloadRanges(t *testing.T) {
	t.Parallel()
	const chunk = 64 << 10 // bytes
	data := randBytes(4*chunk+123, 2)
	size := int64(len(data))
	s := newShare(t, map[string][]byte{"f.bin": data, "empty": nil})
	svc := s.service(t, transfer.Options{ChunkSize: chunk})
	tests := []struct {
		name     string
		r        transfer.Range
		from, to int64
		wantErr  error
	}{
		{"whole", transfer.Range{Offset: 0}, 0, size, nil},
		{"prefix", transfer.Range{Length: 10}, 0, 10, nil},
		{"middle across chunks", transfer.Range{Offset: 1000, Length: 200_000}, 1000, 201_000, nil},
		{"to end from offset", transfer.Range{Offset: size - 5}, size - 5, size, nil},
		{"length past end is cut", transfer.Range{Offset: 7, Length: size}, 7, size, nil},
		{"offset at end is empty", transfer.Range{Offset: size}, size, size, nil},
		{"offset past end", transfer.Range{Offset: size + 1}, 0, 0, transfer.ErrOutOfRange},
		{"negative offset", transfer.Range{Offset: -1}, 0, 0, transfer.ErrInvalid},
		{"negative length", transfer.Range{Length: -1}, 0, 0, transfer.ErrInvalid},
	}
	for _, tt := range tests {
		for by, target := range map[string]transfer.Target{"name": {Name: "f.bin"}, "sha256": {SHA256: sha(data)}} {
			t.Run(tt.name+"/by "+by, func(t *testing.T) {
				t.Parallel()
				r := tt.r
				r.Target = target
				got, _, err := download(t.Context(), svc, r)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Download: %v, want %v", err, tt.wantErr)
				}
				if err == nil && !bytes.Equal(got, data[tt.from:tt.to]) {
					t.Errorf("got %d bytes, want [%d, %d)", len(got), tt.from, tt.to)
				}
			})
		}
	}
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		got, chunks, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{Name: "empty"}})
		if err != nil || len(got) != 0 || chunks != 0 {
			t.Errorf("Download = %d bytes in %d chunks, %v; want nothing", len(got), chunks, err)
		}
	})
}

func TestDownloadChangedSinceIndexed(t *testing.T) {
	t.Parallel()
	data := randBytes(100_000, 3)
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"appended", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		}},
		{"truncated", func(t *testing.T, p string) { os.Truncate(p, 10) }},
		{"touched", func(t *testing.T, p string) {
			os.Chtimes(p, time.Time{}, time.Now().Add(time.Hour))
		}},
		{"deleted", func(t *testing.T, p string) { os.Remove(p) }},
		{"replaced by a folder", func(t *testing.T, p string) {
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newShare(t, map[string][]byte{"f.bin": data})
			svc := s.service(t, transfer.Options{})
			tt.change(t, filepath.Join(s.dir, "f.bin"))
			for _, target := range []transfer.Target{{Name: "f.bin"}, {SHA256: sha(data)}} {
				got, _, err := download(t.Context(), svc, transfer.Range{Target: target})
				if !errors.Is(err, transfer.ErrChanged) || len(got) != 0 {
					t.Errorf("Download(%v) = %d bytes, %v; want nothing, ErrChanged", target, len(got), err)
				}
			}
		})
	}
	t.Run("another name still matches", func(t *testing.T) {
		t.Parallel()
		s := newShare(t, map[string][]byte{"a.bin": data, "b.bin": data})
		svc := s.service(t, transfer.Options{})
		os.Remove(filepath.Join(s.dir, "a.bin"))
		got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{SHA256: sha(data)}})
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Download = %d bytes, %v; want the content from b.bin", len(got), err)
		}
	})
}

// lyingCatalog lists whatever it is given, as an index that went wrong
// might: the service must still not leave the shared folder.
type lyingCatalog struct{ entries []index.Entry }

func (c lyingCatalog) ByName(name string) (index.Entry, bool) {
	for _, e := range c.entries {
		if e.Name == name {
			return e, true
		}
	}
	return index.Entry{}, false
}

func (c lyingCatalog) BySHA256(sum string) ([]index.Entry, bool) {
	var out []index.Entry
	for _, e := range c.entries {
		if e.SHA256 == sum {
			out = append(out, e)
		}
	}
	return out, len(out) > 0
}

// outside creates a folder next to the share with a secret file, and returns
// a function that fails the test if anything in it changed.
func outside(t *testing.T) (dir string, secret []byte, unchanged func()) {
	t.Helper()
	dir = t.TempDir()
	secret = []byte("secret outside the share\n")
	writeFile(t, dir, "secret.txt", secret)
	return dir, secret, func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "secret.txt" {
			t.Errorf("outside folder now holds %v", ents)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "secret.txt")); err != nil || !bytes.Equal(b, secret) {
			t.Errorf("outside secret changed: %q, %v", b, err)
		}
	}
}

func TestHostileNames(t *testing.T) {
	t.Parallel()
	out, secret, unchanged := outside(t)
	s := newShare(t, map[string][]byte{"ok.txt": []byte("ok")})
	for link, target := range map[string]string{
		"passwd":    "/etc/passwd",
		"secret":    filepath.Join(out, "secret.txt"),
		"outdir":    out,
		"relsecret": "../" + filepath.Base(out) + "/secret.txt",
	} {
		if err := os.Symlink(target, filepath.Join(s.dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	s.rescan(t)
	// The catalog claims the links are shared files, with the secret's
	// size, as an index that followed links would.
	var lies []index.Entry
	for _, name := range []string{"passwd", "secret", "outdir/secret.txt", "relsecret"} {
		lies = append(lies, index.Entry{Name: name, Size: int64(len(secret)), SHA256: sha(secret)})
	}
	lying, err := transfer.New(transfer.Options{Catalog: lyingCatalog{lies}, Root: s.ix.Root(), AcceptUploads: true})
	if err != nil {
		t.Fatal(err)
	}
	honest := s.service(t, transfer.Options{AcceptUploads: true})

	names := []string{
		"../x", "/etc/passwd", "a/../../b", "a\x00b", strings.Repeat("n", 10_000), "CON", "nul.txt", "COM1",
		"passwd", "secret", "outdir/secret.txt", "outdir/new.txt", "relsecret", ".peerhub/incoming/x",
		"..", ".", "", "a//b", "x/", "x.peerhub-partial",
	}
	for _, svc := range []struct {
		name string
		*transfer.Service
	}{{"index", honest}, {"lying catalog", lying}} {
		for _, name := range names {
			t.Run(svc.name+"/"+truncate(name), func(t *testing.T) {
				_, err := svc.Stat(t.Context(), transfer.Target{Name: name})
				if svc.name == "index" && !errors.Is(err, transfer.ErrInvalid) && !errors.Is(err, transfer.ErrNotFound) {
					t.Errorf("Stat: %v, want ErrInvalid or ErrNotFound", err)
				}
				got, _, err := download(t.Context(), svc.Service, transfer.Range{Target: transfer.Target{Name: name}})
				if err == nil || len(got) > 0 {
					t.Errorf("Download = %q, %v; want nothing", got, err)
				}
				if !errors.Is(err, transfer.ErrInvalid) && !errors.Is(err, transfer.ErrNotFound) && !errors.Is(err, transfer.ErrChanged) {
					t.Errorf("Download: %v, want ErrInvalid, ErrNotFound or ErrChanged", err)
				}
				content := []byte("overwritten!")
				_, err = svc.Upload(t.Context(), transfer.UploadHeader{Name: name, Size: int64(len(content)), SHA256: sha(content)}, chunks(content))
				if !errors.Is(err, transfer.ErrInvalid) {
					t.Errorf("Upload: %v, want ErrInvalid", err)
				}
			})
		}
	}
	t.Run("by hash through the lying catalog", func(t *testing.T) {
		got, _, err := download(t.Context(), lying, transfer.Range{Target: transfer.Target{SHA256: sha(secret)}})
		if !errors.Is(err, transfer.ErrChanged) || len(got) > 0 {
			t.Errorf("Download = %q, %v; want nothing, ErrChanged", got, err)
		}
	})
	unchanged()
	if b, err := os.ReadFile(filepath.Join(s.dir, "ok.txt")); err != nil || string(b) != "ok" {
		t.Errorf("ok.txt = %q, %v", b, err)
	}
	assertNoTemp(t, s.dir)
}

func truncate(s string) string {
	s = strings.ReplaceAll(s, "\x00", `\0`)
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// chunks yields data in chunks of up to 64 KiB.
func chunks(data []byte) transfer.NextFunc {
	return func() ([]byte, error) {
		if len(data) == 0 {
			return nil, io.EOF
		}
		n := min(len(data), 64<<10)
		c := data[:n]
		data = data[n:]
		return c, nil
	}
}

// assertNoTemp fails the test if an upload left a temporary file.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(transfer.IncomingDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Errorf("%s holds %d leftover files, e.g. %s", transfer.IncomingDir, len(ents), ents[0].Name())
	}
}

func assertAbsent(t *testing.T, dir, name string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
		t.Errorf("%s exists after a failed upload", name)
	}
}

func TestUpload(t *testing.T) {
	t.Parallel()
	data := randBytes(300_000, 4)
	good := transfer.UploadHeader{Name: "in/deep/new.bin", Size: int64(len(data)), SHA256: sha(data)}
	with := func(f func(*transfer.UploadHeader)) transfer.UploadHeader {
		h := good
		f(&h)
		return h
	}
	failing := errors.New("stream broke")
	tests := []struct {
		name    string
		opts    transfer.Options
		free    int64 // free disk space; 0 = real
		h       transfer.UploadHeader
		next    func() transfer.NextFunc
		ctx     func(context.Context) context.Context
		wantErr error
	}{
		{"ok", transfer.Options{}, 0, good, nil, nil, nil},
		{"ok empty", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size, h.SHA256 = 0, sha(nil) }),
			func() transfer.NextFunc { return chunks(nil) }, nil, nil},
		{"ok at max size", transfer.Options{MaxUploadSize: int64(len(data))}, 0, good, nil, nil, nil},
		{"disabled", transfer.Options{AcceptUploads: false}, 0, good, nil, nil, transfer.ErrUploadsDisabled},
		{"exists", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "taken.txt" }), nil, nil, transfer.ErrExists},
		{"parent is a file", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "taken.txt/x" }), nil, nil, transfer.ErrExists},
		{"existing folder", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Name = "dir" }), nil, nil, transfer.ErrExists},
		{"too large", transfer.Options{MaxUploadSize: int64(len(data)) - 1}, 0, good, nil, nil, transfer.ErrTooLarge},
		{"no space", transfer.Options{}, int64(len(data)) - 1, good, nil, nil, transfer.ErrNoSpace},
		{"bad sha format", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.SHA256 = "abc" }), nil, nil, transfer.ErrInvalid},
		{"negative size", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size = -1 }), nil, nil, transfer.ErrInvalid},
		{"wrong sha", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.SHA256 = sha([]byte("other")) }), nil, nil, transfer.ErrMismatch},
		{"fewer bytes", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size++ }), nil, nil, transfer.ErrMismatch},
		{"more bytes", transfer.Options{}, 0, with(func(h *transfer.UploadHeader) { h.Size-- }), nil, nil, transfer.ErrMismatch},
		{"stream breaks", transfer.Options{}, 0, good, func() transfer.NextFunc {
			next := chunks(data)
			n := 0
			return func() ([]byte, error) {
				if n++; n > 2 {
					return nil, failing
				}
				return next()
			}
		}, nil, failing},
		{"cancelled", transfer.Options{}, 0, good, nil, func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newShare(t, map[string][]byte{"taken.txt": []byte("mine"), "dir/x": nil})
			if tt.name != "disabled" {
				tt.opts.AcceptUploads = true
			}
			svc := s.service(t, tt.opts)
			if tt.free != 0 {
				transfer.SetFreeSpace(svc, func() (int64, error) { return tt.free, nil })
			}
			next := chunks(data)
			if tt.next != nil {
				next = tt.next()
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			st, err := svc.Upload(ctx, tt.h, next)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Upload: %v, want %v", err, tt.wantErr)
			}
			assertNoTemp(t, s.dir)
			if b, err := os.ReadFile(filepath.Join(s.dir, "taken.txt")); err != nil || string(b) != "mine" {
				t.Errorf("taken.txt = %q, %v", b, err)
			}
			if err != nil {
				if tt.h.Name != "taken.txt" && tt.h.Name != "dir" {
					assertAbsent(t, s.dir, tt.h.Name)
				}
				return
			}
			if st != (transfer.Stored{Name: tt.h.Name, Size: tt.h.Size, SHA256: tt.h.SHA256}) {
				t.Errorf("Stored = %+v", st)
			}
			b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(tt.h.Name)))
			if err != nil || sha(b) != tt.h.SHA256 {
				t.Errorf("stored file: %d bytes, %v", len(b), err)
			}
		})
	}
}

func TestUploadBeforeAnyByte(t *testing.T) {
	t.Parallel()
	// Header errors come before the first chunk is asked for.
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true, MaxUploadSize: 10})
	transfer.SetFreeSpace(svc, func() (int64, error) { return 15, nil })
	for _, h := range []transfer.UploadHeader{
		{Name: "big", Size: 11, SHA256: sha(nil)},
		{Name: "../big", Size: 1, SHA256: sha(nil)},
	} {
		_, err := svc.Upload(t.Context(), h, func() ([]byte, error) {
			t.Error("read content of a refused upload")
			return nil, io.EOF
		})
		if err == nil {
			t.Errorf("Upload(%+v) succeeded", h)
		}
	}
	// Running uploads count against the free space.
	block := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "first", Size: 10, SHA256: sha(make([]byte, 10))}, func() ([]byte, error) {
			select {
			case <-started:
				return nil, io.EOF
			default:
			}
			close(started)
			<-block
			return make([]byte, 10), nil
		})
		done <- err
	}()
	<-started
	_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "second", Size: 10, SHA256: sha(make([]byte, 10))}, chunks(make([]byte, 10)))
	if !errors.Is(err, transfer.ErrNoSpace) {
		t.Errorf("second upload while the first runs: %v, want ErrNoSpace", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Errorf("first upload: %v", err)
	}
	if _, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "second", Size: 10, SHA256: sha(make([]byte, 10))}, chunks(make([]byte, 10))); err != nil {
		t.Errorf("second upload after the first: %v", err)
	}
	assertAbsent(t, s.dir, "big")
	assertNoTemp(t, s.dir)
}

func TestUploadRace(t *testing.T) {
	t.Parallel()
	// Concurrent uploads to one name: exactly one wins, nothing is
	// overwritten, no temporary file is left.
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true, MaxTransfers: 16})
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	contents := make([][]byte, n)
	for i := range n {
		contents[i] = randBytes(100_000, uint64(100+i))
		wg.Go(func() {
			_, errs[i] = svc.Upload(t.Context(), transfer.UploadHeader{Name: "same/name", Size: 100_000, SHA256: sha(contents[i])}, chunks(contents[i]))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("uploads %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, transfer.ErrExists):
			t.Errorf("upload %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no upload succeeded")
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "same", "name"))
	if err != nil || !bytes.Equal(b, contents[winner]) {
		t.Errorf("stored content is not the winner's (%v)", err)
	}
	assertNoTemp(t, s.dir)
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	data := randBytes(3*transfer.MinChunkSize, 5)
	s := newShare(t, map[string][]byte{"f": data})
	r := transfer.Range{Target: transfer.Target{Name: "f"}}

	// hold starts a download that sends its first chunk and then blocks
	// until release is closed.
	hold := func(svc *transfer.Service, release <-chan struct{}) <-chan error {
		sent := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- svc.Download(t.Context(), r, func(int64, []byte) error {
				select {
				case <-sent:
				default:
					close(sent)
					<-release
				}
				return nil
			})
		}()
		<-sent
		return done
	}

	t.Run("no queue", func(t *testing.T) {
		t.Parallel()
		svc := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: -1, ChunkSize: transfer.MinChunkSize, AcceptUploads: true})
		release := make(chan struct{})
		first := hold(svc, release)
		if _, _, err := download(t.Context(), svc, r); !errors.Is(err, transfer.ErrBusy) {
			t.Errorf("second download: %v, want ErrBusy", err)
		}
		// Uploads take the same slots.
		_, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "u", Size: 0, SHA256: sha(nil)}, chunks(nil))
		if !errors.Is(err, transfer.ErrBusy) {
			t.Errorf("upload: %v, want ErrBusy", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if got, _, err := download(t.Context(), svc, r); err != nil || !bytes.Equal(got, data) {
			t.Errorf("download after release: %v", err)
		}
	})

	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		svc := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: 1, ChunkSize: transfer.MinChunkSize})
		release := make(chan struct{})
		first := hold(svc, release)
		// The second waits in the queue...
		second := make(chan error, 1)
		go func() {
			got, _, err := download(t.Context(), svc, r)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong content")
			}
			second <- err
		}()
		// ...so, once it is queued, the third is refused.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if running, waiting := svc.Load(); running == 1 && waiting == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("second download never queued")
			}
		}
		if _, _, err := download(t.Context(), svc, r); !errors.Is(err, transfer.ErrBusy) {
			t.Fatalf("third download: %v, want ErrBusy", err)
		}
		// A queued request whose caller gives up leaves the queue.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		svc2 := s.service(t, transfer.Options{MaxTransfers: 1, MaxQueue: 1, ChunkSize: transfer.MinChunkSize})
		release2 := make(chan struct{})
		held := hold(svc2, release2)
		if _, _, err := download(ctx, svc2, r); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued download past its deadline: %v, want DeadlineExceeded", err)
		}
		close(release2)
		<-held

		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Errorf("queued download: %v", err)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	const (
		size  = 3 << 20   // bytes
		chunk = 256 << 10 // bytes
		rate  = 4 << 20   // bytes per second
	)
	data := randBytes(size, 6)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{MaxRate: rate, ChunkSize: chunk})
	// The limit is shared: two downloads of half the file each take as long
	// as one of all of it. The first chunk-sized burst is free.
	want := time.Duration(float64(size-chunk) / rate * float64(time.Second))
	start := time.Now()
	var wg sync.WaitGroup
	for _, off := range []int64{0, size / 2} {
		wg.Go(func() {
			got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{Name: "f"}, Offset: off, Length: size / 2})
			if err != nil || !bytes.Equal(got, data[off:off+size/2]) {
				t.Errorf("download at %d: %v", off, err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < want {
		t.Errorf("%d bytes at %d B/s took %v, want at least %v", size, rate, took, want)
	}
}

// TestDownloadMemoryFlat checks that a download's memory does not grow with
// the file: chunks come from a pool, so many megabytes cost a few
// allocations. It is not parallel: it counts the allocations of the whole
// process.
func TestDownloadMemoryFlat(t *testing.T) {
	data := randBytes(32<<20, 7)
	s := newShare(t, map[string][]byte{"f": data})
	svc := s.service(t, transfer.Options{})
	r := transfer.Range{Target: transfer.Target{SHA256: sha(data)}}
	discard := func(int64, []byte) error { return nil }
	if err := svc.Download(t.Context(), r, discard); err != nil { // warm the pool
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 8
	var wg sync.WaitGroup
	for range runs {
		wg.Go(func() {
			if err := svc.Download(t.Context(), r, discard); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	// Each concurrent download beyond the pool's may allocate one chunk;
	// nothing is allocated per chunk.
	limit := uint64(runs*transfer.DefaultChunkSize + 1<<20)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("%d downloads of %d MiB allocated %d bytes, want at most %d", runs, len(data)>>20, got, limit)
	}
}

func TestUploadedFileIsShared(t *testing.T) {
	t.Parallel()
	s := newShare(t, nil)
	svc := s.service(t, transfer.Options{AcceptUploads: true})
	data := randBytes(pieces.Size+1, 8)
	if _, err := svc.Upload(t.Context(), transfer.UploadHeader{Name: "up/f.bin", Size: int64(len(data)), SHA256: sha(data)}, chunks(data)); err != nil {
		t.Fatal(err)
	}
	s.rescan(t)
	got, _, err := download(t.Context(), svc, transfer.Range{Target: transfer.Target{SHA256: sha(data)}})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download of the upload: %v", err)
	}
	// The incoming folder is peerhub state, never shared.
	for _, e := range s.ix.Snapshot() {
		if strings.HasPrefix(e.Name, sharepath.StateDir) {
			t.Errorf("index shares %s", e.Name)
		}
	}
}
