package downloader_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/peer/downloader"
)

// fakeDirectory answers Search from a fixed list, a name query by
// case-insensitive substring and a hash prefix by prefix, as the directory
// does, in pages of two.
type fakeDirectory struct {
	results []*directoryv1.SearchResult
	calls   int
}

func (f *fakeDirectory) Search(_ context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	f.calls++
	var hits []*directoryv1.SearchResult
	for _, r := range f.results {
		if p := req.Msg.GetSha256Prefix(); p != "" {
			if strings.HasPrefix(r.GetSha256(), p) {
				hits = append(hits, r)
			}
			continue
		}
		if req.Msg.GetSha256() != "" {
			if r.GetSha256() == req.Msg.GetSha256() {
				hits = append(hits, r)
			}
			continue
		}
		for _, n := range r.GetNames() {
			if strings.Contains(strings.ToLower(n), strings.ToLower(req.Msg.GetQuery())) {
				hits = append(hits, r)
				break
			}
		}
	}
	start := 0
	if req.Msg.GetPageToken() != "" {
		start = int(req.Msg.GetPageToken()[0] - '0')
	}
	end := min(start+2, len(hits))
	res := &directoryv1.SearchResponse{Results: hits[start:end]}
	if end < len(hits) {
		res.NextPageToken = string(rune('0' + end))
	}
	return connect.NewResponse(res), nil
}

func result(sha string, names ...string) *directoryv1.SearchResult {
	return &directoryv1.SearchResult{
		Sha256: strings.Repeat(sha, 64), Size: int64(len(names)), PieceSize: 1 << 20, PieceRoot: strings.Repeat("f", 64),
		Names:   names,
		Sources: []*directoryv1.Source{{Peer: "p-" + sha, Address: "http://127.0.0.1:1", Name: names[0]}},
	}
}

// resolveCase resolves query against dir and checks the outcome. An
// ambiguity must list the candidates ambiguous (each labelled by label, in
// the directory's order) and name each candidate's hash in its message;
// any other outcome must fail with wantErr, or succeed when wantErr is
// nil and no ambiguity is wanted. ok is whether Resolve found one
// candidate, c.
func resolveCase(t *testing.T, dir *fakeDirectory, query string, label func(downloader.Candidate) string, ambiguous []string, wantErr error) (c downloader.Candidate, ok bool) {
	t.Helper()
	c, err := downloader.Resolve(t.Context(), dir, query)
	if amb, isAmb := errors.AsType[*downloader.AmbiguousError](err); isAmb {
		var got []string
		for _, c := range amb.Candidates {
			got = append(got, label(c))
			if !strings.Contains(err.Error(), c.SHA256) {
				t.Errorf("ambiguity message %q lacks %s", err, c.SHA256)
			}
		}
		if strings.Join(got, ",") != strings.Join(ambiguous, ",") {
			t.Errorf("candidates %v, want %v", got, ambiguous)
		}
		return c, false
	}
	if ambiguous != nil {
		t.Fatalf("Resolve = %+v, %v; want ambiguous %v", c, err, ambiguous)
	}
	if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
		t.Fatalf("Resolve error %v, want %v", err, wantErr)
	}
	return c, err == nil
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := &fakeDirectory{results: []*directoryv1.SearchResult{
		result("a", "report.pdf"),
		result("b", "old/report.pdf", "report.pdf.bak"),
		result("c", "music/song.ogg"),
		result("d", "Song.OGG"),
		result("e", "notes.txt"),
		result("1", "docs/notes.txt"),
		result("2", "unique-thing.bin"),
		{Sha256: strings.Repeat("9", 64), Names: []string{"gone.txt"}}, // no source online
	}}
	tests := []struct {
		query     string
		want      string   // sha256 digit of the answer
		wantName  string   // Candidate.Name
		ambiguous []string // sha256 digits of the candidates
		wantErr   error
	}{
		// An exact name beats the same last segment in another folder.
		{query: "report.pdf", want: "a", wantName: "report.pdf"},
		// Same base name in one case beats another case.
		{query: "song.ogg", want: "c", wantName: "music/song.ogg"},
		// Substrings of one content only.
		{query: "unique", want: "2", wantName: "unique-thing.bin"},
		{query: "report.pdf.b", want: "b", wantName: "report.pdf.bak"},
		// A full name and a last segment: the full name wins.
		{query: "notes.txt", want: "e", wantName: "notes.txt"},
		// Two contents match as substrings only.
		{query: "repo", ambiguous: []string{"a", "b"}},
		{query: "song", ambiguous: []string{"c", "d"}},
		// By SHA-256, either case.
		{query: strings.Repeat("c", 64), want: "c", wantName: "music/song.ogg"},
		{query: strings.Repeat("C", 64), want: "c", wantName: "music/song.ogg"},
		{query: strings.Repeat("7", 64), wantErr: downloader.ErrNotFound},
		{query: "nothing-like-it", wantErr: downloader.ErrNotFound},
		{query: "gone.txt", wantErr: downloader.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c, ok := resolveCase(t, dir, tt.query, func(c downloader.Candidate) string { return c.SHA256[:1] }, tt.ambiguous, tt.wantErr)
			if !ok {
				return
			}
			if c.SHA256[:1] != tt.want || c.Name != tt.wantName || len(c.Sources) != 1 || c.PieceRoot == "" {
				t.Errorf("Resolve = %+v, want sha %s… named %q with its source", c, tt.want, tt.wantName)
			}
		})
	}
}

func TestResolveHashPrefix(t *testing.T) {
	t.Parallel()
	withHash := func(sha, name string) *directoryv1.SearchResult {
		r := result("0", name)
		r.Sha256 = sha
		return r
	}
	x := withHash("abcdef01"+strings.Repeat("1", 56), "x.bin")
	y := withHash("abcdef01"+strings.Repeat("2", 56), "y.bin")
	z := withHash("12345678"+strings.Repeat("3", 56), "z.bin")
	named := withHash(strings.Repeat("4", 64), "cafebabe.txt") // a name that looks like a prefix
	dir := &fakeDirectory{results: []*directoryv1.SearchResult{x, y, z, named}}
	tests := []struct {
		query     string
		want      string   // the answer's name
		ambiguous []string // the candidates' names
		wantErr   error
	}{
		{query: "12345678", want: "z.bin"},
		{query: "ABCDEF011", want: "x.bin"},
		{query: "abcdef0122", want: "y.bin"},
		{query: "abcdef01", ambiguous: []string{"x.bin", "y.bin"}},
		{query: "ABCDEF01", ambiguous: []string{"x.bin", "y.bin"}},
		// No hash starts so: a file of that name.
		{query: "cafebabe", want: "cafebabe.txt"},
		// Seven digits are a name, not a prefix.
		{query: "1234567", wantErr: downloader.ErrNotFound},
		{query: "abcdef0199", wantErr: downloader.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c, ok := resolveCase(t, dir, tt.query, func(c downloader.Candidate) string { return c.Name }, tt.ambiguous, tt.wantErr)
			if ok && c.Name != tt.want {
				t.Errorf("Resolve = %+v, want %s", c, tt.want)
			}
		})
	}
}

func TestHashQuery(t *testing.T) {
	t.Parallel()
	full := strings.Repeat("Ab", 32)
	for _, tt := range []struct{ query, sha, prefix string }{
		{full, strings.ToLower(full), ""},
		{full[:63], "", strings.ToLower(full[:63])},
		{"DEADBEEF", "", "deadbeef"},
		{"deadbee", "", ""},
		{"deadbeeg", "", ""},
		{full + "a", "", ""},
		{"report.pdf", "", ""},
	} {
		if sha, prefix := downloader.HashQuery(tt.query); sha != tt.sha || prefix != tt.prefix {
			t.Errorf("HashQuery(%q) = %q, %q; want %q, %q", tt.query, sha, prefix, tt.sha, tt.prefix)
		}
	}
}
