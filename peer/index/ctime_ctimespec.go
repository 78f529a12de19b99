//go:build darwin || freebsd || netbsd || dragonfly

package index

import "syscall"

// ctimeOf returns the status change time of st, ns since the Unix epoch.
func ctimeOf(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
