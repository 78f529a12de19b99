package layering_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
)

// module is the module path; rungs name directories relative to its root.
const module = "github.com/peerhub/peerhub"

// rung is one step of the ladder: the packages in dir (and below it,
// unless a longer rung claims them; "." is the root package alone) may
// import the packages of the rungs in may, and nothing else of ours.
type rung struct {
	dir string
	may []string
}

// ladder is the README's main → cli → server | peer → internal → gen, plus
// the two places that may join both roles: e2e/ (whole networks) and
// e2e/testnet (the test-only package that starts them, for e2e/ and cli/
// tests). bench/ measures the roles one at a time.
var ladder = []rung{
	{".", []string{"cli", "internal", "gen"}},
	{"cli", []string{"cli", "e2e/testnet", "server", "peer", "internal", "gen"}},
	{"e2e", []string{"e2e/testnet", "cli", "server", "peer", "internal", "gen"}},
	{"e2e/testnet", []string{"server", "peer", "internal", "gen"}},
	{"bench", []string{"server", "peer", "internal", "gen"}},
	{"server", []string{"server", "internal", "gen"}},
	{"peer", []string{"peer", "internal", "gen"}},
	{"internal", []string{"internal", "gen"}},
	{"gen", []string{"gen"}},
}

// pkg is one package of `go list -deps -test`, with its path relative to
// the module root ("." for the root; a test variant keeps its suffix).
type pkg struct {
	// Path is e.g. "server/directory", "server/directory_test" (an
	// external test) or "." (main).
	Path string
	// Test reports a package compiled from _test.go files: the internal
	// test variant of a package or its external _test package.
	Test bool
	// Imports are the module's packages it imports, relative paths.
	Imports []string
	// TestHelper reports a non-test package that imports "testing": only
	// tests and other test helpers may import it.
	TestHelper bool
}

// dirOf is the directory of a relative package path.
func dirOf(path string) string { return strings.TrimSuffix(path, "_test") }

// rungOf is the longest rung containing dir, false if none does.
func rungOf(dir string) (rung, bool) {
	var best rung
	found := false
	for _, r := range ladder {
		in := dir == r.dir || (r.dir != "." && strings.HasPrefix(dir, r.dir+"/"))
		if in && (!found || len(r.dir) > len(best.dir)) {
			best, found = r, true
		}
	}
	return best, found
}

// violations lists every import of pkgs that breaks the ladder or brings a
// test helper into non-test code, and every package no rung holds.
func violations(pkgs []pkg) []string {
	helpers := map[string]bool{}
	for _, p := range pkgs {
		if p.TestHelper {
			helpers[p.Path] = true
		}
	}
	var out []string
	for _, p := range pkgs {
		from, ok := rungOf(dirOf(p.Path))
		if !ok {
			out = append(out, fmt.Sprintf("%s: in no rung of the ladder (add its directory to internal/layering's ladder)", p.Path))
			continue
		}
		what := p.Path
		if p.Test && !strings.HasSuffix(p.Path, "_test") {
			what += " (its tests)"
		}
		for _, imp := range p.Imports {
			to, ok := rungOf(imp)
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s imports %s, which is in no rung of the ladder", what, imp))
			case to.dir != from.dir && !slices.Contains(from.may, to.dir):
				out = append(out, fmt.Sprintf("%s imports %s: %s may import only %s", what, imp, rungName(from), strings.Join(from.may, ", ")))
			case helpers[imp] && !p.Test && !p.TestHelper:
				out = append(out, fmt.Sprintf("%s imports %s, a test helper (it imports \"testing\"), outside a test", what, imp))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func rungName(r rung) string {
	if r.dir == "." {
		return "main"
	}
	return r.dir + "/"
}

// listPackages runs `go list -deps -test` over the module and returns its
// packages (test variants included, recompiled copies folded in).
func listPackages(t *testing.T, root string) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-test", "-json=ImportPath,ForTest,Imports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	byPath := map[string]*pkg{}
	var order []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var e struct {
			ImportPath, ForTest string
			Imports             []string
		}
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		path, ok := relative(e.ImportPath)
		if !ok || strings.HasSuffix(path, ".test") { // not ours, or a generated test main
			continue
		}
		forTest, _ := relative(e.ForTest)
		p := byPath[path]
		if p == nil {
			p = &pkg{Path: path}
			byPath[path] = p
			order = append(order, path)
		}
		// "x [y.test]" is x compiled for y's tests: x's own test files
		// when x is y (or y_test), else x recompiled against them.
		if e.ForTest != "" && (path == forTest || path == forTest+"_test") {
			p.Test = true
		}
		for _, imp := range e.Imports {
			if imp == "testing" && !strings.HasSuffix(path, "_test") && e.ForTest == "" {
				p.TestHelper = true
			}
			if rel, ok := relative(imp); ok && !slices.Contains(p.Imports, rel) {
				p.Imports = append(p.Imports, rel)
			}
		}
	}
	pkgs := make([]pkg, 0, len(order))
	for _, path := range order {
		pkgs = append(pkgs, *byPath[path])
	}
	return pkgs
}

// relative is a module import path relative to the module root, without
// a " [x.test]" variant suffix; false for another module's package.
func relative(importPath string) (string, bool) {
	path, _, _ := strings.Cut(importPath, " ")
	if path == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// readSources reads every directory and .go file of the module. go test
// reuses a cached pass while the files a test opened are unchanged, and
// files read by the `go list` child process do not count: without this, a
// new bad import would pass from the cache on a developer's machine.
func readSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "third_party" || name == "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // another module (tools/)
			}
			_, err := os.ReadDir(path)
			return err
		}
		if strings.HasSuffix(path, ".go") || path == filepath.Join(root, "go.mod") {
			_, err := os.ReadFile(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLadder checks every import of every package of the module, tests
// included, against the ladder.
func TestLadder(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot(t)
	readSources(t, root)
	pkgs := listPackages(t, root)
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages of the module; the listing is broken", len(pkgs))
	}
	for _, r := range ladder {
		if !slices.ContainsFunc(pkgs, func(p pkg) bool { d := dirOf(p.Path); return d == r.dir || strings.HasPrefix(d, r.dir+"/") }) {
			t.Errorf("rung %s holds no package: remove it or fix its name", r.dir)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestViolations checks the checker on small graphs: each one breaks the
// ladder once, in the ways it must catch.
func TestViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pkgs []pkg
		want string // substring of the one violation; "" for none
	}{
		{"the ladder downwards", []pkg{{Path: ".", Imports: []string{"cli"}}, {Path: "cli", Imports: []string{"server", "peer/session", "internal/token", "gen/x"}}}, ""},
		{"a server test imports peer", []pkg{{Path: "server/directory_test", Test: true, Imports: []string{"peer/session"}}}, "server/directory_test imports peer/session"},
		{"peer imports server", []pkg{{Path: "peer", Imports: []string{"server/directory"}}}, "peer imports server/directory: peer/ may import only"},
		{"internal imports cli", []pkg{{Path: "internal/token", Test: true, Imports: []string{"cli"}}}, "internal/token (its tests) imports cli"},
		{"gen imports internal", []pkg{{Path: "gen/x", Imports: []string{"internal/token"}}}, "gen/x imports internal/token"},
		{"server imports cli", []pkg{{Path: "server", Imports: []string{"cli"}}}, "server imports cli"},
		{"internal imports e2e/testnet", []pkg{{Path: "internal/x_test", Test: true, Imports: []string{"e2e/testnet"}}}, "internal/x_test imports e2e/testnet"},
		{"a cli test may use testnet", []pkg{{Path: "cli_test", Test: true, Imports: []string{"e2e/testnet"}}, {Path: "e2e/testnet", TestHelper: true}}, ""},
		{"cli code may not", []pkg{{Path: "cli", Imports: []string{"e2e/testnet"}}, {Path: "e2e/testnet", TestHelper: true}}, "cli imports e2e/testnet, a test helper"},
		{"a new top-level folder", []pkg{{Path: "util"}}, "util: in no rung"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := violations(tt.pkgs)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("violations %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("violations %q, want one with %q", got, tt.want)
			}
		})
	}
}
