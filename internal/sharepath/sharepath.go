// Package sharepath owns the rule for which file names peerhub accepts: the
// relative, slash-separated paths that name a file in a peer's shared folder.
// The peer's index, the directory and the transfer service all check names
// with Check, so a name one of them accepts is accepted by all of them and by
// the protocol's validation rules (peerhub.directory.v1.FileEntry.name).
//
// It also names the files and folders peerhub itself keeps inside a shared
// folder, which are never shared.
package sharepath

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest name accepted, in bytes of UTF-8.
const MaxLen = 1024

// StateDir is the folder, directly inside the shared folder, where peerhub
// keeps its own state (hash cache, upload temp files in StateDir/incoming).
// It is never shared.
const StateDir = ".peerhub"

// PartialSuffix ends the name of a file the downloader is still writing; the
// file is renamed to its final name once every piece is verified.
const PartialSuffix = ".peerhub-partial"

// StateSuffix ends the name of the downloader's state file that accompanies
// a partial file (which pieces arrived).
const StateSuffix = ".peerhub-state"

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid share path")

// Check reports whether name is acceptable as the name of a shared file: a
// relative path with "/" between folders, no empty, "." or ".." segment (so
// no leading, trailing or doubled "/"), valid UTF-8 of at most MaxLen bytes,
// no ASCII control character (U+0000–U+001F, U+007F) and no segment that
// Windows treats as a device (CON, PRN, AUX, NUL, COM0–COM9, LPT0–LPT9, in
// any case, alone or followed by an extension such as "nul.txt").
//
// The rules are exactly the protocol's, so that a name accepted here passes
// the RPC validation. The error wraps ErrInvalid and says which rule failed.
func Check(name string) error {
	if err := check(name); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalid, truncate(name), err)
	}
	return nil
}

// check returns a plain description of the first rule name breaks.
func check(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > MaxLen:
		return fmt.Errorf("longer than %d bytes", MaxLen)
	case !utf8.ValidString(name):
		return errors.New("not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character %#02x at byte %d", c, i)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return errors.New("empty segment (leading, trailing or doubled \"/\")")
		case ".", "..":
			return fmt.Errorf("%q segment", seg)
		}
		if isDevice(seg) {
			return fmt.Errorf("segment %q names a Windows device", seg)
		}
	}
	return nil
}

// isDevice reports whether seg is a Windows device name, alone or with an
// extension: Windows opens the device for "nul" and for "nul.txt" alike.
func isDevice(seg string) bool {
	base, _, _ := strings.Cut(seg, ".")
	switch len(base) {
	case 3:
		for _, d := range [...]string{"con", "prn", "aux", "nul"} {
			if strings.EqualFold(base, d) {
				return true
			}
		}
	case 4:
		if c := base[3]; c >= '0' && c <= '9' {
			return strings.EqualFold(base[:3], "com") || strings.EqualFold(base[:3], "lpt")
		}
	}
	return false
}

// truncate shortens name for an error message, so that a hostile 1 MB name
// does not end up in logs whole.
func truncate(name string) string {
	const max = 64
	if len(name) <= max {
		return name
	}
	return name[:max] + "…"
}
