package downloader

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"connectrpc.com/connect"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/sharepath"
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
	// Accounts is how many distinct accounts announce this descriptor
	// (directoryv1.SearchResult.account_count).
	Accounts int
	// Others are the other descriptors announced for the same SHA-256
	// (another piece root, size or piece size), most accounts first: Get
	// falls back to them. Empty in the Others themselves.
	Others []Candidate
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
// A content is one SHA-256: when peers announce it with several descriptors
// (piece roots, sizes, piece sizes), the answer is the descriptor the most
// accounts announce, with the others in Candidate.Others for Get to fall
// back to.
// Errors: ErrNotFound, *AmbiguousError (several contents match equally
// well, or share the prefix), or the directory's error (a *connect.Error,
// e.g. InvalidArgument for a query shorter than 3 characters).
func Resolve(ctx context.Context, dir Searcher, query string) (Candidate, error) {
	// Names are NFC (sharepath.Check), whatever form a terminal typed the
	// query in; hex digits are the same in every form.
	query = sharepath.Normalize(query)
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
	for _, c := range bySHA256(results, query, byHash) {
		m := c.rank
		switch {
		case m > bestRank:
			best, bestRank = []Candidate{c.Candidate}, m
		case m == bestRank && m != noMatch:
			best = append(best, c.Candidate)
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

// ranked is a candidate with how well it matched.
type ranked struct {
	Candidate
	rank match
}

// bySHA256 groups the search results (one per descriptor) by SHA-256, in
// the order each SHA-256 first appears: one candidate per SHA-256, whose
// descriptor is the one the most accounts announce (then the most sources,
// then the directory's order), with the others as its Others. A group ranks
// as its best-matching name, which becomes its Name.
func bySHA256(results []*directoryv1.SearchResult, query string, byHash bool) []ranked {
	var order []string
	groups := map[string][]ranked{}
	for _, r := range results {
		if len(r.GetSources()) == 0 {
			continue
		}
		c, m := candidate(r, query, byHash)
		if groups[c.SHA256] == nil {
			order = append(order, c.SHA256)
		}
		groups[c.SHA256] = append(groups[c.SHA256], ranked{c, m})
	}
	out := make([]ranked, 0, len(order))
	for _, sha := range order {
		g := groups[sha]
		slices.SortStableFunc(g, func(a, b ranked) int {
			return cmp.Or(cmp.Compare(b.Accounts, a.Accounts), cmp.Compare(len(b.Sources), len(a.Sources)))
		})
		first := g[0]
		for _, o := range g[1:] {
			if o.rank > first.rank {
				first.Name, first.rank = o.Name, o.rank
			}
			first.Others = append(first.Others, o.Candidate)
		}
		out = append(out, first)
	}
	return out
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

// CandidateOf converts one result of a search (or of a live search) for
// query into a Candidate, as Resolve does: named by its name that matches
// query best, or by its first name when the search was by hash (byHash).
func CandidateOf(r *directoryv1.SearchResult, query string, byHash bool) Candidate {
	c, _ := candidate(r, query, byHash)
	return c
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
		Names:    r.GetNames(),
		Accounts: int(r.GetAccountCount()),
	}
	for _, s := range r.GetSources() {
		c.Sources = append(c.Sources, Source{Peer: s.GetPeer(), Address: s.GetAddress(), Name: s.GetName(),
			Relayed: s.GetReachability() == directoryv1.Reachability_REACHABILITY_RELAYED, Pin: identity.Pin(s.GetPin())})
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
