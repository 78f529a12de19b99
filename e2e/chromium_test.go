package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/peerhub/peerhub/internal/testutil"
)

// Size of the browser window, in CSS pixels: a laptop screen, and a phone's.
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// browser is one headless Chromium tab for a test, with the errors its
// pages wrote to the console.
type browser struct {
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

// startBrowser starts Debian's chromium, headless, for the test: one
// browser and one tab, ended with the test. It runs the browser without its
// sandbox only as root (as CI does), where Chromium refuses to start with
// it. Without chromium the test is skipped, or fails under CI=true.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		testutil.Missing(t, "no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("start %s: %v", path, err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, string(m.Type)+": "+m.Text+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// consoleErrors returns what the pages reported as errors so far: failed
// requests, blocked content (the Content-Security-Policy) and uncaught
// exceptions.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs steps in the tab, failing the test with what on an error.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	// Bounded like every wait of the test: a page that never shows what a
	// step waits for fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\nconsole errors: %s", what, err, strings.Join(b.consoleErrors(), "\n"))
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, b *browser, expression string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// screenshot writes a PNG of the whole page, from its top, to the test's
// artifacts. (chromedp.FullScreenshot leaves the size to the browser,
// which cut pages that had been scrolled.)
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	size := eval[[]float64](t, b, `window.scrollTo(0, 0), [document.documentElement.scrollWidth, document.documentElement.scrollHeight]`)
	beyond := true
	shot, err := chromedp.Call(b.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: size[0], Height: size[1], Scale: 1},
		CaptureBeyondViewport: &beyond,
	})
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
