package httpfiles_test

import (
	"mime"
	"testing"

	"github.com/peerhub/peerhub/peer/httpfiles"
)

// TestDisposition checks that the saved name survives a round trip through
// a Content-Disposition parser, ASCII or not, quotes included, and that
// only the last segment of a path names the saved file.
func TestDisposition(t *testing.T) {
	for in, want := range map[string]string{
		"song.ogg":         "song.ogg",
		`say "hi".txt`:     `say "hi".txt`,
		"Ünïcode ñame.txt": "Ünïcode ñame.txt",
		"music/日本語.flac":   "日本語.flac",
		"a;b=c, d.txt":     "a;b=c, d.txt",
	} {
		d := httpfiles.Disposition(in)
		typ, params, err := mime.ParseMediaType(d)
		if err != nil || typ != "attachment" || params["filename"] != want {
			t.Errorf("Disposition(%q) = %q: parsed %q %q %v, want filename %q", in, d, typ, params, err, want)
		}
	}
}
