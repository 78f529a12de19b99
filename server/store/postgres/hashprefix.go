package postgres

import (
	"fmt"

	"github.com/peerhub/peerhub/server/store/sqlstore"
)

// sqlPagePrefix finds the contents whose hash lies between $5 and $6 (a
// hash prefix: see sqlstore.HashRange) by the sha256 index; a prefix of 8
// or more hex digits matches a handful of rows, so ordering them by id
// costs nothing.
const sqlPagePrefix = `SELECT f.id, f.sha256, f.size, f.piece_size, f.piece_root
		FROM files f JOIN sessions s ON s.seq = f.session_seq
		WHERE f.sha256 BETWEEN $5::bytea AND $6::bytea AND f.id > $3 AND strpos(f.name_lower, $4) > 0` + pageTail

// sqlSearchPrefix is sqlPagePrefix, wrapped (see searchWrap).
var sqlSearchPrefix = fmt.Sprintf(searchWrap, sqlPagePrefix)

// hashRangeArgs returns the bounds of a hash prefix's range as the
// column's bytes, or false if the prefix is not lowercase hex.
func hashRangeArgs(prefix string) (lo, hi []byte, ok bool) {
	l, h := sqlstore.HashRange(prefix)
	lo, ok1 := decodeHash(l)
	hi, ok2 := decodeHash(h)
	return lo, hi, ok1 && ok2
}
