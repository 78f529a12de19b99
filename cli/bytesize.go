package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag value in bytes written with an optional unit:
// "1048576", "512KiB", "8MiB", "1GiB", "10MB" (decimal units are powers of
// 1000, binary ones of 1024).
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// String implements pflag.Value.
func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set implements pflag.Value.
func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) && len(s) > len(u.suffix) {
			// Case-insensitive match, but "KiB"-style suffixes are tried first.
			factor = u.factor
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a size: use a number of bytes with an optional unit, e.g. 8MiB", s)
	}
	total := v * float64(factor)
	if total > 1<<62 {
		return fmt.Errorf("%q is too large", s)
	}
	*b = byteSize(total)
	return nil
}

// Type implements pflag.Value.
func (b *byteSize) Type() string { return "size" }
