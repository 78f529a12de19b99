// Package migration owns the layout of the stores' embedded schema steps:
// numbered SQL files ("0001_init.sql", "0002_add_x.sql") that a store applies
// in order. Each store keeps its own SQL and its own way of recording the
// applied version; this package only reads and checks the steps and says
// which ones a database still needs (Pending).
package migration

import (
	"cmp"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Step is one embedded schema step.
type Step struct {
	// Version is the number the file name starts with, from 1.
	Version int
	// Name is the file name, for messages.
	Name string
	// SQL is the file's content.
	SQL string
}

// Load returns the steps in dir of fsys, in order. Versions start at 1 and
// increase, each used once. A version may be missing: steps are numbered
// by the change that adds them, and changes developed side by side may land
// out of order (0003 before 0002). A database records the highest version
// it applied, so a step that lands with a number below it is not applied
// there: number a new step above every step that has been released.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Step
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name does not start with a version", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out = append(out, Step{Version: v, Name: e.Name(), SQL: string(b)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read migrations: no step in %s", dir)
	}
	slices.SortFunc(out, func(a, b Step) int { return cmp.Compare(a.Version, b.Version) })
	if out[0].Version != 1 {
		return nil, fmt.Errorf("migration %s: the first step must be version 1", out[0].Name)
	}
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s: both are version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// Pending returns the steps of a database whose highest applied version is
// current: those above it, in order. A database newer than the last step
// was migrated by a newer program, which this one cannot serve.
func Pending(steps []Step, current int) ([]Step, error) {
	last := 0
	if len(steps) > 0 {
		last = steps[len(steps)-1].Version
	}
	if current > last {
		return nil, fmt.Errorf("database schema version %d is newer than this program's %d: run the newer peerhub", current, last)
	}
	i, _ := slices.BinarySearchFunc(steps, current+1, func(s Step, v int) int { return cmp.Compare(s.Version, v) })
	return steps[i:], nil
}
