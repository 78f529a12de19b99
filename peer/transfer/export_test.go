package transfer

import "os"

// SetFreeSpace replaces how s measures the free disk space, so tests can
// fill the disk without filling it.
func SetFreeSpace(s *Service, free func() (int64, error)) {
	s.freeSpace = func(*os.Root) (int64, error) { return free() }
}

// SkipVerify makes s serve pieces without checking their hashes: the
// baseline of the benchmark that measures what checking costs.
func SkipVerify(s *Service) { s.skipVerify = true }

// IdleBuffers is how many piece buffers s keeps for the next downloads.
func IdleBuffers(s *Service) int { return s.buffers.idle() }
