package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/session"
)

// albumFiles is a folder of 50 files in subfolders (and a file beside
// it, in a folder whose name starts the same, that is not part of it).
func albumFiles() map[string][]byte {
	files := map[string][]byte{}
	for i := range 50 {
		var name string
		switch {
		case i < 20:
			name = fmt.Sprintf("album/cd1/track%02d.bin", i)
		case i < 40:
			name = fmt.Sprintf("album/cd2/track%02d.bin", i)
		case i < 45:
			name = fmt.Sprintf("album/extras/notes/note%02d.txt", i)
		default:
			name = fmt.Sprintf("album/cover%02d.jpg", i)
		}
		size := 1000 + i*3001
		if i == 7 {
			size = 2<<20 + 11 // several pieces
		}
		files[name] = testutil.RandBytes(size, uint64(100+i))
	}
	return files
}

// regularFiles maps every regular file under dir (slash-separated,
// relative to dir) to its SHA-256.
func regularFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got[filepath.ToSlash(rel)] = testutil.SHA256Hex(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestGetMany gets several files in one command, by name and by folder,
// from real peers through a real directory, and checks every byte; and
// that one failure among them makes the exit code 1 with a summary that
// names it.
func TestGetMany(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	a, c := []byte("file a\n"), []byte("file c, on another peer\n")
	big := testutil.RandBytes(3<<20+99, 7)
	p1Files := albumFiles()
	p1Files["a.txt"], p1Files["big.bin"] = a, big
	p1Files["twin.txt"] = []byte("twin one\n")
	p1Files["albumx/decoy.txt"] = []byte("not in album\n")
	n.AddPeer("p1", testnet.PeerOptions{Files: p1Files})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"c.txt": c, "twin.txt": []byte("twin two\n")}})
	// A slow peer (1 MiB/s), stopped in the middle of a download.
	slowContent := testutil.RandBytes(8<<20+5, 21)
	slow := n.AddPeer("slow", testnet.PeerOptions{Files: map[string][]byte{"slow.bin": slowContent}, MaxRate: 1 << 20})
	// A peer that is listed but never answers, directly or through the
	// relay: a session at a hung address, with no daemon behind it.
	n.AddUser("frozen")
	frozen := session.New(session.Config{Directory: n.DirectoryURL, Username: "frozen", Password: testnet.Password, Advertise: testutil.HungListener(t)})
	if err := frozen.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	hung := []byte("never sent\n")
	if err := frozen.PublishSnapshot(t.Context(), []*directoryv1.FileEntry{{
		Name: "hung.bin", Size: int64(len(hung)), Sha256: testutil.SHA256Hex(hung), PieceRoot: testutil.SHA256Hex(hung), PieceSize: 1 << 20,
	}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"a.txt", "big.bin", "c.txt", "twin.txt", "hung.bin", "slow.bin", "track39", "note44", "cover49", "decoy"} {
		waitIndexed(t, n, q)
	}
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	t.Run("three names", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		// By name, by name, by a 12-digit prefix of a hash in upper case.
		prefix := strings.ToUpper(testutil.SHA256Hex(c)[:12])
		r := run(t, env, "", "get", "-o", out, "--parallel", "2", "a.txt", "big.bin", prefix)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
		}
		want := map[string]string{"a.txt": testutil.SHA256Hex(a), "big.bin": testutil.SHA256Hex(big), "c.txt": testutil.SHA256Hex(c)}
		if got := regularFiles(t, out); !maps.Equal(got, want) {
			t.Errorf("output folder holds %v, want %v", got, want)
		}
		if k := strings.Count(r.out, "Saved "); k != 3 {
			t.Errorf("%d Saved lines, want 3:\n%s", k, r.out)
		}
	})

	t.Run("folder of 50 files", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "new")
		r := run(t, env, "", "get", "--folder", "p1:album", "-o", out, "--parallel", "4")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
		}
		want := map[string]string{}
		for name, b := range albumFiles() {
			want[name] = testutil.SHA256Hex(b)
		}
		got := regularFiles(t, out)
		if len(got) != 50 || !maps.Equal(got, want) {
			t.Errorf("output folder holds %d files, want the 50 of album:\n%v", len(got), got)
		}
		if k := strings.Count(r.out, "Saved "); k != 50 {
			t.Errorf("%d Saved lines, want 50", k)
		}
		// Again, with one file changed here: the 49 others are there
		// already and are not fetched again; the changed one is not
		// replaced without --force.
		mine := filepath.Join(out, "album", "cd2", "track25.bin")
		if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		want["album/cd2/track25.bin"] = testutil.SHA256Hex([]byte("mine"))
		r = run(t, env, "", "get", "--folder", "p1:album/", "-o", out)
		if r.code != 1 || !strings.Contains(r.err, "1 of 50 files failed (49 saved)") || !strings.Contains(r.err, "album/cd2/track25.bin: ") || !strings.Contains(r.err, "--force") {
			t.Errorf("second get: exit %d, want 1 naming track25 and --force\n%s", r.code, r.err)
		}
		if k := strings.Count(r.out, "Already there: "); k != 49 {
			t.Errorf("%d files already there, want 49:\n%s", k, r.out)
		}
		if got := regularFiles(t, out); !maps.Equal(got, want) {
			t.Errorf("second get changed the folder: %v", got)
		}
	})

	t.Run("partial failure", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		r := run(t, env, "", "get", "-o", out, "--stall-timeout", "1s", "a.txt", "hung.bin", "nowhere.txt", "twin.txt")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
		}
		if got := regularFiles(t, out)["a.txt"]; got != testutil.SHA256Hex(a) {
			t.Errorf("a.txt not saved beside the failures")
		}
		summary := r.err[strings.Index(r.err, "peerhub: "):]
		for _, s := range []string{
			"3 of 4 files failed (1 saved)",
			// Dropped as hung, or not offered once the directory's
			// dial-back found it unreachable: either way it fails.
			"hung.bin: ",
			"nowhere.txt: ", "no online peer shares",
			"twin.txt: ", "2 different files",
		} {
			if !strings.Contains(summary, s) {
				t.Errorf("summary lacks %q:\n%s", s, summary)
			}
		}
		if strings.Contains(summary, "a.txt") {
			t.Errorf("summary names a.txt, which succeeded:\n%s", summary)
		}
	})

	t.Run("resume after the source is lost", func(t *testing.T) {
		t.Parallel()
		out := t.TempDir()
		var stdout, stderr testutil.SyncBuffer
		done := started(t, env, &stdout, &stderr, "get", "-o", out, "a.txt", "slow.bin")
		testutil.Eventually(t, 30*time.Second, "a piece of slow.bin is on disk", func() error {
			return stateSaved(filepath.Join(out, "slow.bin"+sharepath.StateSuffix))
		})
		if err := slow.Stop(); err != nil {
			t.Fatal(err)
		}
		var code int
		select {
		case code = <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("get still running 60 s after its source stopped\n%s", stderr.String())
		}
		summary := stderr.String()[strings.Index(stderr.String(), "peerhub: "):]
		if code != 1 || !strings.Contains(summary, "1 of 2 files failed (1 saved)") ||
			!strings.Contains(summary, "slow.bin"+sharepath.PartialSuffix+": run the same command again to resume") {
			t.Fatalf("exit %d, want 1 with a resume hint for slow.bin\n%s", code, stderr.String())
		}
		// The same command, once the peer is back, resumes slow.bin and
		// finds a.txt there.
		n.AddPeer("slow", testnet.PeerOptions{Share: slow.Share})
		waitIndexed(t, n, "slow.bin")
		r := run(t, env, "", "get", "--json", "-o", out, "a.txt", "slow.bin")
		if r.code != 0 {
			t.Fatalf("second get: exit %d\n%s%s", r.code, r.out, r.err)
		}
		for line := range strings.Lines(r.out) {
			var ev struct {
				Event, Name                string
				FetchedBytes, ResumedBytes int64 `json:",string"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event != "done" {
				continue
			}
			switch {
			case ev.Name == "a.txt" && ev.FetchedBytes != 0:
				t.Errorf("a.txt fetched again: %s", line)
			case ev.Name == "slow.bin" && (ev.ResumedBytes == 0 || ev.FetchedBytes == int64(len(slowContent))):
				t.Errorf("slow.bin not resumed: %s", line)
			}
		}
		if got := regularFiles(t, out); got["slow.bin"] != testutil.SHA256Hex(slowContent) || len(got) != 2 {
			t.Errorf("output folder holds %v", got)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"get", "--folder", "p1"},
			{"get", "--folder", "../x:album"},
			{"get", "--folder", "p1:../album"},
			{"get", "--parallel", "0", "a.txt", "c.txt"},
			{"get", "--parallel", "33", "a.txt", "c.txt"},
		} {
			if r := run(t, env, "", args...); r.code != 2 {
				t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r.err)
			}
		}
	})
}

// TestGetManyJSONGolden fixes the --json events of a get of several files
// (with a failure among them) and of a folder: one object per line, each
// naming its file, the summary last. --parallel 1 makes the order fixed.
func TestGetManyJSONGolden(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{
		"a.txt": []byte("golden a\n"), "b.txt": []byte("golden b\n"),
		"docs/one.txt": []byte("one\n"), "docs/sub/two.txt": []byte("two\n"), "docs/sub/deeper/three.txt": []byte("three\n"),
	}})
	waitIndexed(t, n, "a.txt")
	waitIndexed(t, n, "three.txt")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	tmp := t.TempDir()

	r := run(t, env, "", "get", "--json", "--parallel", "1", "-o", filepath.Join(tmp, "out"), "a.txt", "nowhere.txt", "b.txt")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	checkGolden(t, "get-many", r.out, tmp)

	r = run(t, env, "", "get", "--json", "--parallel", "1", "-o", filepath.Join(tmp, "out"), "--folder", "p1:docs")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	checkGolden(t, "get-folder", r.out, tmp)
}

// summaryLine is the line of get's failure summary about name, or "".
func summaryLine(stderr, name string) string {
	i := strings.Index(stderr, "peerhub: ")
	if i < 0 {
		return ""
	}
	for l := range strings.Lines(stderr[i:]) {
		if strings.HasPrefix(strings.TrimSpace(l), name+": ") {
			return l
		}
	}
	return ""
}

// TestGetFolderThroughPlantedLinks: someone planted, in the output
// folder, symbolic links to a folder outside it where a peer's folder has
// subfolders. get --folder saves the files it can, refuses to write
// through either link (naming it), exits 1, and writes nothing outside.
// The peer serves real content at those names, so a get that followed a
// link would write outside.
func TestGetFolderThroughPlantedLinks(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	ok := []byte("a fine picture\n")
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{
		"pics/ok.jpg": ok, "pics/link/pwn.jpg": []byte("pwned\n"), "pics/deep/link/pwn2.jpg": []byte("pwned too\n"),
	}})
	waitIndexed(t, n, "pwn2.jpg")
	waitIndexed(t, n, "ok.jpg")
	out, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "pics", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"pics/link", "pics/deep/link"} {
		if err := os.Symlink(outside, filepath.Join(out, filepath.FromSlash(l))); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	r := run(t, env, "", "get", "--folder", "p1:pics", "-o", out)
	t.Logf("get --folder p1:pics:\n%s", r.err)
	if r.code != 1 || !strings.Contains(r.err, "2 of 3 files failed (1 saved)") {
		t.Fatalf("exit %d, want 1 with 2 of 3 failed\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
	for _, name := range []string{"pics/link/pwn.jpg", "pics/deep/link/pwn2.jpg"} {
		if l := summaryLine(r.err, name); !strings.Contains(l, "symbolic link") {
			t.Errorf("summary does not refuse %s for its link:\n%s", name, r.err)
		}
	}
	if names, _ := os.ReadDir(outside); len(names) != 0 {
		t.Errorf("wrote %v outside the output folder", names)
	}
	if got := regularFiles(t, out); len(got) != 1 || got["pics/ok.jpg"] != testutil.SHA256Hex(ok) {
		t.Errorf("output folder holds %v, want only pics/ok.jpg", got)
	}
}

// TestGetFolderHostilePeer: a peer publishes, through the real directory,
// a folder listing meant to make a get --folder write where it must not:
// names of a download's own partial and state files, the .peerhub folder,
// and a name that is both a file and a folder. The get refuses each,
// names each, exits 1, and writes no file under a refused name. (Names
// that leave the folder, such as "../x", the directory refuses at publish;
// downloader's TestListFolderFromHostileDirectory sends them from a
// hostile directory.)
func TestGetFolderHostilePeer(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddUser("evil")
	evil := session.New(session.Config{Directory: n.DirectoryURL, Username: "evil", Password: testnet.Password, PeerName: "evil", Advertise: testutil.HungListener(t)})
	if err := evil.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	entry := func(name string) *directoryv1.FileEntry {
		return &directoryv1.FileEntry{Name: name, Size: 5, Sha256: testutil.SHA256Hex([]byte(name)), PieceRoot: testutil.SHA256Hex([]byte("root " + name)), PieceSize: 1 << 20}
	}
	refused := map[string]string{
		"pics/x.jpg" + sharepath.PartialSuffix:  "partial or state file",
		"pics/x.jpg" + sharepath.StateSuffix:    "partial or state file",
		"pics/" + sharepath.StateDir + "/cache": "state folder",
		"pics/sub":                              "both a file and a folder",
	}
	var entries []*directoryv1.FileEntry
	for name := range refused {
		entries = append(entries, entry(name))
	}
	// Names that are safe: their source hangs, so they fail too, later.
	entries = append(entries, entry("pics/x.jpg"), entry("pics/sub/y.jpg"))
	if err := evil.PublishSnapshot(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, n, "y.jpg")

	out := t.TempDir()
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	r := run(t, env, "", "get", "--folder", "evil:pics", "-o", out, "--stall-timeout", "1s")
	t.Logf("get --folder evil:pics:\n%s", r.err)
	if r.code != 1 || !strings.Contains(r.err, "6 of 6 files failed") {
		t.Fatalf("exit %d, want 1 with 6 of 6 failed\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
	for name, why := range refused {
		if l := summaryLine(r.err, name); !strings.Contains(l, why) {
			t.Errorf("summary does not refuse %s (%s):\n%s", name, why, r.err)
		}
	}
	// The safe names' sources hung before a byte: nothing is left.
	if got := regularFiles(t, out); len(got) != 0 {
		t.Errorf("wrote %v", got)
	}
}

// TestMenuIgnoresJSONEnvironment: PEERHUB_JSON=true, exported for the
// other commands, does not make the menu a usage error; a --json typed
// for it still is.
func TestMenuIgnoresJSONEnvironment(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password, "PEERHUB_JSON": "true"}
	if r := run(t, env, "0\n", "menu", "-o", t.TempDir()); r.code != 0 || !strings.Contains(r.out, "Bye.") {
		t.Errorf("menu with PEERHUB_JSON=true: exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
	if r := run(t, env, "0\n", "menu", "--json"); r.code != 2 || !strings.Contains(r.err, "--json") {
		t.Errorf("menu --json: exit %d, want 2\n%s", r.code, r.err)
	}
	// The environment still reaches the commands that have JSON.
	if r := run(t, env, "", "peers"); r.code != 0 || !strings.HasPrefix(r.out, `{"peers":`) {
		t.Errorf("peers with PEERHUB_JSON=true: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// TestGetManyOnATerminal runs get of several names on a pseudo-terminal:
// an ambiguous name is asked about there, before any download starts, and
// the downloads show as one block (a total line and a line per running
// download) redrawn in place, with a Saved line for each file above it.
func TestGetManyOnATerminal(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	twinB := []byte("twin two\n")
	slowContent := testutil.RandBytes(3<<20, 31)
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"twin.txt": []byte("twin one\n"), "slow.bin": slowContent}, MaxRate: 1 << 20})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"twin.txt": twinB}})
	waitIndexed(t, n, "twin.txt")
	waitIndexed(t, n, "slow.bin")
	out := t.TempDir()

	s := startOnPTY(t, n, "get", "-o", out, "twin.txt", "slow.bin")
	s.expect(`"twin.txt" matches 2 different files`)
	// The candidates come in the directory's order: pick p2's by its hash.
	choice := ""
	for l := range strings.Lines(s.next("Which one?")) {
		if strings.Contains(l, testutil.SHA256Hex(twinB)[:16]) {
			choice, _, _ = strings.Cut(strings.TrimSpace(l), ")")
		}
	}
	s.typeLine(choice)
	s.expect("Getting 2 files: ")
	s.expect(" of 3.0 MiB") // the sizes of both, each counted once
	s.expect("slow.bin  ")
	s.expect("\x1b[") // the block is redrawn in place
	s.expect("Saved " + filepath.Join(out, "slow.bin"))
	if c := s.exitCode(); c != 0 {
		t.Fatalf("exit %d; the screen:\n%s", c, s.scr.String())
	}
	if !strings.Contains(s.scr.String(), "Saved "+filepath.Join(out, "twin.txt")) {
		t.Errorf("no Saved line for twin.txt; the screen:\n%s", s.scr.String())
	}
	got := regularFiles(t, out)
	if got["twin.txt"] != testutil.SHA256Hex(twinB) || got["slow.bin"] != testutil.SHA256Hex(slowContent) || len(got) != 2 {
		t.Errorf("output folder holds %v", got)
	}
}

// TestGetManyWaitsForOne: with --wait, a name no online peer shares yet
// waits on its own while the others download, and is got once a peer
// that shares it comes online.
func TestGetManyWaitsForOne(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	now, late := []byte("here from the start\n"), testutil.RandBytes(1<<20+3, 41)
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"now.txt": now}})
	waitIndexed(t, n, "now.txt")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	out := t.TempDir()
	var stdout, stderr testutil.SyncBuffer
	done := started(t, env, &stdout, &stderr, "get", "--json", "--wait", "30s", "-o", out, "now.txt", "late.bin")
	testutil.Eventually(t, 20*time.Second, "now.txt is saved while late.bin is waited for", func() error {
		var saved, waiting bool
		for line := range strings.Lines(stdout.String()) {
			var ev struct{ Event, Name, Query string }
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			saved = saved || ev.Event == "done" && ev.Name == "now.txt"
			waiting = waiting || ev.Event == "waiting" && ev.Query == "late.bin"
		}
		if !saved || !waiting {
			return fmt.Errorf("saved %v, waiting %v:\n%s", saved, waiting, stdout.String())
		}
		return nil
	})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"late.bin": late}})
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("get --wait 30s still running after 40 s\n%s", stdout.String())
	}
	got := regularFiles(t, out)
	if got["now.txt"] != testutil.SHA256Hex(now) || got["late.bin"] != testutil.SHA256Hex(late) {
		t.Errorf("output folder holds %v", got)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"event":"summary","files":2,"saved":2,"failed":[]`) {
		t.Errorf("last line %s, want the summary", last)
	}
}

// TestGetManyInterrupted: a get of several files stopped half way (its
// context cancelled, as Ctrl-C does) exits 130 and names, for the file it
// was getting, the partial file that the same command resumes; the files
// not started yet are listed too.
func TestGetManyInterrupted(t *testing.T) {
	t.Parallel()
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{
		"slow1.bin": testutil.RandBytes(6<<20, 51), "slow2.bin": testutil.RandBytes(6<<20, 52),
	}, MaxRate: 1 << 20})
	waitIndexed(t, n, "slow1.bin")
	waitIndexed(t, n, "slow2.bin")
	env := map[string]string{"PEERHUB_DIRECTORY": n.DirectoryURL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"get", "--parallel", "1", "-o", out, "slow1.bin", "slow2.bin"}, cli.Streams{
			In: strings.NewReader(""), Out: &stdout, Err: &stderr,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	testutil.Eventually(t, 30*time.Second, "a piece of slow1.bin is on disk", func() error {
		return stateSaved(filepath.Join(out, "slow1.bin"+sharepath.StateSuffix))
	})
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("get still running 30 s after it was interrupted\n%s", stderr.String())
	}
	t.Logf("interrupted:\n%s", stderr.String())
	if code != cli.ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitInterrupted, stderr.String())
	}
	if l := summaryLine(stderr.String(), "slow1.bin"); !strings.Contains(stderr.String(), "slow1.bin"+sharepath.PartialSuffix+": run the same command again to resume") || l == "" {
		t.Errorf("no resume hint for slow1.bin:\n%s", stderr.String())
	}
	if l := summaryLine(stderr.String(), "slow2.bin"); !strings.Contains(l, "not started") {
		t.Errorf("slow2.bin not listed as not started:\n%s", stderr.String())
	}
}

// stateSaved reports whether the download state at path has recorded a
// piece (testutil.DownloadStateSaved), so that one is on disk to resume.
func stateSaved(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !testutil.DownloadStateSaved(b) {
		return errors.New("no progress saved yet")
	}
	return nil
}
