package sqlite

import "fmt"

// sqlSearchPrefix finds the contents whose hash lies in a range (a hash
// prefix: see sqlstore.HashRange) by the sha256 index, then keeps the
// first live matching row of each in id order, like the other page
// statements. A prefix of 8 or more hex digits matches a handful of rows,
// so sorting them costs nothing. ?1 the range's low end, ?2 after id, ?3
// now, ?4 lowered query, ?5 limit, ?6 the range's high end.
//
// It is not prepared at Open, unlike the common searches: prefix searches
// are rare (a person resolving an abbreviated hash).
const sqlSearchPrefix = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f INDEXED BY files_sha256 CROSS JOIN sessions s ON s.seq = f.session_seq
		WHERE f.sha256 BETWEEN ?1 AND ?6 AND f.id > ?2 AND instr(f.name_lower, ?4) > 0
			AND s.expires_at > ?3 AND s.address <> ''
			AND ` + firstOfContent + `
		ORDER BY f.id LIMIT ?5`

// sqlSearchPrefixWrapped is sqlSearchPrefix with the page's sources
// (searchWrap).
var sqlSearchPrefixWrapped = fmt.Sprintf(searchWrap, sqlSearchPrefix)
