package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
	"github.com/peerhub/peerhub/server/store/sqlstore"
	"github.com/peerhub/peerhub/server/store/trigram"
)

// Choosing how to find a page of a name query (see Search).
const (
	// broadEstimate is the planner's estimate of matching names, in
	// rows, from which Search walks the files in id order without
	// probing the trigram index first. The estimate tests the pattern on
	// a 1000-name histogram: 2000 rows of a million is two hits in it,
	// which a pattern matching under 0.03 % of names reaches by chance
	// less than once in twenty.
	broadEstimate = 2000
	// probeCap is how many matching files, in rows, the trigram index
	// may return for a query before Search calls it broad. Below it, the
	// page is chosen among those rows, at a few microseconds each (fetch,
	// liveness, "first of its content"); at or above it, Search walks the
	// files in id order and stops after a page of contents, at under a
	// microsecond per row walked: a thousand matches in a million files
	// (0.1 %) mean about 50 000 rows for a 50-result page, so the two
	// costs meet near here. Probing costs up to probeCap row checks
	// itself, so it is kept small.
	probeCap = 1000
)

// Search's page statements. Each returns (id, sha256, size, piece_size,
// piece_root) of the page's contents, PageSize+1 of them at most, in id
// order; a row is kept only if no live matching row of the same content
// (the whole descriptor, see sqlstore.Content) has a smaller id, so each
// content appears once, at its first match, without sorting the matches.
// Parameters: $1 now, $2 page size, $3 the id after which the page starts,
// $4 the lowered query, $5 per statement.
//
// strpos(), not LIKE, tests names here: the trigram index cannot serve it,
// so the planner walks the primary key in id order (and stops after a
// page), and the "first of its content" check looks rows up by the sha256
// index.
const (
	firstOfContent = `NOT EXISTS (
		SELECT 1 FROM files g JOIN sessions t ON t.seq = g.session_seq
		WHERE g.sha256 = f.sha256 AND g.id < f.id
			AND g.size = f.size AND g.piece_size = f.piece_size AND g.piece_root = f.piece_root
			AND t.expires_at > $1 AND t.address <> ''
			AND strpos(g.name_lower, $4) > 0)`

	pageTail = ` AND s.expires_at > $1 AND s.address <> ''
			AND ` + firstOfContent + `
		ORDER BY f.id LIMIT $2 + 1`

	// sqlPageWalk serves broad queries, and those the trigram index
	// cannot (shorter than 3 characters): it walks files from the page
	// token's id and stops after a page. It has no $5.
	sqlPageWalk = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f JOIN sessions s ON s.seq = f.session_seq
		WHERE f.id > $3 AND strpos(f.name_lower, $4) > 0` + pageTail

	// sqlPageIDs chooses the page among the candidates the trigram index
	// returned ($5, every matching id after $3).
	sqlPageIDs = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f JOIN sessions s ON s.seq = f.session_seq
		WHERE f.id = ANY($5::int8[]) AND f.id > $3 AND strpos(f.name_lower, $4) > 0` + pageTail

	// sqlPageSHA finds the one content of a hash ($5) by the sha256 index.
	sqlPageSHA = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f JOIN sessions s ON s.seq = f.session_seq
		WHERE f.sha256 = $5::bytea AND f.id > $3 AND strpos(f.name_lower, $4) > 0` + pageTail

	// sqlProbe asks the trigram index for the files matching $1 after
	// id $2, up to $3 of them, in no order: the probe of a query with no
	// trigram of ASCII letters and digits (see probeTerms).
	sqlProbe = `SELECT id FROM files WHERE name_lower LIKE $1 AND id > $2 LIMIT $3`

	// sqlEstimate asks the planner, without running anything, how many
	// files match $1.
	sqlEstimate = `EXPLAIN (FORMAT JSON) SELECT 1 FROM files WHERE name_lower LIKE $1`

	// searchWrap runs a page statement and reads every live source of
	// the page's first PageSize contents by the sha256 index (those of
	// exactly the content's descriptor), with its peer's pin, in one
	// statement and so one
	// snapshot. The extra content (rn = PageSize+1) comes back alone,
	// only to tell that a next page exists.
	searchWrap = `WITH page AS MATERIALIZED (%s),
		ranked AS (SELECT id, sha256, size, piece_size, piece_root, row_number() OVER (ORDER BY id) AS rn FROM page)
		SELECT r.rn, r.id, r.sha256, r.size, r.piece_size, r.piece_root,
			src.name, src.peer_name, src.address, src.last_seen, src.username, src.pin
		FROM ranked r LEFT JOIN LATERAL (
			SELECT f.name, s.peer_name, s.address, s.last_seen, s.username, pp.pin
			FROM files f JOIN sessions s ON s.seq = f.session_seq
				LEFT JOIN peer_pins pp ON pp.name = s.peer_name
			WHERE r.rn <= $2 AND f.sha256 = r.sha256 AND s.expires_at > $1 AND s.address <> ''
				AND f.size = r.size AND f.piece_size = r.piece_size AND f.piece_root = r.piece_root
			OFFSET 0 -- keeps the subquery a per-content index lookup, never a join over all files
		) src ON true
		ORDER BY r.rn, src.peer_name, src.name`
)

// The page statements, wrapped.
var (
	sqlSearchWalk = fmt.Sprintf(searchWrap, sqlPageWalk)
	sqlSearchIDs  = fmt.Sprintf(searchWrap, sqlPageIDs)
	sqlSearchSHA  = fmt.Sprintf(searchWrap, sqlPageSHA)
)

// likePattern is the LIKE pattern of a substring: % _ and \ stand for
// themselves.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// Search implements store.Store.
//
// Results are in the order of each content's first live matching file id. A
// page starts after the token's id and keeps PageSize+1 contents; the token
// is the last kept id. So pages neither repeat nor skip content while the
// index is unchanged, and a page never sorts all the matches of a broad
// query: a query of 3 or more characters first asks the trigram index for
// at most probeCap matches; fewer means a narrow query, whose page is chosen
// among them; otherwise the page comes from a walk in id order that stops
// after PageSize+1 contents. Before probing, the planner's estimate of the
// matches (from the column's statistics, in a fraction of a millisecond)
// sends clearly broad queries straight to the walk: a probe of a broad
// query reads many rows only to learn that it is broad.
func (s *Store) Search(ctx context.Context, q store.SearchQuery, now time.Time) ([]store.SearchResult, string, error) {
	lq, bind, after, err := sqlstore.SearchStart(q, tokens)
	if err != nil {
		return nil, "", err
	}
	if !utf8ValidNoNUL(lq) {
		return nil, "", nil // no stored name holds such a string
	}
	args := []any{sqlstore.Nanos(now), q.PageSize, after, lq}
	query := sqlSearchWalk
	switch {
	case q.SHA256 != "":
		sha, ok := decodeHash(q.SHA256)
		if !ok {
			return nil, "", nil // no stored content has such a hash
		}
		query, args = sqlSearchSHA, append(args, sha)
	case q.SHA256Prefix != "":
		lo, hi, ok := hashRangeArgs(q.SHA256Prefix)
		if !ok {
			return nil, "", nil // no stored content has such a hash
		}
		query, args = sqlSearchPrefix, append(args, lo, hi)
	case utf8.RuneCountInString(lq) >= trigram.Len:
		// Shorter queries walk the files in id order (the edge rejects
		// them anyway).
		est, err := s.estimate(ctx, lq)
		if err != nil {
			return nil, "", err
		}
		if est >= broadEstimate {
			break // the walk
		}
		ids, err := s.probe(ctx, lq, after)
		if err != nil {
			return nil, "", err
		}
		if len(ids) == 0 {
			return nil, "", nil
		}
		if len(ids) < probeCap {
			query, args = sqlSearchIDs, append(args, ids)
		}
	}
	rows, err := s.pool.Query(ctx, query, args...)
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

// probe returns the ids of files whose lowered name contains lq, after id
// after, by the trigram index: all of them if fewer than probeCap, else
// probeCap of them. The index is asked for only the query's rarest few
// trigrams (see trigram.go); candidates are checked against the full query.
func (s *Store) probe(ctx context.Context, lq string, after int64) ([]int64, error) {
	terms := s.sampler.get(ctx, s).probeTerms(lq)
	query, args := sqlProbe, []any{likePattern(lq), after, probeCap}
	if len(terms) > 0 {
		query, args = sqlProbeTerms[len(terms)-1], []any{lq, after}
		for _, t := range terms {
			args = append(args, likePattern(t))
		}
		args = append(args, probeCap)
	}
	// An unnamed statement, planned for its actual pattern each time: a
	// plan cached for one pattern (a rare word: the trigram index) would
	// be wrong for another (an extension: a scan that stops early).
	rows, err := s.pool.Query(ctx, query, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return ids, nil
}

// estimate returns the planner's estimate of how many files' lowered names
// contain lq.
func (s *Store) estimate(ctx context.Context, lq string) (float64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	var raw []byte
	if err := s.pool.QueryRow(ctx, sqlEstimate, pgx.QueryExecModeExec, likePattern(lq)).Scan(&raw); err != nil {
		return 0, fmt.Errorf("search: estimate: %w", err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
		return 0, fmt.Errorf("search: estimate: unexpected plan %.200q", raw)
	}
	return plan[0].Plan.Rows, nil
}

// collectResults builds a page's results from searchWrap's rows: rows of
// one content are adjacent (ordered by rn), its sources sorted by peer then
// name. It returns the id of the page's last content and whether a next
// page exists.
func collectResults(rows pgx.Rows, size int) ([]store.SearchResult, int64, bool, error) {
	defer rows.Close()
	var page []sqlstore.Content
	type row struct {
		c       sqlstore.Content
		src     store.Source
		account string
	}
	var srcs []row
	var lastID int64
	more := false
	var (
		rn, id, fileSize       int64
		sha, root              []byte
		pieceSize              int32
		name, peer, addr, user *string
		pin                    *string
		seen                   *int64
		prevRN                 int64 = -1
	)
	for rows.Next() {
		if err := rows.Scan(&rn, &id, &sha, &fileSize, &pieceSize, &root, &name, &peer, &addr, &seen, &user, &pin); err != nil {
			return nil, 0, false, err
		}
		if rn > int64(size) {
			more = true
			continue
		}
		if name == nil {
			// Cannot happen: the page's own row is a live source in
			// the same snapshot.
			return nil, 0, false, errors.New("a result without a live source")
		}
		c := sqlstore.Content{SHA256: encodeHash(sha), Size: fileSize, PieceSize: pieceSize, PieceRoot: encodeHash(root)}
		if rn != prevRN {
			page = append(page, c)
			prevRN, lastID = rn, id
		}
		src := store.Source{Peer: *peer, Username: *user, Address: *addr, Name: *name, LastSeen: sqlstore.FromNanos(*seen)}
		if pin != nil {
			src.Pin = *pin
		}
		srcs = append(srcs, row{c, src, *user})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, err
	}
	results := sqlstore.NewResults(page)
	for _, r := range srcs {
		results.Add(r.c, r.src, r.account)
	}
	return results.List(), lastID, more, nil
}

// tokens is the format of this store's page tokens; its version byte sets
// them apart from other stores' and from a later format's.
const tokens = pagetoken.Format('p')

// PageTokens is the format of this store's page tokens, which a wrapper
// answering Search itself (package liveindex) must use too.
const PageTokens = tokens
