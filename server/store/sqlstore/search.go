package sqlstore

import (
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
