package sqlstore

import "strings"

// HashRange returns the smallest and the largest 64-digit lowercase hex
// hash that start with prefix: the hashes with that prefix are exactly
// those between the two, inclusive, in both stores' order (SQLite compares
// the hex text, PostgreSQL the decoded bytes, which sort alike). So an
// index on the hash column serves a prefix search as a range.
func HashRange(prefix string) (lo, hi string) {
	n := 64 - len(prefix)
	return prefix + strings.Repeat("0", n), prefix + strings.Repeat("f", n)
}
