package sharepath_test

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// nameFields build, for a name, each protocol message whose name field must
// follow sharepath's rules, every other field valid.
var nameFields = map[string]func(name string) proto.Message{
	"directory FileEntry.name": func(name string) proto.Message {
		return &directoryv1.FileEntry{
			Name: name, Size: 1, PieceSize: 1 << 20,
			Sha256:    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			PieceRoot: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}
	},
	"peer StatRequest.name": func(name string) proto.Message {
		return &peerv1.StatRequest{File: &peerv1.StatRequest_Name{Name: name}}
	},
	"peer DownloadRequest.name": func(name string) proto.Message {
		return &peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: name}}
	},
	"peer UploadHeader.name": func(name string) proto.Message {
		return &peerv1.UploadHeader{
			Name: name, Size: 1,
			Sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}
	},
}

// TestProtoRulesAgree runs the protocol's validation rules (protovalidate,
// as the servers do) on every name field, with every name of the table, and
// checks that they accept exactly what Check accepts. The one exception is
// stated: CEL cannot test Unicode normalisation, so the protocol accepts a
// name that Check refuses only for not being NFC (the servers refuse it with
// Check).
func TestProtoRulesAgree(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for field, build := range nameFields {
		t.Run(field, func(t *testing.T) {
			t.Parallel()
			if err := v.Validate(build("ok.txt")); err != nil {
				t.Fatalf("the message is invalid for a good name: %v", err)
			}
			for _, tt := range names {
				goOK := sharepath.Check(tt.in) == nil
				perr := v.Validate(build(tt.in))
				protoOK := perr == nil
				want := goOK || tt.nfcOnly
				if protoOK != want {
					t.Errorf("%s %q: protocol accepts %v (%v), Check accepts %v", tt.name, tt.in, protoOK, perr, goOK)
				}
			}
		})
	}
}
