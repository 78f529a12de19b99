package downloader_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testnet"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// fakeDirectory answers Search from a fixed list, a name query by
// case-insensitive substring as the directory does, in pages of two.
type fakeDirectory struct {
	results []*directoryv1.SearchResult
	calls   int
}

func (f *fakeDirectory) Search(_ context.Context, req *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error) {
	f.calls++
	var hits []*directoryv1.SearchResult
	for _, r := range f.results {
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
			c, err := downloader.Resolve(t.Context(), dir, tt.query)
			if amb, ok := errors.AsType[*downloader.AmbiguousError](err); ok {
				var got []string
				for _, c := range amb.Candidates {
					got = append(got, c.SHA256[:1])
					if !strings.Contains(err.Error(), c.SHA256) {
						t.Errorf("ambiguity message %q lacks %s", err, c.SHA256)
					}
				}
				if strings.Join(got, ",") != strings.Join(tt.ambiguous, ",") {
					t.Errorf("candidates %v, want %v", got, tt.ambiguous)
				}
				return
			}
			if tt.ambiguous != nil {
				t.Fatalf("Resolve = %+v, %v; want ambiguous %v", c, err, tt.ambiguous)
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Resolve error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.SHA256[:1] != tt.want || c.Name != tt.wantName || len(c.Sources) != 1 || c.PieceRoot == "" {
				t.Errorf("Resolve = %+v, want sha %s… named %q with its source", c, tt.want, tt.wantName)
			}
		})
	}
}

// TestResolveAndDownload goes through a real directory: peers publish, the
// client resolves a name and downloads from every peer that has it.
func TestResolveAndDownload(t *testing.T) {
	t.Parallel()
	data := make([]byte, 5*mib+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	n := testnet.Start(t, testnet.Options{})
	n.AddPeer("p1", testnet.PeerOptions{Files: map[string][]byte{"shared/movie.bin": data}, MaxRate: 8 * mib})
	n.AddPeer("p2", testnet.PeerOptions{Files: map[string][]byte{"movie.bin": data}, MaxRate: 8 * mib})
	n.AddPeer("p3", testnet.PeerOptions{Files: map[string][]byte{"other.bin": data[:100]}})

	s := session.New(session.Config{Directory: n.DirectoryURL, Username: "alice", Password: testnet.Password})
	if err := s.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Logout(context.Background())
	var c downloader.Candidate
	ok := testnet.WaitFor(10*time.Second, func() bool {
		var err error
		c, err = downloader.Resolve(t.Context(), s.Client(), "movie.bin")
		return err == nil && len(c.Sources) == 2
	})
	if !ok {
		t.Fatalf("movie.bin never resolved to two sources: %+v", c)
	}
	if c.Name != "movie.bin" || c.FileName() != "movie.bin" {
		t.Errorf("resolved name %q (file %q), want the exact match movie.bin", c.Name, c.FileName())
	}
	dest := filepath.Join(t.TempDir(), c.FileName())
	res, err := downloader.Download(t.Context(), c.Target, c.Sources, downloader.Options{Dest: dest, Tokens: s.Tokens(directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD)})
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.FileSHA256(t, dest); got != c.SHA256 {
		t.Fatalf("sha256 %s, want %s", got, c.SHA256)
	}
	for _, src := range res.Sources {
		if src.Pieces == 0 {
			t.Errorf("source %s served no piece", src.Peer)
		}
	}
}
