package index

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// openForWriting returns which of files some process holds open for
// writing, found by reading /proc: for every process, each open file
// descriptor that leads to one of files (matched by device and inode, so
// renames and bind mounts do not fool it) and whose flags in
// /proc/PID/fdinfo/FD have write access (O_WRONLY or O_RDWR).
//
// Why /proc rather than inotify's IN_CLOSE_WRITE: inotify reports opens
// without their mode and only the opens that happen after a watch is added,
// so it cannot say whether a file held open since before the peer started,
// or opened for writing and not yet written, has a writer. /proc says so at
// the moment the question is asked, which is when a file has settled and is
// about to be published. Its cost grows with the open descriptors on the
// machine (about one stat each), so it runs once per settled batch, not per
// event.
//
// Only processes whose /proc/PID/fd the peer may read are seen: its own
// user's, or all when it runs as root. A writer of another user (or one
// hidden by mounting /proc with hidepid) is covered by the settle time only.
func openForWriting(files map[fileID]bool) (map[fileID]bool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	found := map[fileID]bool{}
	for _, p := range procs {
		pid := p.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		fdDir := "/proc/" + pid + "/fd/"
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			// Exited, or another user's.
			continue
		}
		for _, fd := range fds {
			var st syscall.Stat_t
			if syscall.Stat(fdDir+fd.Name(), &st) != nil {
				continue
			}
			id := fileID{Dev: uint64(st.Dev), Ino: st.Ino}
			if !files[id] || found[id] {
				continue
			}
			if w, err := writable("/proc/" + pid + "/fdinfo/" + fd.Name()); err == nil && w {
				found[id] = true
			}
		}
	}
	return found, nil
}

// writable reports whether the fdinfo file at path gives its descriptor
// write access.
func writable(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("flags:"))
		if !ok {
			continue
		}
		flags, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 64)
		if err != nil {
			return false, err
		}
		mode := flags & syscall.O_ACCMODE
		return mode == syscall.O_WRONLY || mode == syscall.O_RDWR, nil
	}
	return false, errors.New("no flags in " + path)
}
