package testutil

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// GzipBomb returns a gzip stream (concatenated members, as gzip allows) that
// inflates to about size bytes of zeros from about size/1000 bytes: each
// member is one MiB of zeros at best compression, about a kilobyte.
func GzipBomb(t testing.TB, size int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), max(size>>20, 1))
}
