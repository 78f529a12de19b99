package directory

import (
	"fmt"

	"github.com/peerhub/peerhub/server/store"
)

// MinHashPrefixLen is the fewest hex digits of a SHA-256 prefix a search
// takes: 8 digits (32 bits) single out one content among tens of thousands
// almost always, and an ambiguous one costs the caller only a list.
const MinHashPrefixLen = 8

// checkHashPrefix checks the hash prefix of a search: MinHashPrefixLen to
// 64 lowercase hex digits, and not together with a full hash.
func checkHashPrefix(q store.SearchQuery) error {
	p := q.SHA256Prefix
	if p == "" {
		return nil
	}
	if q.SHA256 != "" {
		return fmt.Errorf("search: give a sha256 or a sha256 prefix, not both: %w", ErrInvalidArgument)
	}
	if len(p) < MinHashPrefixLen || len(p) > 64 {
		return fmt.Errorf("search sha256 prefix: want %d to 64 lowercase hex digits, got %d: %w", MinHashPrefixLen, len(p), ErrInvalidArgument)
	}
	for _, c := range []byte(p) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("search sha256 prefix: want lowercase hex digits: %w", ErrInvalidArgument)
		}
	}
	return nil
}
