package testutil

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// ServeFile serves the file at path over plain net/http (http.ServeFile,
// which uses sendfile) on a loopback port until the test ends, and returns
// its URL: the baseline that benchmarks of peerhub's transfers compare with.
func ServeFile(t testing.TB, path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/" + filepath.Base(path)
}
