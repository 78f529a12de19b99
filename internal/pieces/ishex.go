package pieces

// IsHex reports whether s is a SHA-256 in the one text form peerhub uses on
// the wire, in its stores and in its indexes: exactly what Hex returns, 64
// lowercase hexadecimal digits (the proto's `^[0-9a-f]{64}$`). Upper case is
// not that form: where a person types a hash (search, get), the caller
// lower-cases it first, so both cases work there and only lower case travels.
func IsHex(s string) bool {
	if len(s) != 2*HashLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
