package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/gen/peerhub/directory/v1/directoryv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server"
)

// watchStream is one WatchSearch call, whichever protocol carries it.
type watchStream interface {
	// recv returns the next event, or the error that ended the stream
	// (io.EOF after a clean end).
	recv() (*directoryv1.WatchSearchResponse, error)
}

// watchOpener opens a WatchSearch of req with tok; the stream ends with ctx.
type watchOpener func(ctx context.Context, e *env, tok string, req *directoryv1.WatchSearchRequest) (watchStream, error)

type connectWatch struct {
	s *connect.ServerStreamForClient[directoryv1.WatchSearchResponse]
}

func (c connectWatch) recv() (*directoryv1.WatchSearchResponse, error) {
	if c.s.Receive() {
		return c.s.Msg(), nil
	}
	if err := c.s.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

// connectWatcher opens the watch through the generated Connect client,
// speaking the Connect protocol or, with opts, gRPC or gRPC-Web.
func connectWatcher(opts ...connect.ClientOption) watchOpener {
	return func(ctx context.Context, e *env, tok string, req *directoryv1.WatchSearchRequest) (watchStream, error) {
		var t rpcclient.Token
		t.Set(tok)
		c := directoryv1connect.NewDirectoryServiceClient(rpcclient.NewHTTPClient(), e.url, append(rpcclient.Options(&t), opts...)...)
		s, err := c.WatchSearch(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return connectWatch{s}, nil
	}
}

type grpcWatch struct{ s grpc.ClientStream }

func (g grpcWatch) recv() (*directoryv1.WatchSearchResponse, error) {
	m := new(directoryv1.WatchSearchResponse)
	if err := g.s.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// grpcWatcher opens the watch through google.golang.org/grpc, which shares
// no code with the server.
func grpcWatcher(ctx context.Context, e *env, tok string, req *directoryv1.WatchSearchRequest) (watchStream, error) {
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	s, err := e.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, directoryv1connect.DirectoryServiceWatchSearchProcedure)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(req); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	return grpcWatch{s}, nil
}

var watchers = []struct {
	name string
	open watchOpener
}{
	{"connect", connectWatcher()},
	{"grpc-web", connectWatcher(connect.WithGRPCWeb())},
	{"grpc", grpcWatcher},
}

// eventLine is what a test can predict of an event: its type and the
// result's names and source peers.
func eventLine(ev *directoryv1.WatchSearchResponse) string {
	var peers []string
	for _, s := range ev.GetResult().GetSources() {
		peers = append(peers, s.GetPeer())
	}
	return fmt.Sprintf("%s %s %v", strings.TrimPrefix(ev.GetType().String(), "WATCH_EVENT_TYPE_"), strings.Join(ev.GetResult().GetNames(), ","), peers)
}

// expectEvents receives len(want) events, skipping keepalives, and
// compares them with want (eventLine's form).
func expectEvents(t *testing.T, s watchStream, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		ev, err := s.recv()
		if err != nil {
			t.Fatalf("after %q: %v; want %q", got, err, want)
		}
		if ev.GetType() != directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE {
			got = append(got, eventLine(ev))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// watchConfig makes live searches quick to notice what tests do.
func watchConfig(cfg *server.Config) {
	cfg.Directory.WatchPoll = 20 * time.Millisecond
}

// WatchSearch over Connect, gRPC and gRPC-Web: the current matches, then
// peers that publish, log out and expire.
func TestWatchSearch(t *testing.T) {
	t.Parallel()
	for _, w := range watchers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, watchConfig)
			peerA := e.login(alice, alicePW, "http://127.0.0.1:9001", "pa")
			e.publish(peerA.GetToken(), snapshot(entry("music/song-a.ogg", "song a"), entry("notes.txt", "notes")))
			// A client session of another account watches.
			watcher := e.login(bob, bobPW, "", "")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := w.open(ctx, e, watcher.GetToken(), &directoryv1.WatchSearchRequest{Query: "Song"})
			if err != nil {
				t.Fatal(err)
			}
			expectEvents(t, s, "CURRENT music/song-a.ogg [pa]", "SYNCED  []")

			peerB := e.login(bob, bobPW, "http://127.0.0.1:9002", "pb")
			e.publish(peerB.GetToken(), snapshot(entry("song-b.ogg", "song b")))
			expectEvents(t, s, "ADDED song-b.ogg [pb]")
			// The same content as pa's: one more source of that result.
			e.publish(peerB.GetToken(), delta([]*directoryv1.FileEntry{entry("music/song-a.ogg", "song a")}))
			expectEvents(t, s, "CHANGED music/song-a.ogg [pa pb]")
			if _, err := e.connectClient(peerB.GetToken()).Logout(ctx, connect.NewRequest(&directoryv1.LogoutRequest{})); err != nil {
				t.Fatal(err)
			}
			expectEvents(t, s, "REMOVED song-b.ogg [pb]", "CHANGED music/song-a.ogg [pa]")
			// pa stops heartbeating: the poll sees it expire, though
			// nothing was written.
			e.clock.Advance(31 * time.Second)
			expectEvents(t, s, "REMOVED music/song-a.ogg [pa]")
		})
	}
}

// An account that opens as many watches as it may gets ResourceExhausted
// for the next one, on every protocol, while another account's watch works;
// a watch that ends gives its slot back. Bad requests are refused before
// any watch opens.
func TestWatchSearchLimitAttack(t *testing.T) {
	t.Parallel()
	const limit = 4
	e := start(t, watchConfig, func(cfg *server.Config) { cfg.Directory.MaxAccountWatches = limit })
	mallory := e.login(alice, alicePW, "", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stops []context.CancelFunc
	for i := range limit {
		wctx, stop := context.WithCancel(ctx)
		stops = append(stops, stop)
		s, err := watchers[i%len(watchers)].open(wctx, e, mallory.GetToken(), &directoryv1.WatchSearchRequest{Query: fmt.Sprintf("query-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		expectEvents(t, s, "SYNCED  []")
	}
	for _, w := range watchers {
		s, err := w.open(ctx, e, mallory.GetToken(), &directoryv1.WatchSearchRequest{Query: "one-too-many"})
		if err == nil {
			_, err = s.recv()
		}
		if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), fmt.Sprint(limit)) {
			t.Fatalf("%s: watch %d: %v, want ResourceExhausted naming the limit", w.name, limit+1, err)
		}
	}
	if w, q := testutil.Metric(t, e.url+"/metrics", "peerhub_directory_watches"), testutil.Metric(t, e.url+"/metrics", "peerhub_directory_watched_queries"); w != limit || q != limit {
		t.Errorf("metrics: %v watches of %v queries, want %d of %d", w, q, limit, limit)
	}
	// Another account is unaffected.
	other := e.login(bob, bobPW, "", "")
	s, err := connectWatcher()(ctx, e, other.GetToken(), &directoryv1.WatchSearchRequest{Query: "one-too-many"})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, s, "SYNCED  []")
	// Hanging up gives the slot back.
	stops[0]()
	testutil.Eventually(t, 10*time.Second, "a slot comes back after a hang-up", func() error {
		s, err := connectWatcher()(ctx, e, mallory.GetToken(), &directoryv1.WatchSearchRequest{Query: "again"})
		if err == nil {
			_, err = s.recv()
		}
		return err
	})

	for _, c := range []struct {
		name string
		tok  string
		req  *directoryv1.WatchSearchRequest
		want connect.Code
	}{
		{"no token", "", &directoryv1.WatchSearchRequest{Query: "song"}, connect.CodeUnauthenticated},
		{"forged token", testutil.FlipSignatureBit(t, other.GetToken()), &directoryv1.WatchSearchRequest{Query: "song"}, connect.CodeUnauthenticated},
		{"short query", other.GetToken(), &directoryv1.WatchSearchRequest{Query: "ab"}, connect.CodeInvalidArgument},
		{"hash and prefix", other.GetToken(), &directoryv1.WatchSearchRequest{Sha256: hexOf("x"), Sha256Prefix: "abcdef01"}, connect.CodeInvalidArgument},
		{"nothing", other.GetToken(), &directoryv1.WatchSearchRequest{}, connect.CodeInvalidArgument},
	} {
		for _, w := range watchers {
			s, err := w.open(ctx, e, c.tok, c.req)
			if err == nil {
				_, err = s.recv()
			}
			if got := codeOf(err); got != c.want {
				t.Errorf("%s over %s: %v (%v), want %v", c.name, w.name, got, err, c.want)
			}
		}
	}
	for _, stop := range stops {
		stop()
	}
}

// A read token (what an access point forwards) may watch; the watch ends,
// with Unauthenticated, once the session behind it logs out; the
// directory's shutdown ends the others with Unavailable, at once.
func TestWatchSearchEnds(t *testing.T) {
	t.Parallel()
	const grace = time.Minute
	e := start(t, watchConfig, func(cfg *server.Config) {
		cfg.Directory.WatchKeepalive = 100 * time.Millisecond
		cfg.ShutdownGrace = grace
	})
	sess := e.login(bob, bobPW, "", "")
	read, err := e.connectClient(sess.GetToken()).IssueToken(t.Context(), connect.NewRequest(&directoryv1.IssueTokenRequest{Scope: directoryv1.TokenScope_TOKEN_SCOPE_READ}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := connectWatcher()(ctx, e, read.Msg.GetToken(), &directoryv1.WatchSearchRequest{Query: "song"})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, s, "SYNCED  []")
	ev, err := s.recv()
	if err != nil || ev.GetType() != directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE || ev.GetResult() != nil {
		t.Fatalf("after a quiet keepalive interval: %v, %v; want a bare KEEPALIVE", ev, err)
	}
	if _, err := e.connectClient(sess.GetToken()).Logout(ctx, connect.NewRequest(&directoryv1.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := s.recv()
		if err != nil {
			if codeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("after logout: %v, want Unauthenticated", err)
			}
			break
		}
	}

	other := e.login(alice, alicePW, "", "")
	g, err := grpcWatcher(ctx, e, other.GetToken(), &directoryv1.WatchSearchRequest{Query: "song"})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, g, "SYNCED  []")
	c, err := connectWatcher()(ctx, e, other.GetToken(), &directoryv1.WatchSearchRequest{Query: "song"})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, c, "SYNCED  []")
	start := time.Now()
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	for {
		ev, err := c.recv()
		if err != nil {
			if codeOf(err) != connect.CodeUnavailable {
				t.Errorf("connect at shutdown: %v, want Unavailable", err)
			}
			break
		}
		if ev.GetType() != directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE {
			t.Fatalf("connect at shutdown: %v", ev)
		}
	}
	<-stopped
	// The shutdown did not wait out its grace for the watches to end.
	if d := time.Since(start); d >= grace/2 {
		t.Errorf("shutdown took %v with watches open", d)
	}
	// Keepalives may be queued before the end.
	for {
		ev, err := g.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Errorf("grpc after shutdown: a clean end, want an error")
			}
			break
		}
		if ev.GetType() != directoryv1.WatchEventType_WATCH_EVENT_TYPE_KEEPALIVE {
			t.Fatalf("grpc after shutdown: %v", ev)
		}
	}
}

// A watcher that stops reading holds only its own stream: the directory
// ends it after the stall timeout and gives its slot back, while another
// watch of the same query goes on receiving events.
func TestWatchSearchStalledReaderAttack(t *testing.T) {
	t.Parallel()
	const stall = time.Second
	e := start(t, watchConfig, func(cfg *server.Config) {
		cfg.StallTimeout = stall
		cfg.Directory.MaxAccountWatches = 1
	})
	peer := e.login(bob, bobPW, "http://127.0.0.1:9002", "")
	e.publish(peer.GetToken(), snapshot(entry("song-1.ogg", "song 1")))
	mallory := e.login(alice, alicePW, "", "")

	// A gRPC call on a raw connection that grants the response a window
	// of one byte and never more.
	c := testutil.DialH2(t, e.addr, 1)
	body, err := proto.Marshal(&directoryv1.WatchSearchRequest{Query: "song"})
	if err != nil {
		t.Fatal(err)
	}
	hdr := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}, "Authorization": {"Bearer " + mallory.GetToken()}}
	stalled := c.Open("POST", directoryv1connect.DirectoryServiceWatchSearchProcedure, hdr, testutil.GRPCMessage(body), true, false)

	other := e.login(bob, bobPW, "", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := connectWatcher()(ctx, e, other.GetToken(), &directoryv1.WatchSearchRequest{Query: "song"})
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, s, "CURRENT song-1.ogg [bob]", "SYNCED  []")
	e.publish(peer.GetToken(), delta([]*directoryv1.FileEntry{entry("song-2.ogg", "song 2")}))
	expectEvents(t, s, "ADDED song-2.ogg [bob]")

	st, err := c.Wait(ctx, stalled, testutil.H2Stream.Done)
	if err != nil || !st.WasReset {
		t.Fatalf("the stalled watch: %v (%v), want it reset", err, st)
	}
	// Its slot (the account's only one) comes back.
	testutil.Eventually(t, 10*time.Second, "the stalled watch's slot comes back", func() error {
		w, err := connectWatcher()(ctx, e, mallory.GetToken(), &directoryv1.WatchSearchRequest{Query: "song"})
		if err == nil {
			_, err = w.recv()
		}
		return err
	})
	e.publish(peer.GetToken(), delta([]*directoryv1.FileEntry{entry("song-3.ogg", "song 3")}))
	expectEvents(t, s, "ADDED song-3.ogg [bob]")
}
