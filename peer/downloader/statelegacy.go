package downloader

import "encoding/json"

// maxLegacyStateBytes is the largest JSON state file read, in bytes: the
// bitmap of MaxPieces pieces in base64 and the other fields.
const maxLegacyStateBytes = (MaxPieces/8+2)/3*4 + 1024

// legacyState is the JSON state file of versions before the in-place one
// (state.go): read once, so that a download an upgrade interrupted resumes
// instead of starting over, and then replaced by the new format.
type legacyState struct {
	Version   int    `json:"version"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	PieceSize int64  `json:"piece_size"`
	PieceRoot string `json:"piece_root"`
	Done      []byte `json:"done"`
}

// decodeLegacyState reads a JSON state file of this content: its bitmap,
// or ok false when it is not one (of another content, malformed, marking a
// piece past the last). Like the new format it is untrusted input, and
// every piece it claims is checked against its hash before it counts.
func (c content) decodeLegacyState(data []byte) (done bitmap, ok bool) {
	if len(data) > maxLegacyStateBytes {
		return nil, false
	}
	var s legacyState
	if json.Unmarshal(data, &s) != nil || s.Version != 1 || s.SHA256 != c.t.SHA256 || s.Size != c.t.Size ||
		s.PieceSize != c.psize || s.PieceRoot != c.t.PieceRoot || len(s.Done) != (c.n+7)/8 {
		return nil, false
	}
	if c.n%8 != 0 && s.Done[len(s.Done)-1]>>(c.n%8) != 0 {
		return nil, false
	}
	return bitmap(s.Done), true
}
