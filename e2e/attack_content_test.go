// Attack tests of content identity, the downloader's files and portable
// names (issue #10): each starts a real directory and real peers, acts as a
// hostile peer or account would, and checks what an honest user gets.

package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/reachproof"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// contentRun is one in-process run of the peerhub command line.
type contentRun struct {
	code     int
	out, err string
}

// contentGet runs `peerhub get query -o out` as alice against n.
func contentGet(t *testing.T, n *testnet.Network, query, out string) contentRun {
	t.Helper()
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	var o, e bytes.Buffer
	code := cli.Run(t.Context(), []string{"get", query, "-o", out}, cli.Streams{
		In: strings.NewReader(""), Out: &o, Err: &e,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	return contentRun{code, o.String(), e.String()}
}

// contentLiar logs in as account user with a peer session named peer that
// advertises addr, and publishes files: a hostile account needs nothing
// more than a client and its own credentials.
func contentLiar(t *testing.T, n *testnet.Network, user, peer, addr string, files ...*directoryv1.FileEntry) error {
	t.Helper()
	s := keptAlive(t, session.Config{Directory: n.DirectoryURL, Username: user, Password: testnet.Password, PeerName: peer, Advertise: addr})
	return s.PublishSnapshot(t.Context(), files)
}

// contentSources counts the sources of every search result for sha256,
// as alice sees them.
func contentSources(t *testing.T, c *session.Session, sha string) int {
	res, err := c.Client().Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Sha256: sha}))
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range res.Msg.GetResults() {
		n += len(r.GetSources())
	}
	return n
}

// contentListener is a TCP listener on 127.0.0.1 that counts the
// connections made to it and closes them: the address of a peer that must
// never be contacted.
func contentListener(t *testing.T) (url string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Counted at once (a late count could let a test pass);
			// uncounted if it turns out to be the directory's
			// reachability dial-back (a GET of reachproof.Path), which is
			// not a download.
			conns.Add(1)
			go func() {
				defer c.Close()
				probe := "GET " + reachproof.Path
				buf := make([]byte, len(probe))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err == nil && string(buf) == probe {
					conns.Add(-1)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), conns
}

// TestAttackPoisonedDescriptor: accounts publish a popular file's real
// sha256 with a made-up piece root, under peer names that sort first, more
// accounts than the honest peers have, advertising an honest peer's address
// and a dead one. Before, search took the descriptor from the first source
// and every honest source then failed "source describes another content".
// Now each descriptor is its own result: the honest one keeps its piece
// root and its two sources, and get succeeds from the honest sources (it
// tries the liars' descriptor first, since more accounts announce it, and
// falls back).
func TestAttackPoisonedDescriptor(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory1", "mallory2", "mallory3"}})
	data := testutil.RandBytes(3*pieces.Size+17, 1010)
	sha := testutil.SHA256Hex(data)
	p1 := n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"movie.bin": data}})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"movie.bin": data}})
	c := keptAlive(t, aliceAt(n))
	testutil.Eventually(t, 10*time.Second, "both honest peers indexed", func() error {
		if got := contentSources(t, c, sha); got != 2 {
			return fmt.Errorf("%d sources", got)
		}
		return nil
	})

	fake := &directoryv1.FileEntry{
		Name: "movie.bin", Size: int64(len(data)), Sha256: sha, PieceSize: pieces.Size,
		PieceRoot: testutil.SHA256Hex([]byte("made up")),
	}
	dead, _ := contentListener(t)
	for i, addr := range []string{p1.URL, dead, p1.URL} {
		user := []string{"mallory1", "mallory2", "mallory3"}[i]
		if err := contentLiar(t, n, user, "aaa-"+user, addr, fake); err != nil {
			t.Fatalf("%s publishes: %v", user, err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "the lies indexed", func() error {
		if got := contentSources(t, c, sha); got != 5 {
			return fmt.Errorf("%d sources", got)
		}
		return nil
	})

	res, err := c.Client().Search(t.Context(), connect.NewRequest(&directoryv1.SearchRequest{Sha256: sha}))
	if err != nil {
		t.Fatal(err)
	}
	var honest *directoryv1.SearchResult
	for _, r := range res.Msg.GetResults() {
		for _, s := range r.GetSources() {
			if s.GetPeer() == "p1" {
				honest = r
			}
		}
	}
	// (Its account count is checked by the store's conformance suite.)
	if honest == nil || honest.GetPieceRoot() == fake.GetPieceRoot() || len(honest.GetSources()) != 2 {
		t.Errorf("the honest peers' result %v: want their own piece root and their 2 sources", honest)
	}

	out := t.TempDir()
	r := contentGet(t, n, "movie.bin", out)
	if r.code != 0 {
		t.Fatalf("get failed (%d): %s", r.code, r.err)
	}
	if got := testutil.FileSHA256(t, filepath.Join(out, "movie.bin")); got != sha {
		t.Fatalf("got sha256 %s, want %s", got, sha)
	}
}

// TestAttackPlantedSymlink: someone who can write the output folder plants
// a symbolic link at the name of get's partial (or state) file, pointing at
// a file outside the folder. Before, get opened the link and wrote the
// download through it, overwriting the target. Now get refuses the link;
// the target stays as it was.
func TestAttackPlantedSymlink(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	data := testutil.RandBytes(2*pieces.Size+3, 2020)
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"file.bin": data}})
	c := keptAlive(t, aliceAt(n))
	sha := testutil.SHA256Hex(data)
	testutil.Eventually(t, 10*time.Second, "file.bin indexed", func() error {
		if contentSources(t, c, sha) != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	for _, suffix := range []string{".peerhub-partial", ".peerhub-state"} {
		t.Run(suffix, func(t *testing.T) {
			out := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim.txt")
			const secret = "precious data outside the output folder"
			if err := os.WriteFile(victim, []byte(secret), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, filepath.Join(out, "file.bin"+suffix)); err != nil {
				t.Fatal(err)
			}
			r := contentGet(t, n, "file.bin", out)
			if b, _ := os.ReadFile(victim); string(b) != secret {
				t.Fatalf("the link's target outside the folder was overwritten (%d bytes); get: %d %s", len(b), r.code, r.err)
			}
			if r.code == 0 {
				t.Fatalf("get followed or removed the planted link silently: %s", r.out)
			}
			if !strings.Contains(r.err, "symbolic link") {
				t.Errorf("get's error does not say why: %s", r.err)
			}
			if fi, err := os.Lstat(filepath.Join(out, "file.bin"+suffix)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was changed: %v, %v", fi, err)
			}
		})
	}
}

// TestAttackWindowsNames: names that escape a folder or deceive on another
// system (`..\..\x`, a drive letter, a bidi override, a C1 control) are
// refused where they enter: a publish (InvalidArgument, nothing indexed), an
// upload (InvalidArgument, nothing stored) and a peer's own index (the file
// is not shared).
func TestAttackWindowsNames(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory"}})
	up := n.AddPeer("up", testnet.PeerOptions{
		AcceptUploads: true,
		Files:         map[string][]byte{"ok.txt": []byte("fine"), `..\..\evil.txt`: []byte("evil"), "C:evil.txt": []byte("evil"), "evil\u202etxt.exe": []byte("evil")},
	})
	c := keptAlive(t, aliceAt(n))
	testutil.Eventually(t, 10*time.Second, "ok.txt indexed", func() error {
		if contentSources(t, c, testutil.SHA256Hex([]byte("fine"))) != 1 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if got := contentSources(t, c, testutil.SHA256Hex([]byte("evil"))); got != 0 {
		t.Errorf("the peer shares %d files with unportable names", got)
	}

	bad := []string{`..\..\x`, `dir\..\..\x`, "C:x", "C:/Windows/x.txt", "x.txt:ads", "evil\u202egnp.exe", "a\u2066b", "a\u0085b", "a\u009bb"}
	for _, name := range bad {
		t.Run("publish "+name, func(t *testing.T) {
			f := &directoryv1.FileEntry{Name: name, Size: 1, Sha256: testutil.SHA256Hex([]byte("x")), PieceSize: pieces.Size, PieceRoot: testutil.SHA256Hex([]byte("y"))}
			err := contentLiar(t, n, "mallory", "mallory", "http://127.0.0.1:9", f)
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("publish %q: %v, want InvalidArgument", name, err)
			}
		})
	}
	if got := contentSources(t, c, testutil.SHA256Hex([]byte("x"))); got != 0 {
		t.Errorf("%d refused entries indexed", got)
	}

	client := peerv1connect.NewPeerServiceClient(rpcclient.NewHTTPClient(), up.URL, rpcclient.Options(transferToken(t, c, directoryv1.TokenScope_TOKEN_SCOPE_UPLOAD, "up"))...)
	for _, name := range bad {
		t.Run("upload "+name, func(t *testing.T) {
			stream := client.Upload(t.Context())
			stream.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Header{Header: &peerv1.UploadHeader{Name: name, Size: 4, Sha256: testutil.SHA256Hex([]byte("evil"))}}})
			stream.Send(&peerv1.UploadRequest{Part: &peerv1.UploadRequest_Chunk{Chunk: []byte("evil")}})
			_, err := stream.CloseAndReceive()
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("upload %q: %v, want InvalidArgument", name, err)
			}
		})
	}
	ents, err := os.ReadDir(up.Share)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 5 { // .peerhub, ok.txt and the three files written before
		t.Errorf("the shared folder holds %q after the refused uploads", names)
	}
}

// TestAttackHugeSize: an account publishes a content with a size of 2^63-1
// bytes, or 64 TiB, and nobody else has it. Before, get panicked
// (makeslice) on the first, and allocated gigabytes before failing on the
// second. Now get fails clearly, contacts no peer and allocates little.
//
// It does not run in parallel: it measures the bytes allocated meanwhile.
func TestAttackHugeSize(t *testing.T) {
	n := testnet.Start(t, testnet.Options{Users: []string{"alice", "mallory"}})
	addr, conns := contentListener(t)
	c := keptAlive(t, aliceAt(n))
	for _, tt := range []struct {
		name string
		size int64
		want string
	}{
		{"huge.bin", 1<<63 - 1, "too large"},
		{"big.bin", 64 << 40, "not enough free disk space"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sha := testutil.SHA256Hex([]byte(tt.name))
			f := &directoryv1.FileEntry{Name: tt.name, Size: tt.size, Sha256: sha, PieceSize: pieces.Size, PieceRoot: testutil.SHA256Hex([]byte("root of " + tt.name))}
			if err := contentLiar(t, n, "mallory", "mallory-"+strings.TrimSuffix(tt.name, ".bin"), addr, f); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, "indexed", func() error {
				if contentSources(t, c, sha) != 1 {
					return fmt.Errorf("not yet")
				}
				return nil
			})
			out := t.TempDir()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := contentGet(t, n, tt.name, out)
			runtime.ReadMemStats(&after)
			if r.code == 0 || !strings.Contains(r.err, tt.want) {
				t.Fatalf("get = %d %q, want a failure saying %q", r.code, r.err, tt.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("get allocated %d MiB to refuse it", alloc>>20)
			}
			if k := conns.Load(); k != 0 {
				t.Errorf("the announcing peer was contacted %d times", k)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("the output folder holds %v", ents)
			}
		})
	}
}
