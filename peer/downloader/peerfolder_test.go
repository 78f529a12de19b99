package downloader_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/peer/downloader"
)

// TestFolderPathRefusesEscapes feeds FolderPath the names a hostile peer
// or directory could list in a folder: none may become a path outside the
// receiving folder, or one of a download's own files.
func TestFolderPathRefusesEscapes(t *testing.T) {
	t.Parallel()
	ok := []struct{ folder, name, want string }{
		{"pics", "pics/a.jpg", "pics/a.jpg"},
		{"pics", "pics/2024/may/b.jpg", "pics/2024/may/b.jpg"},
		{"media/pics", "media/pics/a.jpg", "pics/a.jpg"},
		{"", "top.txt", "p1/top.txt"},
		{"", "pics/a.jpg", "p1/pics/a.jpg"},
	}
	for _, c := range ok {
		base := "p1"
		if c.folder != "" {
			base = filepath.Base(c.folder)
		}
		got, err := downloader.FolderPath(base, c.folder, c.name)
		if err != nil || got != c.want {
			t.Errorf("FolderPath(%q, %q, %q) = %q, %v; want %q", base, c.folder, c.name, got, err, c.want)
		}
	}
	hostile := []string{
		"../escape.txt",
		"pics/../../escape.txt",
		"pics/../escape.txt",
		"pics/./a.txt",
		"/etc/passwd",
		"pics//a.txt",
		"pics/",
		"pics\\..\\..\\escape.txt",
		"pics/..\\escape.txt",
		"pics/C:escape.txt",
		"pics/nul.txt",
		"pics/a\x00b",
		"pics/\u202etxt.exe",
		"pics/e\u0301.txt", // not NFC
		"pics/a.txt" + ".peerhub-partial",
		"pics/a.txt" + ".peerhub-state",
		"pics/.0123456789abcdef.peerhub-state",
		"pics/.peerhub/incoming/x.upload",
		"pics/" + strings.Repeat("x", 256),
		"picsx/a.txt", // another folder that starts the same
		"pics",        // the folder itself
		"other/a.txt",
	}
	for _, name := range hostile {
		got, err := downloader.FolderPath("pics", "pics", name)
		if err == nil || !errors.Is(err, downloader.ErrRefusedName) {
			t.Errorf("FolderPath(pics, %q) = %q, %v; want ErrRefusedName", name, got, err)
		}
	}
	for _, base := range []string{"..", ".", "", "a/b", "nul"} {
		if got, err := downloader.FolderPath(base, "", "a.txt"); err == nil {
			t.Errorf("FolderPath with base %q = %q; want a refusal", base, got)
		}
	}
}

// hostileDirectory is an attacker's directory: a real Connect server on
// 127.0.0.1 whose ListFiles answers with the pages it is given, or with
// endless pages when endless is set.
type hostileDirectory struct {
	directoryv1connect.UnimplementedDirectoryServiceHandler
	pages   [][]*directoryv1.SharedFile
	endless bool
	calls   atomic.Int64
}

func (h *hostileDirectory) ListFiles(_ context.Context, req *connect.Request[directoryv1.ListFilesRequest]) (*connect.Response[directoryv1.ListFilesResponse], error) {
	n := h.calls.Add(1)
	if h.endless {
		return connect.NewResponse(&directoryv1.ListFilesResponse{
			Files:         []*directoryv1.SharedFile{shared("p1", fmt.Sprintf("elsewhere/%d.txt", n))},
			NextPageToken: strconv.FormatInt(n, 10),
		}), nil
	}
	i := 0
	if tok := req.Msg.GetPageToken(); tok != "" {
		i, _ = strconv.Atoi(tok)
	}
	res := &directoryv1.ListFilesResponse{Files: h.pages[i]}
	if i+1 < len(h.pages) {
		res.NextPageToken = strconv.Itoa(i + 1)
	}
	return connect.NewResponse(res), nil
}

func (h *hostileDirectory) start(t *testing.T) directoryv1connect.DirectoryServiceClient {
	mux := http.NewServeMux()
	mux.Handle(directoryv1connect.NewDirectoryServiceHandler(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return directoryv1connect.NewDirectoryServiceClient(srv.Client(), srv.URL)
}

func shared(peer, name string) *directoryv1.SharedFile {
	return &directoryv1.SharedFile{Peer: peer, Address: "http://127.0.0.1:1", File: &directoryv1.FileEntry{
		Name: name, Size: 3, Sha256: strings.Repeat("a", 64), PieceRoot: strings.Repeat("b", 64), PieceSize: 1 << 20,
	}}
}

// TestListFolderFromHostileDirectory lists a folder from a directory that
// sends escaping names, reserved names, a name that is both a file and a
// folder, another peer's files and files outside the folder, over two
// pages: only the safe names of the folder come back, each refusal says
// why, and nothing else is returned.
func TestListFolderFromHostileDirectory(t *testing.T) {
	t.Parallel()
	h := &hostileDirectory{pages: [][]*directoryv1.SharedFile{
		{
			shared("p1", "pics/a.jpg"),
			shared("p1", "../escape.txt"),
			shared("p1", "pics/../../escape.txt"),
			shared("p1", "pics/sub"),
			shared("p2", "pics/not-p1.jpg"),
			shared("p1", "picsx/other.jpg"),
		},
		{
			shared("p1", "pics/sub/b.jpg"),
			shared("p1", "pics/b.jpg.peerhub-partial"),
			shared("p1", "pics/.peerhub/cache"),
			shared("p1", "/pics/abs.jpg"),
			shared("p1", "pics/2024/c.jpg"),
		},
	}}
	files, refused, err := downloader.ListFolder(t.Context(), h.start(t), "p1", "pics/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
		if len(f.Sources) != 1 || f.Sources[0].Peer != "p1" || f.Sources[0].Name != "pics/"+strings.TrimPrefix(f.Path, "pics/") {
			t.Errorf("%s: sources %+v", f.Path, f.Sources)
		}
	}
	if want := []string{"pics/2024/c.jpg", "pics/a.jpg", "pics/sub/b.jpg"}; !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	var names []string
	for _, r := range refused {
		names = append(names, r.Name)
		if !errors.Is(r.Err, downloader.ErrRefusedName) {
			t.Errorf("%s refused with %v, not ErrRefusedName", r.Name, r.Err)
		}
	}
	// "../escape.txt" and "/pics/abs.jpg" are not in pics/ by their
	// text; "pics/../../escape.txt" is, and is refused.
	if want := []string{"pics/../../escape.txt", "pics/.peerhub/cache", "pics/b.jpg.peerhub-partial", "pics/sub"}; !slices.Equal(names, want) {
		t.Errorf("refused %q, want %q", names, want)
	}
}

// TestListFolderStopsEndlessListing: a directory that answers every page
// with another page token is followed for a bounded number of pages.
func TestListFolderStopsEndlessListing(t *testing.T) {
	t.Parallel()
	h := &hostileDirectory{endless: true}
	_, _, err := downloader.ListFolder(t.Context(), h.start(t), "p1", "pics")
	if err == nil || !strings.Contains(err.Error(), "pages") {
		t.Fatalf("err %v, want a refusal of the endless listing", err)
	}
	if n := h.calls.Load(); n > 1000 {
		t.Errorf("%d calls, want at most 1000", n)
	}
}

// TestMakeParentsRefusesLinks plants, in the output folder, a symbolic
// link to a folder outside it, a link to a folder inside it, and a file,
// each where a download's folder goes: MakeParents refuses each and makes
// nothing outside the output folder.
func TestMakeParentsRefusesLinks(t *testing.T) {
	t.Parallel()
	out, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "pics", "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"pics/out": outside, "pics/in": filepath.Join(out, "pics", "real")}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(out, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "pics", "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	for _, rel := range []string{"pics/out/x.jpg", "pics/out/deeper/x.jpg", "pics/in/x.jpg", "pics/file/x.jpg", "../x.jpg"} {
		if err := downloader.MakeParents(root, rel); err == nil {
			t.Errorf("MakeParents(%q) made it", rel)
		}
	}
	if names, _ := os.ReadDir(outside); len(names) != 0 {
		t.Errorf("made %v outside the output folder", names)
	}
	if err := downloader.MakeParents(root, "pics/new/deep/x.jpg"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, "pics", "new", "deep")); err != nil || !fi.IsDir() {
		t.Errorf("pics/new/deep: %v", err)
	}
}
