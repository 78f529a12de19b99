//go:build !linux

package index

// openForWriting finds no writers: outside Linux there is no portable way
// to ask which files other processes hold open for writing, so a file is
// published once it is unchanged for the settle time (Options.Settle).
func openForWriting(map[fileID]bool) (map[fileID]bool, error) { return nil, nil }
