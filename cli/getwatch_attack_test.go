package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/peerhub/peerhub/cli"
	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// hostileAccessPoint is a peer's URL that answers GetInfo as an access
// point of the real directory (so the CLI logs in there) and then serves
// live searches of its own making.
type hostileAccessPoint struct {
	directoryv1connect.UnimplementedDirectoryServiceHandler
	directory string
	results   []*directoryv1.SearchResult
}

func (h *hostileAccessPoint) GetInfo(ctx context.Context, _ *connect.Request[directoryv1.GetInfoRequest]) (*connect.Response[directoryv1.GetInfoResponse], error) {
	c := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), h.directory, rpcclient.Options(new(rpcclient.Token))...)
	res, err := c.GetInfo(ctx, connect.NewRequest(&directoryv1.GetInfoRequest{}))
	if err != nil {
		return nil, err
	}
	res.Msg.DirectoryUrl = h.directory
	return res, nil
}

func (h *hostileAccessPoint) WatchSearch(ctx context.Context, _ *connect.Request[directoryv1.WatchSearchRequest], s *connect.ServerStream[directoryv1.WatchSearchResponse]) error {
	for _, r := range h.results {
		if err := s.Send(&directoryv1.WatchSearchResponse{Type: directoryv1.WatchEventType_WATCH_EVENT_TYPE_ADDED, Result: r}); err != nil {
			return err
		}
	}
	if err := s.Send(&directoryv1.WatchSearchResponse{Type: directoryv1.WatchEventType_WATCH_EVENT_TYPE_SYNCED}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// A hostile access point's live search can neither make get --watch write
// outside its output folder nor crash search --watch with malformed
// results: such matches are skipped with a message.
func TestAttackHostileWatchResults(t *testing.T) {
	t.Parallel()
	n := watchNetwork(t)
	source := []*directoryv1.Source{{Peer: "evil", Address: "http://127.0.0.1:9", Name: "x"}}
	ap := &hostileAccessPoint{directory: n.DirectoryURL, results: []*directoryv1.SearchResult{
		{Sha256: testutil.SHA256Hex([]byte("a")), Size: 1, PieceSize: 1 << 20, PieceRoot: testutil.SHA256Hex([]byte("b")), Names: []string{".."}, Sources: source},
		{Sha256: testutil.SHA256Hex([]byte("c")), Size: 1, PieceSize: 1 << 20, PieceRoot: testutil.SHA256Hex([]byte("d")), Names: []string{"dir/..\\..\\escape.txt"}, Sources: source},
		{Sha256: "short", Size: 1, PieceSize: 1 << 20, Names: []string{"short-hash.txt"}, Sources: source},
	}}
	path, h := directoryv1connect.NewDirectoryServiceHandler(ap)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	env := map[string]string{"PEERHUB_DIRECTORY": srv.URL, "PEERHUB_USER": "alice", "PEERHUB_PASSWORD": testnet.Password}

	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	var stdout, stderr testutil.SyncBuffer
	done, interrupt := interruptible(t, env, &stdout, &stderr, "get", "--watch", "escape", "-o", out)
	shows(t, &stderr, "Watching for files matching")
	testutil.Eventually(t, 0, "every hostile match skipped", func() error {
		if n := strings.Count(stderr.String(), "Skipped a match with a malformed name or hash"); n != 3 {
			return fmt.Errorf("%d of 3 matches skipped yet:\n%s", n, stderr.String())
		}
		return nil
	})
	interrupt()
	exitsWith(t, done, cli.ExitInterrupted, &stdout, &stderr)
	entries, _ := os.ReadDir(parent)
	inside, _ := os.ReadDir(out)
	if len(entries) != 1 || len(inside) != 0 {
		t.Errorf("files written: %v beside the output folder, %v in it", entries, inside)
	}

	stdout, stderr = testutil.SyncBuffer{}, testutil.SyncBuffer{}
	done, interrupt = interruptible(t, env, &stdout, &stderr, "search", "--watch", "escape")
	shows(t, &stdout, "added    short-hash.txt  1 B  short")
	interrupt()
	exitsWith(t, done, cli.ExitInterrupted, &stdout, &stderr)
}
