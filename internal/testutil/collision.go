package testutil

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// HashPrefixCollision returns two different short contents whose SHA-256
// hashes share their first 8 hex digits (32 bits), found by brute force: a
// birthday search needs about 2^16 hashes, a fraction of a second. The same
// seed gives the same pair.
func HashPrefixCollision(seed uint64) (a, b []byte) {
	seen := make(map[uint32]uint64, 1<<17)
	content := func(i uint64) []byte {
		return []byte("peerhub prefix collision " + strconv.FormatUint(seed, 10) + " " + strconv.FormatUint(i, 10) + "\n")
	}
	for i := uint64(0); ; i++ {
		h := sha256.Sum256(content(i))
		key := binary.BigEndian.Uint32(h[:4])
		if j, ok := seen[key]; ok {
			return content(j), content(i)
		}
		seen[key] = i
	}
}
