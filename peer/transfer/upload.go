package transfer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
	"github.com/peerhub/peerhub/peer/downloader/outfs"
)

// IncomingDir is where uploads are written until they are complete and
// verified, relative to the shared folder. It is inside sharepath.StateDir,
// so it is never shared, and on the same file system as the final names, so
// moving a finished upload into place is a link or a rename, never a copy.
const IncomingDir = sharepath.StateDir + "/incoming"

// uploadTempSuffix ends the name of every temporary upload file in
// IncomingDir (see uploadTempName).
const uploadTempSuffix = ".upload"

// Permissions of what an upload creates (before the umask).
const (
	fileMode = 0o644
	dirMode  = 0o755
	// incomingMode keeps unverified uploads private to the peer's user.
	incomingMode = 0o700
)

// UploadHeader describes the file an upload carries.
type UploadHeader struct {
	// Name is the path, relative to the shared folder, to store it under.
	Name string
	// Size is the content's length in bytes.
	Size int64
	// SHA256 is the content's SHA-256, 64 lowercase hex digits.
	SHA256 string
}

// Stored describes a file an upload stored.
type Stored struct {
	// Name is the path it was stored under, relative to the shared folder.
	Name string
	// Size is its length in bytes.
	Size int64
	// SHA256 is its content's SHA-256, 64 lowercase hex digits.
	SHA256 string
}

// NextFunc returns the next chunk of an upload's content, and io.EOF once
// all of it was received. The chunk is only used until the next call. Any
// other error aborts the upload and is returned as is.
type NextFunc func() ([]byte, error)

// Upload stores the content next yields under h.Name. It checks the header
// before writing any byte (name, size against MaxUploadSize and the free
// disk space, name not taken), writes the content into a temporary file in
// IncomingDir while hashing it, checks its size and SHA-256 against h, syncs
// it to disk and only then moves it to its name, creating parent folders as
// needed. It never replaces an existing file.
//
// On any failure, a cancelled ctx or an error from next included, it removes
// the temporary file: nothing is left behind, neither under h.Name nor in
// IncomingDir.
//
// The uploads running and those stored before (across restarts) must fit
// in Options.MaxUploadTotal with this one. It waits for a transfer slot
// after checking the header (see Options.MaxQueue).
// Errors: ErrUploadsDisabled, ErrInvalid, ErrTooLarge, ErrNoSpace,
// ErrExists, ErrBusy, ErrMismatch, ctx's error, next's error (as is), or an
// I/O error.
func (s *Service) Upload(ctx context.Context, h UploadHeader, next NextFunc) (_ Stored, err error) {
	if !s.acceptUploads {
		return Stored{}, ErrUploadsDisabled
	}
	if err := s.checkHeader(h); err != nil {
		return Stored{}, err
	}
	endBudget, err := s.budget.admit(h.Size)
	if err != nil {
		return Stored{}, err
	}
	stored := false
	defer func() {
		if err := endBudget(stored); err != nil {
			s.log.Warn("cannot save the upload total; it counts until the peer stops", "file", UploadTotalFile, "error", err)
		}
	}()
	// Reserve the space before checking it, so that two uploads admitted
	// together cannot both count on the same free bytes.
	reserved := s.reserved.Add(h.Size)
	defer s.reserved.Add(-h.Size)
	if free, err := s.freeSpace(s.root); err == nil && reserved > free {
		return Stored{}, fmt.Errorf("%w: %d bytes (with the uploads running: %d) but %d free", ErrNoSpace, h.Size, reserved, free)
	}

	release, err := s.acquire(ctx)
	if err != nil {
		return Stored{}, err
	}
	defer release()
	tr, done := s.activity.start(ctx, Receiving, h.Name, h.SHA256, h.Size)
	defer func() { done(err) }()
	counted := func() ([]byte, error) {
		b, err := next()
		tr.done.Add(int64(len(b)))
		return b, err
	}

	tmp, err := s.receive(ctx, h, counted)
	if err != nil {
		return Stored{}, s.diskFull(h, err)
	}
	if err := s.commit(tmp, h.Name); err != nil {
		s.removeTemp(tmp)
		return Stored{}, s.diskFull(h, err)
	}
	stored = true
	s.activity.received(Received{Stored: Stored(h), Account: tr.Caller.Account, At: time.Now()})
	return Stored(h), nil
}

// diskFull turns err, when it says the disk filled up while h was written
// (outfs.DiskFull), into ErrNoSpace with a message for the uploader that
// names this peer's disk and none of its paths; the I/O error itself is
// logged. Other errors are returned as they are.
func (s *Service) diskFull(h UploadHeader, err error) error {
	if !outfs.DiskFull(err) {
		return err
	}
	s.log.Warn("upload refused: the shared folder's disk is full", "file", h.Name, "size", h.Size, "error", err)
	return fmt.Errorf("%w: the receiving peer's disk is full; %q (%d bytes) was not stored and nothing of it was kept", ErrNoSpace, truncate(h.Name), h.Size)
}

// checkHeader checks everything about h that needs no content.
// Errors: ErrInvalid, ErrTooLarge, ErrExists.
func (s *Service) checkHeader(h UploadHeader) error {
	if err := checkName(h.Name); err != nil {
		return err
	}
	if strings.HasSuffix(h.Name, sharepath.PartialSuffix) || strings.HasSuffix(h.Name, sharepath.StateSuffix) {
		// The downloader owns these names; an upload must not pose as one
		// of its unfinished files.
		return fmt.Errorf("%w: %q ends like a partial download", ErrInvalid, truncate(h.Name))
	}
	if !pieces.IsHex(h.SHA256) {
		return fmt.Errorf("%w: sha256 must be 64 lowercase hex digits", ErrInvalid)
	}
	if h.Size < 0 {
		return fmt.Errorf("%w: negative size", ErrInvalid)
	}
	if h.Size > s.maxUpload {
		return fmt.Errorf("%w: %d bytes, this peer accepts at most %d bytes", ErrTooLarge, h.Size, s.maxUpload)
	}
	return s.checkFree(h.Name)
}

// checkFree checks that name can be created: it does not exist, and every
// existing parent is a real folder (not a link: uploads never write through
// links, even ones that stay inside the share).
// Errors: ErrExists, ErrInvalid.
func (s *Service) checkFree(name string) error {
	segs := strings.Split(name, "/")
	for i := range segs {
		p := strings.Join(segs[:i+1], "/")
		fi, err := s.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %q: %w", ErrInvalid, truncate(p), err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %q is a link", ErrInvalid, truncate(p))
		case i == len(segs)-1:
			return fmt.Errorf("%w: %q", ErrExists, truncate(name))
		case !fi.IsDir():
			return fmt.Errorf("%w: parent %q is not a folder", ErrExists, truncate(p))
		}
	}
	return nil
}

// receive writes the content into a new temporary file in IncomingDir and
// returns its name once it is complete, verified and synced. On failure it
// has removed the file.
// Every file operation goes through s.upfs (Options.Folder).
// Errors: ErrMismatch, ctx's error, next's error, or an I/O error.
func (s *Service) receive(ctx context.Context, h UploadHeader, next NextFunc) (tmp string, err error) {
	if err := s.upfs.MkdirAll(IncomingDir, incomingMode); err != nil {
		return "", fmt.Errorf("create %s: %w", IncomingDir, err)
	}
	name := IncomingDir + "/" + rand.Text() + uploadTempSuffix
	f, err := s.upfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close temporary file: %w", cerr)
		}
		if err != nil {
			s.removeTemp(name)
			tmp = ""
		}
	}()

	hash := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("upload of %q cut after %d bytes: %w", truncate(h.Name), n, context.Cause(ctx))
		}
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if int64(len(chunk)) > h.Size-n {
			return "", fmt.Errorf("%w: more than the %d bytes announced", ErrMismatch, h.Size)
		}
		if _, err := f.WriteAt(chunk, n); err != nil {
			return "", fmt.Errorf("write temporary file: %w", err)
		}
		hash.Write(chunk)
		n += int64(len(chunk))
	}
	if n != h.Size {
		return "", fmt.Errorf("%w: received %d bytes, %d announced", ErrMismatch, n, h.Size)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != h.SHA256 {
		return "", fmt.Errorf("%w: received content has sha256 %s, %s announced", ErrMismatch, got, h.SHA256)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync temporary file: %w", err)
	}
	return name, nil
}

// commit moves the finished temporary file tmp to name without replacing
// anything there.
//
// It hard-links tmp to name, which fails atomically when name exists, then
// removes tmp. Where the file system has no hard links it falls back to
// checking that name is free and renaming; a file created at name between
// the check and the rename is then replaced (a narrow race, accepted as the
// price of supporting such file systems).
// Errors: ErrExists, ErrInvalid, or an I/O error.
func (s *Service) commit(tmp, name string) error {
	// Re-check: a link or file may have appeared since the header check.
	if err := s.checkFree(name); err != nil {
		return err
	}
	if dir := path.Dir(name); dir != "." {
		if err := s.upfs.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("create folder of %q: %w", truncate(name), err)
		}
	}
	err := s.upfs.Link(tmp, name)
	switch {
	case err == nil:
		s.removeTemp(tmp)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %q", ErrExists, truncate(name))
	case errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission):
		if err := s.checkFree(name); err != nil {
			return err
		}
		if err := s.upfs.Rename(tmp, name); err != nil {
			return fmt.Errorf("move upload to %q: %w", truncate(name), err)
		}
	default:
		return fmt.Errorf("move upload to %q: %w", truncate(name), err)
	}
	// Make the new name durable. The file is in place whatever happens
	// here, so a failure only widens the window a power loss could undo
	// it, and is not the caller's error.
	if d, err := s.root.Open(path.Dir(name)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// removeTemp removes a temporary upload file, logging (it cannot report)
// a failure.
func (s *Service) removeTemp(tmp string) {
	if err := s.upfs.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("cannot remove temporary upload file", "file", tmp, "error", err)
	}
}
