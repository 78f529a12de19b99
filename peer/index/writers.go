package index

// fileID identifies a file on the machine: its device and inode; zero where
// the platform has neither.
type fileID struct {
	Dev, Ino uint64
}

// beingWritten returns which of the named files (name → fileID) some process
// holds open for writing (see openForWriting); such a file is not complete,
// so it is not indexed yet. Files without a fileID are never reported. A
// failure to look is logged and reports none: the settle time still holds
// back a file that is being written to.
func (ix *Index) beingWritten(files map[string]fileID) map[string]bool {
	ids := make(map[fileID]bool, len(files))
	for _, id := range files {
		if id != (fileID{}) {
			ids[id] = true
		}
	}
	open, err := openForWriting(ids)
	if err != nil {
		ix.log.Warn("cannot tell which files are open for writing; relying on the settle time", "error", err)
		return nil
	}
	if len(open) == 0 {
		return nil
	}
	out := map[string]bool{}
	for name, id := range files {
		if open[id] {
			out[name] = true
			ix.log.Debug("not indexed yet", "name", name, "why", "open for writing")
		}
	}
	return out
}
