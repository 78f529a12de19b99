package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/sqlstore"
	"github.com/peerhub/peerhub/server/store/trigram"
)

// ftsPhrase quotes a trigram as one FTS5 string, so that every character is
// literal (quotes, parentheses, stars, keywords like AND).
func ftsPhrase(q string) string { return `"` + strings.ReplaceAll(q, `"`, `""`) + `"` }

// Search implements store.Store.
//
// Results are in the order of each content's first matching row id (the FTS
// rowid). A name query of 3 or more characters walks the trigram index (see
// trigram.go for which trigrams), a hash or hash prefix query the sha256
// index (see hashprefix.go); a shorter
// or empty name query walks files by id. A page walks matches from the token's row id, keeps a row only if
// no live matching row of the same content has a smaller id, and stops after
// PageSize+1 kept rows; the token is the last kept row id. So a broad query
// costs about a page of rows, not its match count, and pages neither repeat
// nor skip content while the index is unchanged. The page's sources are then
// read by the sha256 index, in the same read transaction.
func (s *Store) Search(ctx context.Context, q store.SearchQuery, now time.Time) ([]store.SearchResult, string, error) {
	lq, bind, after, err := sqlstore.SearchStart(q, tokens)
	if err != nil {
		return nil, "", err
	}
	stmt, first := s.searchScan, any(nil)
	switch {
	case q.SHA256 != "":
		stmt, first = s.searchSHA, q.SHA256
	case utf8.RuneCountInString(lq) >= trigram.Len:
		// Shorter queries fall back to a scan (the edge rejects them
		// anyway).
		stmt, first = s.searchFTS, match(s.sample.Load(), lq)
	}

	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to commit

	var rows *sql.Rows
	if q.SHA256Prefix != "" {
		lo, hi := sqlstore.HashRange(q.SHA256Prefix)
		rows, err = tx.QueryContext(ctx, sqlSearchPrefix, lo, after, sqlstore.Nanos(now), lq, q.PageSize+1, hi)
	} else {
		rows, err = tx.StmtContext(ctx, stmt).QueryContext(ctx, first, after, sqlstore.Nanos(now), lq, q.PageSize+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	var ids []int64
	var shas []string
	for rows.Next() {
		var id int64
		var sha string
		if err := rows.Scan(&id, &sha); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("search: %w", err)
		}
		ids, shas = append(ids, id), append(shas, sha)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	next := ""
	if len(shas) > q.PageSize {
		shas = shas[:q.PageSize]
		next = tokens.EncodeID(bind, ids[q.PageSize-1])
	}
	if len(shas) == 0 {
		return nil, "", nil
	}
	results, err := s.sources(ctx, tx, shas, now)
	if err != nil {
		return nil, "", err
	}
	return results, next, nil
}

// sources builds the results for the given contents, in that order, from
// all their live sources.
func (s *Store) sources(ctx context.Context, tx *sql.Tx, shas []string, now time.Time) ([]store.SearchResult, error) {
	list, err := json.Marshal(shas)
	if err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	rows, err := tx.StmtContext(ctx, s.searchSources).QueryContext(ctx, string(list), sqlstore.Nanos(now))
	if err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	defer rows.Close()
	byHash := make(map[string]*store.SearchResult, len(shas))
	for rows.Next() {
		var sha string
		var f store.File
		var src store.Source
		var lastSeen int64
		if err := rows.Scan(&sha, &src.Name, &f.Size, &f.PieceSize, &f.PieceRoot, &src.Peer, &src.Address, &lastSeen); err != nil {
			return nil, fmt.Errorf("search sources: %w", err)
		}
		src.LastSeen = sqlstore.FromNanos(lastSeen)
		r := byHash[sha]
		if r == nil {
			// Rows come sorted by peer then name: the metadata is the
			// first source's.
			r = &store.SearchResult{SHA256: sha, Size: f.Size, PieceSize: f.PieceSize, PieceRoot: f.PieceRoot}
			byHash[sha] = r
		}
		r.Sources = append(r.Sources, src)
		r.Names = append(r.Names, src.Name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	out := make([]store.SearchResult, 0, len(shas))
	for _, sha := range shas {
		r := byHash[sha]
		if r == nil {
			continue // cannot happen within one read transaction
		}
		slices.Sort(r.Names)
		r.Names = slices.Compact(r.Names)
		out = append(out, *r)
	}
	return out, nil
}

// tokens is the format of this store's page tokens; its version byte sets
// them apart from other stores' and from a later format's.
const tokens = pagetoken.Format('s')
