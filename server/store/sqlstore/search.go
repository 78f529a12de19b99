package sqlstore

import (
	"slices"
	"strings"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// Lower is how names (the name_lower column) and queries are folded before
// they reach the database: SQLite's own lower() only knows ASCII, and
// PostgreSQL's depends on the database's locale.
func Lower(s string) string { return strings.ToLower(s) }

// SearchStart returns what a page of the search q starts from: the lowered
// query, the binding of page tokens to this search, and the file id after
// which the page starts (0 for the first page). A page token of another
// search, or not of the store's format tokens, is an error wrapping
// store.ErrInvalidArgument.
func SearchStart(q store.SearchQuery, tokens pagetoken.Format) (lq string, bind uint32, after int64, err error) {
	lq = Lower(q.Query)
	bind = pagetoken.Hash("search", lq, q.SHA256)
	if q.SHA256Prefix != "" {
		// Only then: tokens of the other searches stay as they were.
		bind = pagetoken.Hash("search", lq, q.SHA256, "prefix", q.SHA256Prefix)
	}
	after, err = tokens.DecodeID(q.PageToken, bind)
	return lq, bind, after, err
}

// Content is what identifies a content in search results: its whole
// descriptor. Sources that announce one SHA-256 with another size, piece
// size or piece root are another content, so a peer that lies about a
// content forms a result of its own instead of changing what honest peers'
// result says.
type Content struct {
	SHA256    string // hex
	Size      int64  // bytes
	PieceSize int32  // bytes
	PieceRoot string // hex
}

// Results builds one page of search results from the live sources of its
// contents, in the page's order. Sources of contents not on the page (the
// same SHA-256 under another descriptor) are ignored.
type Results struct {
	page     []Content
	results  map[Content]*store.SearchResult
	accounts map[Content]map[string]bool
}

// NewResults starts the results of the page's contents, in that order.
func NewResults(page []Content) *Results {
	r := &Results{
		page:     page,
		results:  make(map[Content]*store.SearchResult, len(page)),
		accounts: make(map[Content]map[string]bool, len(page)),
	}
	for _, c := range page {
		r.results[c] = &store.SearchResult{SHA256: c.SHA256, Size: c.Size, PieceSize: c.PieceSize, PieceRoot: c.PieceRoot}
		r.accounts[c] = map[string]bool{}
	}
	return r
}

// Add records src, a live source of content c belonging to account.
// Sources must come sorted by peer name, then file name, within a content.
func (r *Results) Add(c Content, src store.Source, account string) {
	res := r.results[c]
	if res == nil {
		return
	}
	res.Sources = append(res.Sources, src)
	res.Names = append(res.Names, src.Name)
	r.accounts[c][account] = true
}

// List returns the page's results, in page order, each with its names
// sorted and deduplicated and its account count. A content with no source
// (which cannot happen within one read transaction) is left out.
func (r *Results) List() []store.SearchResult {
	out := make([]store.SearchResult, 0, len(r.page))
	for _, c := range r.page {
		res := r.results[c]
		if len(res.Sources) == 0 {
			continue
		}
		slices.Sort(res.Names)
		res.Names = slices.Compact(res.Names)
		res.AccountCount = len(r.accounts[c])
		out = append(out, *res)
	}
	return out
}
