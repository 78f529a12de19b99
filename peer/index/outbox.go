package index

import (
	"maps"
	"slices"
)

// outbox accumulates the changes the receiver has not taken yet, merged:
// for each name only its latest state counts.
type outbox struct {
	added   map[string]Entry
	removed map[string]bool
	built   *Change // cached result of change, nil after a merge
}

// empty reports whether there is nothing to send.
func (o *outbox) empty() bool { return len(o.added) == 0 && len(o.removed) == 0 }

// merge adds c after what o holds.
func (o *outbox) merge(c Change) {
	if c.Empty() {
		return
	}
	for _, name := range c.Removed {
		delete(o.added, name)
		o.removed[name] = true
	}
	for _, e := range c.Added {
		delete(o.removed, e.Name)
		o.added[e.Name] = e
	}
	o.built = nil
}

// change returns what o holds as one Change.
func (o *outbox) change() Change {
	if o.built == nil {
		c := Change{
			Added:   slices.Collect(maps.Values(o.added)),
			Removed: slices.Collect(maps.Keys(o.removed)),
		}
		sortChange(&c)
		o.built = &c
	}
	return *o.built
}

// reset empties o once its change was sent.
func (o *outbox) reset() {
	clear(o.added)
	clear(o.removed)
	o.built = nil
}
