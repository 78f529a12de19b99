package downloader

import (
	"strings"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/pieces"
)

// MinHashPrefixLen is the fewest hex digits taken as an abbreviated SHA-256
// (as git takes abbreviated commit ids): the directory searches by a prefix
// of at least this many.
const MinHashPrefixLen = 8

// HashQuery tells what a query a person typed names: a whole SHA-256
// (sha256, 64 hex digits in either case), a prefix of one (prefix, 8 to 63
// hex digits in either case), or neither (both empty: a file name). Both
// come back lowercase, as the directory takes them.
func HashQuery(query string) (sha256, prefix string) {
	lower := strings.ToLower(query)
	switch {
	case pieces.IsHex(lower):
		return lower, ""
	case len(lower) >= MinHashPrefixLen && len(lower) < 64 && isHexDigits(lower):
		return "", lower
	}
	return "", ""
}

// isHexDigits reports whether s is only lowercase hex digits.
func isHexDigits(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// SearchRequests returns the searches that find what query names, to try
// in order until one finds something: by hash for a whole SHA-256; by hash
// prefix, then by name for something that looks like a prefix (a file may
// be called "deadbeef"); by name otherwise.
func SearchRequests(query string, pageSize int32) []*directoryv1.SearchRequest {
	sha, prefix := HashQuery(query)
	switch {
	case sha != "":
		return []*directoryv1.SearchRequest{{Sha256: sha, PageSize: pageSize}}
	case prefix != "":
		return []*directoryv1.SearchRequest{{Sha256Prefix: prefix, PageSize: pageSize}, {Query: query, PageSize: pageSize}}
	}
	return []*directoryv1.SearchRequest{{Query: query, PageSize: pageSize}}
}
