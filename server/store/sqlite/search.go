package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
// nor skip content while the index is unchanged. A content is the whole
// descriptor (sqlstore.Content), so one sha256 announced with two piece
// lists is two results, each at its own first row id. The page's sources
// are then read by the sha256 index, in the same read transaction, and
// grouped by descriptor.
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
	var page []sqlstore.Content
	for rows.Next() {
		var id int64
		var c sqlstore.Content
		if err := rows.Scan(&id, &c.SHA256, &c.Size, &c.PieceSize, &c.PieceRoot); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("search: %w", err)
		}
		ids, page = append(ids, id), append(page, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	next := ""
	if len(page) > q.PageSize {
		page = page[:q.PageSize]
		next = tokens.EncodeID(bind, ids[q.PageSize-1])
	}
	if len(page) == 0 {
		return nil, "", nil
	}
	results, err := s.sources(ctx, tx, page, now)
	if err != nil {
		return nil, "", err
	}
	return results, next, nil
}

// sources builds the results for the given contents, in that order, from
// all their live sources.
func (s *Store) sources(ctx context.Context, tx *sql.Tx, page []sqlstore.Content, now time.Time) ([]store.SearchResult, error) {
	shas := make([]string, 0, len(page))
	for _, c := range page {
		shas = append(shas, c.SHA256)
	}
	list, err := json.Marshal(shas)
	if err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	rows, err := tx.StmtContext(ctx, s.searchSources).QueryContext(ctx, string(list), sqlstore.Nanos(now))
	if err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	defer rows.Close()
	results := sqlstore.NewResults(page)
	for rows.Next() {
		var c sqlstore.Content
		var src store.Source
		var lastSeen int64
		var account string
		if err := rows.Scan(&c.SHA256, &src.Name, &c.Size, &c.PieceSize, &c.PieceRoot, &src.Peer, &src.Address, &lastSeen, &account); err != nil {
			return nil, fmt.Errorf("search sources: %w", err)
		}
		src.LastSeen = sqlstore.FromNanos(lastSeen)
		src.Username = account
		results.Add(c, src, account)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search sources: %w", err)
	}
	return results.List(), nil
}

// tokens is the format of this store's page tokens; its version byte sets
// them apart from other stores' and from a later format's.
const tokens = pagetoken.Format('s')
