package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/peerhub/peerhub/peer/downloader"
)

// printJSON is the one place the CLI writes --json output: one object on
// one line. A proto message is written in the API's JSON mapping
// (protojson: lowerCamelCase names, 64-bit integers as strings,
// timestamps in RFC 3339) with every field present, so that an empty list
// reads {"results":[]} rather than {}. Anything else (the get events,
// which have no proto message) is written by encoding/json; those types
// follow the same rules by their tags. The output is compacted because
// protojson deliberately varies its single-line whitespace.
func printJSON(w io.Writer, v any) error {
	var b []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		b, err = protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	var line bytes.Buffer
	if err := json.Compact(&line, b); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	line.WriteByte('\n')
	_, err = w.Write(line.Bytes())
	return err
}

// getProgress is one get --json progress event. Its names and encodings
// follow protojson's (lowerCamelCase; int64 as a string).
type getProgress struct {
	Event      string  `json:"event"` // "progress"
	Name       string  `json:"name"`
	Done       int64   `json:"doneBytes,string"`
	Total      int64   `json:"totalBytes,string"`
	Resumed    int64   `json:"resumedBytes,string"`
	Rate       float64 `json:"bytesPerSecond"`
	PiecesDone int     `json:"piecesDone"`
	Pieces     int     `json:"pieces"`
	Sources    int     `json:"sources"`
	Seconds    float64 `json:"elapsedSeconds"`
}

// getDone is the get --json result of a complete download, its last line.
type getDone struct {
	Event   string         `json:"event"` // "done"
	Name    string         `json:"name"`  // as in the progress events
	Path    string         `json:"path"`
	SHA256  string         `json:"sha256"`
	Size    int64          `json:"size,string"`
	Fetched int64          `json:"fetchedBytes,string"`
	Resumed int64          `json:"resumedBytes,string"`
	Seconds float64        `json:"elapsedSeconds"`
	Sources map[string]int `json:"piecesBySource"`
}

// getWaiting is one get --wait --json event: get has no source to
// download from and asks the directory again until one appears or Until.
type getWaiting struct {
	Event  string    `json:"event"` // "waiting"
	Query  string    `json:"query"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"` // RFC 3339, UTC, as protojson writes a Timestamp
}

// sourceCounts maps each source of a download to the pieces it served.
func sourceCounts(res *downloader.Result) map[string]int {
	m := map[string]int{}
	for _, s := range res.Sources {
		m[s.String()] = s.Pieces
	}
	return m
}
