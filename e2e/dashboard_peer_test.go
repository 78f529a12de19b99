package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	peerv1 "github.com/peerhub/peerhub/gen/peerhub/peer/v1"
	"github.com/peerhub/peerhub/gen/peerhub/peer/v1/peerv1connect"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/internal/testutil"
)

// slowRate is the send rate of the peer whose page shows a running
// transfer, in bytes per second: its 4 MiB file takes about 30 s, longer
// than the page needs to show it.
const slowRate = 128 << 10

// checkPeerPage is the peer-page part of TestDashboard. The peer (ada's
// ada-laptop) restarts with a send rate limit and one more, large, file,
// and alice downloads that file while the page looks. On the peer's page,
// ada logs in at the directory itself (a cross-origin call the test
// network's directory allows for its peers), never at the peer; the page
// lists the shared folder through a read token and shows the running
// download, with its account, rate and progress, from the peer's Status.
// It writes screenshots at desktop and phone width, then logs out.
func checkPeerPage(t *testing.T, b *browser, n *testnet.Network, old *testnet.Peer, share map[string][]byte, artifacts string) {
	t.Helper()
	if err := old.Stop(); err != nil {
		t.Fatal(err)
	}
	slow := testutil.RandBytes(4<<20, 6)
	files := maps.Clone(share)
	files["video/slow.bin"] = slow
	ada := n.AddPeer("ada-laptop", testnet.PeerOptions{User: "ada", Share: old.Share, Files: map[string][]byte{"video/slow.bin": slow}, MaxRate: slowRate})
	alice := clientSession(t, n)
	testutil.Eventually(t, 0, "ada-laptop is back with its large file", func() error {
		res, err := alice.Client().ListFiles(t.Context(), connect.NewRequest(&directoryv1.ListFilesRequest{Peer: "ada-laptop", PageSize: 100}))
		if err != nil {
			return err
		}
		for _, f := range res.Msg.GetFiles() {
			if f.GetFile().GetName() == "video/slow.bin" && f.GetAddress() == ada.URL {
				return nil
			}
		}
		return fmt.Errorf("not listed yet: %v", res.Msg.GetFiles())
	})

	// alice downloads the large file until the test is done with the page.
	tok := transferToken(t, alice, directoryv1.TokenScope_TOKEN_SCOPE_DOWNLOAD, "ada-laptop")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		hc := rpcclient.NewHTTPClient()
		defer hc.CloseIdleConnections()
		stream, err := peerv1connect.NewPeerServiceClient(hc, ada.URL, rpcclient.Options(tok)...).
			Download(ctx, connect.NewRequest(&peerv1.DownloadRequest{File: &peerv1.DownloadRequest_Name{Name: "video/slow.bin"}}))
		if err != nil {
			done <- err
			return
		}
		for stream.Receive() {
		}
		done <- stream.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()

	b.do(t, "open ada's dashboard",
		chromedp.Navigate(ada.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-username")),
	)
	if got := eval[string](t, b, "document.getElementById('directory-url').textContent"); got != n.DirectoryURL {
		t.Errorf("the peer page logs in at %q, want the directory %s", got, n.DirectoryURL)
	}
	b.do(t, "log in on ada's dashboard",
		chromedp.SendKeys(chromedp.ID("login-username"), "ada"),
		chromedp.SendKeys(chromedp.ID("login-password"), testnet.Password),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("files-title")),
	)
	if got := eval[string](t, b, "document.getElementById('peer-name').textContent"); got != "ada-laptop" {
		t.Errorf("peer page names %q, want ada-laptop", got)
	}
	waitFor(t, b, "ada's shared files listed", fmt.Sprintf("document.querySelectorAll('#files-body tr').length === %d", len(files)))
	checkFileTable(t, b, files)

	// The running download, as Status reports it.
	sha := testutil.SHA256Hex(slow)
	row := fmt.Sprintf("document.querySelector('#transfers-body tr[data-sha256=%q]')", sha)
	waitFor(t, b, "the running download shown with bytes sent", row+" !== null && "+row+".querySelector('progress').value > 0")
	cells := eval[[]string](t, b, "[..."+row+".cells].map(c => c.textContent)")
	if len(cells) != 5 || cells[0] != "Sending" || !strings.Contains(cells[1], "slow.bin") || cells[2] != "alice" ||
		!strings.HasSuffix(cells[3], "/s") || !strings.Contains(cells[4], "of 4.0 MiB") {
		t.Errorf("transfer row %q, want Sending, slow.bin, alice, a rate and progress of 4.0 MiB", cells)
	}
	if got := eval[string](t, b, "document.getElementById('limits').textContent"); !strings.Contains(got, "128 KiB/s") {
		t.Errorf("limits %q lack the send rate", got)
	}

	// The password went to the directory only: the page called Login there
	// and never sent any directory call to the peer.
	calls := eval[[]string](t, b, "performance.getEntriesByType('resource').map(e => e.name)")
	loggedIn := false
	for _, u := range calls {
		if u == n.DirectoryURL+"/peerhub.directory.v1.DirectoryService/Login" {
			loggedIn = true
		}
		if strings.HasPrefix(u, ada.URL+"/peerhub.directory.v1.") {
			t.Errorf("the peer page sent a directory call to the peer: %s", u)
		}
	}
	if !loggedIn {
		t.Errorf("the peer page did not log in at the directory; it fetched %q", calls)
	}
	// The scoped tokens stay in memory: only the session is stored.
	if got := eval[[]string](t, b, "Object.keys(sessionStorage)"); len(got) != 1 || got[0] != "peerhub.session" {
		t.Errorf("sessionStorage holds %q, want the session only", got)
	}

	b.screenshot(t, artifacts, "dashboard-peer.png")
	b.do(t, "phone width", chromedp.EmulateViewport(phoneWidth, phoneHeight))
	b.screenshot(t, artifacts, "dashboard-peer-phone.png")
	b.do(t, "desktop width", chromedp.EmulateViewport(desktopWidth, desktopHeight))

	// Log out: the token is gone and the login form is back.
	b.do(t, "log out",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login-username")),
	)
	if got := eval[bool](t, b, "sessionStorage.getItem('peerhub.session') === null"); !got {
		t.Error("the session is still stored after logging out")
	}

	// Another account sees the shared folder but not what the peer
	// serves: the page does not ask (the directory would refuse it a
	// status token: cli TestStatus, server TestScopedTokens).
	b.do(t, "log in as alice on ada's dashboard",
		chromedp.SetValue(chromedp.ID("login-username"), "alice"), // the form keeps the last name
		chromedp.SendKeys(chromedp.ID("login-password"), testnet.Password),
	)
	b.do(t, "submit", chromedp.Click(chromedp.ID("login-submit")))
	waitFor(t, b, "alice logged in", "!document.getElementById('app').hidden")
	waitFor(t, b, "alice is told the status is the owner's", `document.getElementById('serving-status').textContent.includes('Only the account that owns this peer')`)
	waitFor(t, b, "ada's shared files listed for alice", fmt.Sprintf("document.querySelectorAll('#files-body tr').length === %d", len(files)))
	if got := eval[int](t, b, "document.querySelectorAll('#transfers-body tr').length"); got != 0 {
		t.Errorf("alice sees %d transfers of ada's peer", got)
	}
	b.do(t, "log out alice",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("login-username")),
	)
}
