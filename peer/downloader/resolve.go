package downloader

import (
	"context"
	"fmt"
	"path"
	"strings"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
)

// MaxResolveResults is how many search results Resolve reads at most
// (distinct contents): more would not fit in a question to a person anyway.
const MaxResolveResults = 1000

// Searcher is the part of the directory's client Resolve needs;
// directoryv1connect.DirectoryServiceClient has it.
type Searcher interface {
	// Search is DirectoryService.Search.
	Search(context.Context, *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error)
}

// Candidate is one distinct content a query matched, with its sources.
type Candidate struct {
	Target
	// Name is the name the query matched best, the one to save the file
	// under (its last segment: see FileName).
	Name string
	// Names are every name this content is shared under, sorted.
	Names []string
	// Sources are the online peers that have it.
	Sources []Source
}

// FileName is the name to save the candidate under: the last segment of
// Name ("music/song.ogg" is saved as "song.ogg").
func (c Candidate) FileName() string { return path.Base(c.Name) }

// AmbiguousError is Resolve's error when a name matches several distinct
// contents equally well. Candidates lists them, so that a caller can ask
// which one was meant, or print them.
type AmbiguousError struct {
	// Query is what was looked for.
	Query string
	// Candidates are the contents that match, in the directory's order.
	Candidates []Candidate
}

// Error lists the candidates, one per line after the first.
func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d different files; name one by its SHA-256:", e.Query, len(e.Candidates))
	for _, c := range e.Candidates {
		fmt.Fprintf(&b, "\n  %s  %s  %d bytes", c.SHA256, c.Name, c.Size)
	}
	return b.String()
}

// match ranks how well a name matches a query: a name equal to the query
// beats one whose last segment equals it, which beats a name equal in
// another case, which beats a substring.
type match int

const (
	noMatch match = iota
	substring
	exactFold
	baseExact
	exact
)

func rank(name, query string) match {
	base := path.Base(name)
	switch {
	case name == query:
		return exact
	case base == query:
		return baseExact
	case strings.EqualFold(name, query) || strings.EqualFold(base, query):
		return exactFold
	case strings.Contains(strings.ToLower(name), strings.ToLower(query)):
		return substring
	}
	return noMatch
}

// Resolve finds the content query names: a SHA-256 (64 hex digits, either
// case), an unambiguous prefix of one (at least MinHashPrefixLen hex
// digits, either case; a file of that name if no hash has that prefix), or
// a file name, searched for at the directory (see SearchRequests). Of the
// contents whose names match, only the best-matching kind counts (see
// match: an exact name beats a substring); if that leaves one content, it
// is the answer. Every content a hash prefix matches counts alike.
// Errors: ErrNotFound, *AmbiguousError (several contents match equally
// well, or share the prefix), or the directory's error (a *connect.Error,
// e.g. InvalidArgument for a query shorter than 3 characters).
func Resolve(ctx context.Context, dir Searcher, query string) (Candidate, error) {
	var results []*directoryv1.SearchResult
	var req *directoryv1.SearchRequest
	for _, req = range SearchRequests(query, 500) {
		var err error
		if results, err = searchPages(ctx, dir, req); err != nil {
			return Candidate{}, fmt.Errorf("search %q: %w", query, err)
		}
		if len(results) > 0 {
			break
		}
	}
	byHash := req.GetQuery() == ""

	var best []Candidate
	bestRank := noMatch
	for _, r := range results {
		if len(r.GetSources()) == 0 {
			continue
		}
		c, m := candidate(r, query, byHash)
		switch {
		case m > bestRank:
			best, bestRank = []Candidate{c}, m
		case m == bestRank && m != noMatch:
			best = append(best, c)
		}
	}
	switch len(best) {
	case 0:
		return Candidate{}, fmt.Errorf("%q: %w", query, ErrNotFound)
	case 1:
		return best[0], nil
	default:
		return Candidate{}, &AmbiguousError{Query: query, Candidates: best}
	}
}

// searchPages collects up to MaxResolveResults results of req, following
// pages.
func searchPages(ctx context.Context, dir Searcher, req *directoryv1.SearchRequest) ([]*directoryv1.SearchResult, error) {
	var results []*directoryv1.SearchResult
	for len(results) < MaxResolveResults {
		res, err := dir.Search(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		results = append(results, res.Msg.GetResults()...)
		if req.PageToken = res.Msg.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	return results, nil
}

// candidate converts a search result and ranks it against query. A result
// of a search by hash or hash prefix (byHash) matches exactly if its hash
// starts with the query, in either case.
func candidate(r *directoryv1.SearchResult, query string, byHash bool) (Candidate, match) {
	c := Candidate{
		Target: Target{
			SHA256:    r.GetSha256(),
			Size:      r.GetSize(),
			PieceSize: int64(r.GetPieceSize()),
			PieceRoot: r.GetPieceRoot(),
		},
		Names: r.GetNames(),
	}
	for _, s := range r.GetSources() {
		c.Sources = append(c.Sources, Source{Peer: s.GetPeer(), Address: s.GetAddress(), Name: s.GetName()})
	}
	var m match
	if byHash {
		if strings.HasPrefix(r.GetSha256(), strings.ToLower(query)) {
			m = exact
		}
		if len(c.Names) > 0 {
			c.Name = c.Names[0]
		}
		return c, m
	}
	for _, name := range c.Names {
		if k := rank(name, query); k > m {
			c.Name, m = name, k
		}
	}
	if m == noMatch && len(c.Names) > 0 {
		// The directory matched it by rules of its own (Unicode case
		// folding, say): it still is a match, of the weakest kind.
		c.Name, m = c.Names[0], substring
	}
	return c, m
}
