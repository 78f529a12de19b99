package humansize_test

import (
	"math"
	"testing"

	"github.com/peerhub/peerhub/internal/humansize"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0:               "0 B",
		-5:              "-5 B",
		1023:            "1023 B",
		1024:            "1.0 KiB",
		1536:            "1.5 KiB",
		1<<20 - 1:       "1024.0 KiB",
		1 << 20:         "1.0 MiB",
		3 << 30:         "3.0 GiB",
		5 << 40:         "5.0 TiB",
		7 << 50:         "7.0 PiB",
		1 << 60:         "1.0 EiB",
		math.MaxInt64:   "8.0 EiB",
		1<<30 + 512<<20: "1.5 GiB",
	} {
		if got := humansize.Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
