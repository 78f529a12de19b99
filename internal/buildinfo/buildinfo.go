// Package buildinfo owns the identity of this build: version, commit and Go
// version, read once from the linker flags and the module build info.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// version and commit are set by the Makefile with -ldflags "-X ...".
var (
	version = ""
	commit  = ""
)

// Info identifies a build of peerhub.
type Info struct {
	// Version is the release version, or "devel" for an untagged build.
	Version string
	// Commit is the git commit the binary was built from, or "unknown".
	Commit string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Get returns the identity of the running binary. Linker flags win; without
// them the module build info (go install, go run) fills what it can. It is
// read once: the directory's GetInfo answers with it on every call, and
// parsing the build info each time cost 2 % of a loaded directory's CPU
// (perf profile of bench/directory.sh).
func Get() Info { return readOnce() }

// readOnce is read, run at the first Get.
var readOnce = sync.OnceValue(read)

// read reads the identity of the running binary.
func read() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
