// Package migration owns the layout of the stores' embedded schema steps:
// numbered SQL files ("0001_init.sql", "0002_add_x.sql") that a store applies
// in order. Each store keeps its own SQL and its own way of recording the
// applied version; this package only reads and checks the steps.
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

// Load returns the steps in dir of fsys, in order. Versions must run 1, 2,
// 3... without gaps, so that the highest applied version says exactly which
// steps have been applied.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Step
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name does not start with a version", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out = append(out, Step{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Step) int { return cmp.Compare(a.Version, b.Version) })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", m.Name, m.Version, i+1)
		}
	}
	return out, nil
}
