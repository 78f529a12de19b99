package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/server/directory"
)

// FuzzPublishConversion feeds arbitrary wire bytes, as a peer could send
// them, through the publish path up to the directory's change
// (changeFromProto, then directory.CheckChange) and checks that:
//   - nothing panics;
//   - a request without a change, or with a malformed timestamp, is
//     refused, and one the conversion accepts converts without loss (every
//     entry encodes back to itself, removed names and the kind of change are
//     kept);
//   - what the protocol's rules (protovalidate) accept the directory's own
//     checks accept too, so an honest peer that passes the edge is never
//     refused behind it, and what the directory refuses is an
//     ErrInvalidArgument (a caller's mistake), never its own failure.
func FuzzPublishConversion(f *testing.F) {
	hash := strings.Repeat("ab", 32)
	entry := func(name string, mod *timestamppb.Timestamp) *directoryv1.FileEntry {
		return &directoryv1.FileEntry{Name: name, Size: 42, Sha256: hash, PieceSize: 1 << 20, PieceRoot: hash, Modified: mod}
	}
	snapshot := func(files ...*directoryv1.FileEntry) *directoryv1.PublishRequest {
		return &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Snapshot{Snapshot: &directoryv1.Snapshot{Files: files}}}
	}
	delta := func(added []*directoryv1.FileEntry, removed ...string) *directoryv1.PublishRequest {
		return &directoryv1.PublishRequest{Change: &directoryv1.PublishRequest_Delta{Delta: &directoryv1.Delta{Added: added, Removed: removed}}}
	}
	now := timestamppb.New(time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC))
	for _, seed := range []*directoryv1.PublishRequest{
		{},
		snapshot(),
		snapshot(entry("music/song.ogg", now), entry("a.txt", nil)),
		delta([]*directoryv1.FileEntry{entry("x/y.bin", now)}, "old.txt", "dir/gone.txt"),
		delta(nil, "../escape"),
		snapshot(entry("../../etc/passwd", now)),
		snapshot(entry("a//b", now), entry("/abs", now), entry("nul.txt", now), entry("con", now)),
		snapshot(entry("bad\x01name", now)),
		snapshot(&directoryv1.FileEntry{Name: "neg", Size: -1, Sha256: hash, PieceSize: 1 << 20, PieceRoot: hash}),
		snapshot(&directoryv1.FileEntry{Name: "huge", Size: 1<<63 - 1, Sha256: hash, PieceSize: 1 << 24, PieceRoot: hash}),
		snapshot(&directoryv1.FileEntry{Name: "upper", Sha256: strings.ToUpper(hash), PieceSize: 1 << 20, PieceRoot: hash}),
		snapshot(&directoryv1.FileEntry{Name: "tiny-pieces", Sha256: hash, PieceSize: 1, PieceRoot: hash}),
		snapshot(entry("far-future", &timestamppb.Timestamp{Seconds: 1 << 40})),
		snapshot(entry("bad-nanos", &timestamppb.Timestamp{Seconds: 1, Nanos: -5})),
		snapshot(entry("edge", &timestamppb.Timestamp{Seconds: 9223372036})),
		snapshot(entry(strings.Repeat("é", 600), now)),
		snapshot(entry("dup", now), entry("dup", now)),
	} {
		b, err := proto.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	validator, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req directoryv1.PublishRequest
		// Fields the server does not know carry nothing it could lose.
		if (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &req) != nil {
			return // connect refuses it before any handler
		}
		ch, err := changeFromProto(&req)
		added, removed, snap := []*directoryv1.FileEntry(nil), []string(nil), false
		switch x := req.GetChange().(type) {
		case *directoryv1.PublishRequest_Snapshot:
			added, snap = x.Snapshot.GetFiles(), true
		case *directoryv1.PublishRequest_Delta:
			added, removed = x.Delta.GetAdded(), x.Delta.GetRemoved()
		default:
			if err == nil {
				t.Fatal("a request without a change was accepted")
			}
			return
		}
		badTime := false
		for _, e := range added {
			badTime = badTime || e.GetModified() != nil && e.GetModified().CheckValid() != nil
		}
		if badTime != (err != nil) {
			t.Fatalf("malformed timestamp %v, conversion error %v", badTime, err)
		}
		if err != nil {
			return
		}
		if ch.Snapshot != snap || len(ch.Added) != len(added) || !equalStrings(ch.Removed, removed) {
			t.Fatalf("change %+v does not match the request %v", ch, &req)
		}
		for i, f := range ch.Added {
			want := proto.CloneOf(added[i])
			if want.GetModified() != nil && want.GetModified().AsTime().IsZero() {
				want.Modified = nil // the zero time means unset
			}
			if got := fileToProto(f); !proto.Equal(got, want) {
				t.Fatalf("entry %d converts to %v and back to %v", i, added[i], got)
			}
		}
		checkErr := directory.CheckChange(ch)
		if checkErr != nil && !errors.Is(checkErr, directory.ErrInvalidArgument) {
			t.Fatalf("the directory refuses with %v, not a caller's mistake", checkErr)
		}
		if validator.Validate(&req) == nil && checkErr != nil {
			t.Fatalf("the protocol's rules accept %v, the directory refuses it: %v", &req, checkErr)
		}
	})
}

// equalStrings is slices.Equal with nil and empty alike.
func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
