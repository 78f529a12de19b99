package server_test

import (
	"testing"

	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/testutil"
)

// TestDirectoryServesItsDocuments checks that the directory serves the
// documents of its own proto package (internal/apidocs tests what they
// say).
func TestDirectoryServesItsDocuments(t *testing.T) {
	t.Parallel()
	e := start(t)
	testutil.ServesDocuments(t, e.url, directoryv1connect.DirectoryServiceName)
}

// TestReflectionShowsComments runs grpcurl describe against the
// directory: it prints a method's proto comment.
func TestReflectionShowsComments(t *testing.T) {
	t.Parallel()
	e := start(t)
	testutil.DescribeShowsComment(t, e.addr, directoryv1connect.DirectoryServiceName+".Search", " Search finds files")
}
