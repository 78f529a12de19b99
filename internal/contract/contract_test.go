package contract_test

import (
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
)

// readOnly are the methods that change nothing; every other method must not
// claim to be side-effect free.
var readOnly = map[protoreflect.FullName]bool{
	"peerhub.directory.v1.DirectoryService.GetInfo":     true,
	"peerhub.directory.v1.DirectoryService.Search":      true,
	"peerhub.directory.v1.DirectoryService.WatchSearch": true,
	"peerhub.directory.v1.DirectoryService.ListPeers":   true,
	"peerhub.directory.v1.DirectoryService.ListFiles":   true,
	"peerhub.peer.v1.PeerService.Stat":                  true,
	"peerhub.peer.v1.PeerService.Download":              true,
	"peerhub.peer.v1.PeerService.Status":                true,
}

var files = []protoreflect.FileDescriptor{
	directoryv1.File_peerhub_directory_v1_directory_proto,
	peerv1.File_peerhub_peer_v1_peer_proto,
}

func methods() []protoreflect.MethodDescriptor {
	var ms []protoreflect.MethodDescriptor
	for _, f := range files {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				ms = append(ms, s.Methods().Get(j))
			}
		}
	}
	return ms
}

func TestReadOnlyMethodsHaveNoSideEffects(t *testing.T) {
	t.Parallel()
	seen := map[protoreflect.FullName]bool{}
	for _, m := range methods() {
		t.Run(string(m.FullName()), func(t *testing.T) {
			t.Parallel()
			opts, _ := m.Options().(*descriptorpb.MethodOptions)
			got := opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
			if got != readOnly[m.FullName()] {
				t.Errorf("NO_SIDE_EFFECTS = %v, want %v", got, readOnly[m.FullName()])
			}
		})
		seen[m.FullName()] = true
	}
	for name := range readOnly {
		if !seen[name] {
			t.Errorf("read-only method %s is gone from the contract", name)
		}
	}
}

// TestRequestFieldsHaveRules checks that every string, bytes or repeated
// field of every request message (and of the messages they contain) carries
// protovalidate rules, so no input reaches a handler unchecked.
func TestRequestFieldsHaveRules(t *testing.T) {
	t.Parallel()
	checked := map[protoreflect.FullName]bool{}
	var check func(t *testing.T, md protoreflect.MessageDescriptor)
	check = func(t *testing.T, md protoreflect.MessageDescriptor) {
		if checked[md.FullName()] || md.ParentFile().Package() == "google.protobuf" {
			return
		}
		checked[md.FullName()] = true
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			needs := fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind
			if needs && !hasFieldRules(fd) {
				t.Errorf("%s has no buf.validate rules", fd.FullName())
			}
			if fd.Message() != nil {
				check(t, fd.Message())
			}
		}
	}
	for _, m := range methods() {
		t.Run(string(m.FullName()), func(t *testing.T) {
			check(t, m.Input())
		})
	}
	if len(checked) < 10 {
		t.Fatalf("checked only %d messages; the walk is broken", len(checked))
	}
}

func hasFieldRules(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return false
	}
	rules, ok := proto.GetExtension(opts, validate.E_Field).(*validate.FieldRules)
	if !ok || rules == nil {
		return false
	}
	return rules.GetType() != nil || len(rules.GetCel()) > 0 || rules.GetRequired()
}
