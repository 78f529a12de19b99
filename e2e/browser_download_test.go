package e2e_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// download runs click, which must start one download in the tab, and
// returns the path of the downloaded file once Chromium reports it
// complete. Downloads are saved in a new folder of the test, each under its
// download id (allowAndName), whatever the server suggests.
func (b *browser) download(t *testing.T, what string, click chromedp.Action[chromedp.Void]) string {
	t.Helper()
	dir := t.TempDir()
	events := true
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events,
	}); err != nil {
		t.Fatalf("%s: set the download folder: %v", what, err)
	}
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	// Room for every event the listener may see before the test reads:
	// the listener must never block.
	ended := make(chan *cdpbrowser.EventDownloadProgress, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if p, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && p.State != cdpbrowser.DownloadProgressStateInProgress {
			select {
			case ended <- p:
			default:
			}
		}
	}); err != nil {
		t.Fatalf("%s: listen: %v", what, err)
	}
	b.do(t, what, click)
	waitCtx, stop := context.WithTimeout(t.Context(), browserWait)
	defer stop()
	select {
	case p := <-ended:
		if p.State != cdpbrowser.DownloadProgressStateCompleted {
			t.Fatalf("%s: download %s (%v of %v bytes)", what, p.State, p.ReceivedBytes, p.TotalBytes)
		}
		return filepath.Join(dir, p.GUID)
	case <-waitCtx.Done():
		t.Fatalf("%s: no download completed within %s; console errors: %s", what, browserWait, strings.Join(b.consoleErrors(), "\n"))
		return ""
	}
}
