package liveindex

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/sqlstore"
	"github.com/peerhub/peerhub/server/store/trigram"
)

// Search implements store.Store from the copy, with the wrapped store's
// results, order, pages and page tokens (see package sqlite's Search for
// the rules): contents in the order of their first live matching file id,
// PageSize of them after the token's id, each with every live source of
// its whole descriptor sorted by peer then name. Hash-prefix queries, and
// name queries shorter than a trigram without a hash, go to the wrapped
// store.
func (s *Store) Search(ctx context.Context, q store.SearchQuery, now time.Time) ([]store.SearchResult, string, error) {
	lq, bind, after, err := sqlstore.SearchStart(q, s.tokens)
	if err != nil {
		return nil, "", err
	}
	if q.SHA256Prefix != "" || q.SHA256 == "" && utf8.RuneCountInString(lq) < trigram.Len {
		return s.st.Search(ctx, q, now)
	}
	if err := s.fresh(ctx); err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := sqlstore.Nanos(now)
	page, more := s.ix.page(lq, q.SHA256, after, q.PageSize, t)
	contents := make([]sqlstore.Content, len(page))
	for i, e := range page {
		contents[i] = e.content
	}
	results := sqlstore.NewResults(contents)
	var srcs []*entry
	for _, c := range contents {
		srcs = s.ix.sources(srcs[:0], c, t)
		for _, e := range srcs {
			p := e.peer
			results.Add(c, store.Source{Peer: p.name, Username: p.username, Address: p.address, Name: e.name,
				LastSeen: sqlstore.FromNanos(p.lastSeen.Load()), Pin: p.pin}, p.username)
		}
	}
	next := ""
	if more {
		next = s.tokens.EncodeID(bind, page[len(page)-1].id)
	}
	return results.List(), next, nil
}

// page returns the first file of each of the first size contents whose
// first live file matching lq (and sha, if set) has an id after after,
// in id order, and whether another such content follows.
func (ix *index) page(lq, sha string, after int64, size int, now int64) ([]*entry, bool) {
	cands := ix.candidates(lq, sha)
	start, _ := slices.BinarySearchFunc(cands, after+1, func(e *entry, id int64) int { return cmp.Compare(e.id, id) })
	var (
		page []*entry
		seen = make(map[sqlstore.Content]bool)
	)
	for _, e := range cands[start:] {
		if !e.matches(lq, sha, now) || seen[e.content] {
			continue
		}
		seen[e.content] = true
		if ix.first(e.content, lq, now) != e {
			continue // the content's first match is on an earlier page
		}
		if len(page) == size {
			return page, true
		}
		page = append(page, e)
	}
	return page, false
}

// matches tells whether e is a live file matching lq and sha ("" for any).
func (e *entry) matches(lq, sha string, now int64) bool {
	return !e.dead && e.peer.liveAt(now) && (sha == "" || e.content.SHA256 == sha) && strings.Contains(e.lower, lq)
}

// candidates returns the list to walk for lq and sha: the hash's, or
// the shortest list of lq's trigrams (every match is on each of them).
func (ix *index) candidates(lq, sha string) []*entry {
	if sha != "" {
		return ix.hashes[sha]
	}
	var best []*entry
	for i, t := range trigram.All(lq) {
		l := ix.tris[t]
		if len(l) == 0 {
			return nil
		}
		if i == 0 || len(l) < len(best) {
			best = l
		}
	}
	return best
}

// first returns the live file of content c matching lq with the smallest
// id, or nil.
func (ix *index) first(c sqlstore.Content, lq string, now int64) *entry {
	for _, e := range ix.hashes[c.SHA256] {
		if e.content == c && e.matches(lq, "", now) {
			return e
		}
	}
	return nil
}

// sources appends to dst the live files of content c, sorted by peer name
// then file name.
func (ix *index) sources(dst []*entry, c sqlstore.Content, now int64) []*entry {
	for _, e := range ix.hashes[c.SHA256] {
		if e.content == c && !e.dead && e.peer.liveAt(now) {
			dst = append(dst, e)
		}
	}
	slices.SortFunc(dst, func(a, b *entry) int {
		return cmp.Or(strings.Compare(a.peer.name, b.peer.name), strings.Compare(a.name, b.name))
	})
	return dst
}
