package sqlite

import (
	"context"
	"database/sql"
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
// are read by the sha256 index in the same statement (searchWrap), and
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

	var rows *sql.Rows
	if q.SHA256Prefix != "" {
		lo, hi := sqlstore.HashRange(q.SHA256Prefix)
		rows, err = s.r.QueryContext(ctx, sqlSearchPrefixWrapped, lo, after, sqlstore.Nanos(now), lq, q.PageSize+1, hi)
	} else {
		rows, err = stmt.QueryContext(ctx, first, after, sqlstore.Nanos(now), lq, q.PageSize+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	results, lastID, more, err := collectResults(rows, q.PageSize)
	if err != nil {
		return nil, "", fmt.Errorf("search: %w", err)
	}
	next := ""
	if more {
		next = tokens.EncodeID(bind, lastID)
	}
	return results, next, nil
}

// collectResults builds a page's results from searchWrap's rows: rows of
// one content are adjacent (ordered by rn), its live sources sorted by peer
// then name. It returns the id of the page's last content and whether a
// next page exists.
func collectResults(rows *sql.Rows, size int) ([]store.SearchResult, int64, bool, error) {
	defer rows.Close()
	var (
		page []sqlstore.Content
		srcs []source
		// The page's columns, then the source's, NULL for none.
		rn, id int64
		c      sqlstore.Content
		name   sql.NullString
		peer   sql.NullString
		addr   sql.NullString
		seen   sql.NullInt64
		user   sql.NullString
		pin    sql.NullString
		prevRN int64 = -1
		lastID int64
		more   bool
	)
	for rows.Next() {
		if err := rows.Scan(&rn, &id, &c.SHA256, &c.Size, &c.PieceSize, &c.PieceRoot, &name, &peer, &addr, &seen, &user, &pin); err != nil {
			return nil, 0, false, err
		}
		if rn > int64(size) {
			more = true
			continue
		}
		if rn != prevRN {
			page = append(page, c)
			prevRN, lastID = rn, id
		}
		if !peer.Valid {
			continue // no source, or a source of an ended session
		}
		srcs = append(srcs, source{c, store.Source{Peer: peer.String, Username: user.String, Address: addr.String, Name: name.String, LastSeen: sqlstore.FromNanos(seen.Int64), Pin: pin.String}})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	results := sqlstore.NewResults(page)
	for _, r := range srcs {
		results.Add(r.c, r.src, r.src.Username)
	}
	return results.List(), lastID, more, nil
}

// source is a live source of content c.
type source struct {
	c   sqlstore.Content
	src store.Source
}

// tokens is the format of this store's page tokens; its version byte sets
// them apart from other stores' and from a later format's.
const tokens = pagetoken.Format('s')

// PageTokens is the format of this store's page tokens, which a wrapper
// answering Search itself (package liveindex) must use too.
const PageTokens = tokens
