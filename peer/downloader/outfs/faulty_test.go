package outfs_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

func TestFaulty(t *testing.T) {
	t.Parallel()
	real, err := outfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	d := outfs.NewFaulty(real)
	d.FailAfter(outfs.OpWrite, ".part", 2)
	part, err := d.OpenFile("a.part", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	other, err := d.OpenFile("b.state", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	for i := range 2 {
		if _, err := part.WriteAt([]byte("ab"), int64(2*i)); err != nil {
			t.Fatalf("write %d: %v, want it to succeed", i, err)
		}
	}
	for range 2 { // the disk stays full
		if _, err := part.WriteAt([]byte("cd"), 4); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("third write: %v, want ENOSPC", err)
		}
	}
	if _, err := other.WriteAt([]byte("x"), 0); err != nil {
		t.Fatalf("write to a name without the suffix: %v", err)
	}
	d.MakeRoom()
	if _, err := part.WriteAt([]byte("ef"), 4); err != nil {
		t.Fatalf("write after MakeRoom: %v", err)
	}
	if n := d.Calls(outfs.OpWrite, ".part"); n != 5 {
		t.Errorf("Calls = %d, want 5", n)
	}
	d.FailAfter(outfs.OpCreate, "", 0)
	if _, err := d.OpenFile("c", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create: %v, want ENOSPC", err)
	}
	if names, _ := d.Names(); len(names) != 2 {
		t.Errorf("folder holds %v, want a.part and b.state: a failed create made nothing", names)
	}
	// What the writes that succeeded wrote is on disk, the failed ones not.
	buf := make([]byte, 6)
	if _, err := part.ReadAt(buf, 0); err != nil || string(buf) != "ababef" {
		t.Errorf("content %q, %v; want ababef", buf, err)
	}
}
