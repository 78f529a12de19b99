package diskspace_test

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/peerhub/peerhub/internal/diskspace"
)

func TestFree(t *testing.T) {
	t.Parallel()
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	free, err := diskspace.Free(root)
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd":
		if err != nil || free <= 0 || free > 1<<62 {
			t.Fatalf("Free = %d, %v; want a positive byte count", free, err)
		}
	default:
		if !errors.Is(err, diskspace.ErrUnsupported) {
			t.Fatalf("Free = %d, %v; want ErrUnsupported", free, err)
		}
	}
}
