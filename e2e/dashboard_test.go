package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"

	"github.com/peerhub/peerhub/e2e/testnet"
	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/testutil"
)

// browserWait bounds each wait for the page, generous for a loaded 2-core
// CI machine; a healthy run takes well under a second per step.
const browserWait = 20 * time.Second

// dashboardAccounts are the three peers of the dashboard test, by name,
// with the accounts they log in with.
var dashboardAccounts = map[string]string{"ada-laptop": "ada", "bob-nas": "bob", "cyd-desktop": "cyd"}

// dashboardShares are the three peers' shared folders: some contents
// under several names at several peers, so that searches find several
// sources.
func dashboardShares() map[string]map[string][]byte {
	soWhat := testutil.RandBytes(183_000, 1)
	blueInGreen := testutil.RandBytes(141_000, 2)
	harbour := testutil.RandBytes(61_000, 3)
	return map[string]map[string][]byte{
		"ada-laptop": {
			"music/Kind of Blue/So What.flac":       soWhat,
			"music/Kind of Blue/Blue in Green.flac": blueInGreen,
			"books/The Go Programming Language.pdf": testutil.RandBytes(96_000, 4),
		},
		"bob-nas": {
			"incoming/So What.flac":      soWhat,
			"music/Blue in Green.flac":   blueInGreen,
			"photos/harbour at dusk.jpg": harbour,
		},
		"cyd-desktop": {
			"jazz/Miles Davis - So What.flac": soWhat,
			"video/harbour timelapse.mp4":     testutil.RandBytes(222_000, 5),
			"notes/setlist.txt":               []byte("So What\nBlue in Green\n"),
		},
	}
}

// TestDashboard drives the dashboards in Chromium against a real directory
// and three real peers: log in, search as one types, see the three peers
// with their accounts, browse a peer's files, see a content's sources, and
// on a peer's own page see what it shares and a transfer it serves. It
// writes a screenshot of each page, at desktop and phone width, to the
// test's artifacts (testutil.Artifacts).
func TestDashboard(t *testing.T) {
	t.Parallel()
	b := startBrowser(t) // skips before the network starts when there is no chromium
	artifacts := testutil.Artifacts(t)

	n := testnet.Start(t, testnet.Options{})
	shares := dashboardShares()
	peers := map[string]*testnet.Peer{}
	total := 0
	for name, account := range dashboardAccounts {
		peers[name] = n.AddPeer(name, testnet.PeerOptions{User: account, Files: shares[name]})
		total += len(shares[name])
	}
	api := client(t, n)
	testutil.Eventually(t, 0, "every peer published", func() error {
		res, err := api.ListFiles(t.Context(), connect.NewRequest(&directoryv1.ListFilesRequest{PageSize: 1000}))
		if err != nil {
			return err
		}
		if got := len(res.Msg.GetFiles()); got != total {
			return fmt.Errorf("%d of %d files listed", got, total)
		}
		return nil
	})

	// Log in.
	b.do(t, "open the directory's dashboard",
		chromedp.Navigate(n.DirectoryURL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-username")),
	)
	b.screenshot(t, artifacts, "dashboard-login.png")
	b.do(t, "log in",
		chromedp.SendKeys(chromedp.ID("login-username"), "alice"),
		chromedp.SendKeys(chromedp.ID("login-password"), testnet.Password),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("search-input")),
	)
	if got := eval[string](t, b, "document.getElementById('account-name').textContent"); got != "alice" {
		t.Errorf("signed in as %q, want alice", got)
	}
	// The token is in this tab's sessionStorage only.
	if got := eval[bool](t, b, "JSON.parse(sessionStorage.getItem('peerhub.session')).token.length > 0"); !got {
		t.Error("no token in sessionStorage after login")
	}
	if url, cookies := eval[string](t, b, "location.href"), eval[string](t, b, "document.cookie"); url != n.DirectoryURL+"/" || cookies != "" {
		t.Errorf("after login the URL is %q and the cookies %q; want the page's URL and none", url, cookies)
	}

	// The three peers with their accounts, as ListPeers has them.
	waitFor(t, b, "three peers listed", "document.querySelectorAll('#peers-body tr').length === 3")
	rows := eval[[][]string](t, b, `[...document.querySelectorAll('#peers-body tr')].map(r => [...r.cells].slice(0, 3).map(c => c.textContent))`)
	want := [][]string{}
	listed, err := api.ListPeers(t.Context(), connect.NewRequest(&directoryv1.ListPeersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range listed.Msg.GetPeers() {
		want = append(want, []string{p.GetName(), p.GetUsername(), fmt.Sprint(p.GetFileCount())})
	}
	if !slices.EqualFunc(rows, want, slices.Equal) || len(rows) != 3 || rows[1][0] != "bob-nas" || rows[1][1] != "bob" {
		t.Errorf("peers table %q, want %q (name, account, files)", rows, want)
	}

	// Browse bob's files.
	b.do(t, "browse bob's files", chromedp.Click(chromedp.CSS(`#peers-body tr[data-peer="bob-nas"] button`)))
	waitFor(t, b, "bob's files listed", fmt.Sprintf("document.querySelectorAll('#files-body tr').length === %d", len(shares["bob-nas"])))
	checkFileTable(t, b, shares["bob-nas"])
	if got := eval[string](t, b, "document.getElementById('files-title').textContent"); got != "Files of bob-nas" {
		t.Errorf("files section titled %q", got)
	}

	// Download one of bob's files through the browser: the page asks the
	// directory for a link (IssueToken with sha256) and the browser fetches
	// it from bob's peer, cross-origin.
	harbour := shares["bob-nas"]["photos/harbour at dusk.jpg"]
	saved := b.download(t, "download harbour at dusk.jpg from bob-nas",
		chromedp.Click(chromedp.CSS(`#files-body tr[data-sha256="`+testutil.SHA256Hex(harbour)+`"] button.download`)))
	if got := testutil.FileSHA256(t, saved); got != testutil.SHA256Hex(harbour) {
		t.Errorf("the browser saved content with sha256 %s, want %s", got, testutil.SHA256Hex(harbour))
	}

	// The sources of one of bob's files: every peer that has its content.
	soWhat := testutil.SHA256Hex(shares["bob-nas"]["incoming/So What.flac"])
	b.do(t, "show the sources of So What", chromedp.Click(chromedp.CSS(`#files-body tr[data-sha256="`+soWhat+`"] button`)))
	waitFor(t, b, "sources listed", fmt.Sprintf(`document.querySelector('#search-results li.result[data-sha256="%s"]') !== null && document.querySelectorAll('#search-results li.result').length === 1`, soWhat))
	checkResults(t, b, api, &directoryv1.SearchRequest{Sha256: soWhat})

	// Live search: typing alone, no Enter, finds the matches, with one
	// search for the whole word (the page counts the searches it starts).
	const query = "of blue"
	b.do(t, "type a search",
		chromedp.Evaluate[chromedp.Void](`window.searches = 0;
			const send = window.fetch;
			window.fetch = (url, init) => { if (String(url).endsWith("/Search")) window.searches++; return send(url, init); };
			document.getElementById("search-input").value = ""`),
		chromedp.SendKeys(chromedp.ID("search-input"), query),
	)
	waitFor(t, b, "results of "+query, `document.getElementById('search-status').textContent.includes('match “`+query+`”')`)
	checkResults(t, b, api, &directoryv1.SearchRequest{Query: query})
	// Without the debounce, every keystroke from the third on is a search.
	if sent := eval[int](t, b, "window.searches"); sent < 1 || sent > 2 {
		t.Errorf("typing %q started %d searches; the debounce should start one", query, sent)
	}
	b.screenshot(t, artifacts, "dashboard-directory.png")
	b.do(t, "phone width", chromedp.EmulateViewport(phoneWidth, phoneHeight))
	b.screenshot(t, artifacts, "dashboard-directory-phone.png")
	b.do(t, "desktop width", chromedp.EmulateViewport(desktopWidth, desktopHeight))

	// A peer's own page, as its owner (dashboard_peer_test.go).
	checkPeerPage(t, b, n, peers["ada-laptop"], shares["ada-laptop"], artifacts)

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// waitFor waits until a JavaScript condition holds in the page, checking
// at each change of the page.
func waitFor(t *testing.T, b *browser, what, condition string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](condition, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(browserWait))); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("%s: %v\nconsole errors: %s\nthe page shows:\n%s", what, err, strings.Join(b.consoleErrors(), "\n"), text)
	}
}

// checkFileTable compares the listed files (name, content) with share.
func checkFileTable(t *testing.T, b *browser, share map[string][]byte) {
	t.Helper()
	rows := eval[[][]string](t, b, `[...document.querySelectorAll('#files-body tr')].map(r => [r.cells[0].textContent, r.dataset.sha256])`)
	var want [][]string
	for name, content := range share {
		want = append(want, []string{name, testutil.SHA256Hex(content)})
	}
	slices.SortFunc(want, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("files listed %q, want %q", rows, want)
	}
}

// checkResults compares the search results on the page (content, names,
// and each source's peer and file name) with what the API returns for req.
func checkResults(t *testing.T, b *browser, api interface {
	Search(context.Context, *connect.Request[directoryv1.SearchRequest]) (*connect.Response[directoryv1.SearchResponse], error)
}, req *directoryv1.SearchRequest) {
	t.Helper()
	shown := eval[[][]string](t, b, `[...document.querySelectorAll('#search-results li.result')].map(r =>
		[r.dataset.sha256, ...[...r.querySelectorAll('.sources li')].map(s => s.dataset.peer + ":" + s.querySelector('.name').textContent)])`)
	res, err := api.Search(t.Context(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for _, r := range res.Msg.GetResults() {
		row := []string{r.GetSha256()}
		for _, s := range r.GetSources() {
			row = append(row, s.GetPeer()+":"+s.GetName())
		}
		want = append(want, row)
	}
	if len(want) == 0 || !slices.EqualFunc(shown, want, slices.Equal) {
		t.Errorf("search %v shows %q, the API returns %q", req, shown, want)
	}
}
