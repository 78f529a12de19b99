// Package sharepath owns the rule for which file names peerhub accepts: the
// relative, slash-separated paths that name a file in a peer's shared folder.
// The peer's index, the directory, the transfer service and the downloader
// all check names with Check, so a name one of them accepts is accepted by
// all of them, on every operating system peerhub runs on.
//
// The protocol states the same rules as protovalidate rules on every name
// field (peerhub.directory.v1.FileEntry.name, peerhub.peer.v1.StatRequest
// .name, DownloadRequest.name, UploadHeader.name); a test checks that the two
// agree on a table of names. The one rule CEL cannot state is NFC: the
// protocol's rules accept a name in another normalisation form, and every
// edge that receives a name refuses it with Check.
//
// Normalisation: a name must be in Unicode Normalization Form C, so that two
// names that differ only by normalisation (an "é" precomposed or as "e" plus
// a combining accent) can never both exist: there is one spelling of each
// name. Clients normalise what a person typed (Normalize) before they send
// it. A peer shares a file under its name on disk, which it must be able to
// open by that name; a file whose name on disk is not in NFC is not shared
// (the index logs it, asking for a rename) rather than published under a name
// the peer could not open it by.
//
// It also names the files and folders peerhub itself keeps inside a shared
// folder, which are never shared.
package sharepath

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest name accepted, in bytes of UTF-8.
const MaxLen = 1024

// MaxSegment is the longest segment (file or folder name between two "/")
// accepted, in bytes of UTF-8: the limit of most file systems (ext4, XFS,
// APFS; NTFS counts 255 UTF-16 units, which 255 bytes never exceed).
const MaxSegment = 255

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
// relative path with "/" between folders, portable to every system peerhub
// runs on. It refuses:
//   - an empty name, or one longer than MaxLen bytes, or not valid UTF-8;
//   - an empty, "." or ".." segment (so no leading, trailing or doubled
//     "/"), or a segment longer than MaxSegment bytes;
//   - a control character: C0 (U+0000–U+001F), DEL (U+007F) and C1
//     (U+0080–U+009F);
//   - "\" (a folder separator on Windows) and ":" (a drive letter or an
//     alternate data stream on Windows);
//   - a bidirectional formatting character (U+202A–U+202E, U+2066–U+2069,
//     U+200E, U+200F, U+061C), which makes a name display as another one
//     ("txt.exe" shown as "exe.txt");
//   - a segment that Windows treats as a device (CON, PRN, AUX, NUL,
//     COM0–COM9, LPT0–LPT9, in any case, alone or followed by an extension
//     such as "nul.txt");
//   - a name not in Unicode Normalization Form C (see the package
//     documentation).
//
// The error wraps ErrInvalid and says which rule failed.
func Check(name string) error {
	if err := check(name); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalid, truncate(name), err)
	}
	return nil
}

// CheckSegment is Check for a single segment: a file or folder name that
// may not contain "/" either.
func CheckSegment(seg string) error {
	if strings.Contains(seg, "/") {
		return fmt.Errorf("%w %q: contains \"/\"", ErrInvalid, truncate(seg))
	}
	return Check(seg)
}

// Normalize returns name in Unicode Normalization Form C, the form Check
// requires: what a client applies to a name a person typed before sending
// it. It changes nothing else; the result may still fail Check.
func Normalize(name string) string { return norm.NFC.String(name) }

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
	for i, r := range name {
		if why := forbidden(r); why != "" {
			return fmt.Errorf("%s %U at byte %d", why, r, i)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return errors.New("empty segment (leading, trailing or doubled \"/\")")
		case ".", "..":
			return fmt.Errorf("%q segment", seg)
		}
		if len(seg) > MaxSegment {
			return fmt.Errorf("segment %q longer than %d bytes", truncate(seg), MaxSegment)
		}
		if isDevice(seg) {
			return fmt.Errorf("segment %q names a Windows device", seg)
		}
	}
	if !norm.NFC.IsNormalString(name) {
		return errors.New("not in Unicode normalization form C (NFC)")
	}
	return nil
}

// forbidden says why r may not appear in a name, or "" if it may.
func forbidden(r rune) string {
	switch {
	case r < 0x20 || r == 0x7f:
		return "control character"
	case r >= 0x80 && r <= 0x9f:
		return "C1 control character"
	case r == '\\':
		return "backslash (a folder separator on Windows)"
	case r == ':':
		return "colon (a drive or stream separator on Windows)"
	case isBidi(r):
		return "bidirectional formatting character"
	}
	return ""
}

// isBidi reports whether r is a bidirectional formatting character: the
// embeddings and overrides, the isolates and the implicit marks.
func isBidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069 || // LRI, RLI, FSI, PDI
		r == 0x200e || r == 0x200f || // LRM, RLM
		r == 0x061c // ALM
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
// does not end up in logs whole. It cuts at a character boundary.
func truncate(name string) string {
	const max = 64
	if len(name) <= max {
		return name
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "…"
}
