package transfer_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/index"
	"github.com/peerhub/peerhub/peer/transfer"
)

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

// Reindex implements transfer.Catalog: a lying catalog never corrects
// itself.
func (c lyingCatalog) Reindex(string, string, error) bool { return false }

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
	testutil.WriteFile(t, dir, "secret.txt", secret)
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
		lies = append(lies, index.Entry{Name: name, Size: int64(len(secret)), SHA256: testutil.SHA256Hex(secret)})
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
				_, err = svc.Upload(t.Context(), transfer.UploadHeader{Name: name, Size: int64(len(content)), SHA256: testutil.SHA256Hex(content)}, chunks(content))
				if !errors.Is(err, transfer.ErrInvalid) {
					t.Errorf("Upload: %v, want ErrInvalid", err)
				}
			})
		}
	}
	t.Run("by hash through the lying catalog", func(t *testing.T) {
		got, _, err := download(t.Context(), lying, transfer.Range{Target: transfer.Target{SHA256: testutil.SHA256Hex(secret)}})
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
