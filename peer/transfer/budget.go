package transfer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/peerhub/peerhub/internal/sharepath"
)

// UploadTotalFile is where a peer keeps the bytes uploads have stored in its
// shared folder, relative to it: the total MaxUploadTotal bounds, counted
// across restarts. Deleting it starts the count again.
const UploadTotalFile = sharepath.StateDir + "/uploaded-bytes"

// DefaultMaxUploadTotal is the most bytes uploads may store in total unless
// configured.
const DefaultMaxUploadTotal = 16 << 30 // bytes

// uploadBudget bounds the bytes all uploads together may store in the
// shared folder (Options.MaxUploadTotal): the stored total, kept in
// UploadTotalFile, plus the sizes of the uploads running must stay within
// it, so that uploads of files each under MaxUploadSize cannot fill the disk
// one after another. It is safe for concurrent use.
type uploadBudget struct {
	root *os.Root
	max  int64

	mu      sync.Mutex
	stored  int64 // bytes stored by uploads, as in UploadTotalFile
	running int64 // sizes of the uploads admitted and not ended
}

// loadBudget reads the stored total from UploadTotalFile under root, 0 if
// the file does not exist.
// Errors: the file cannot be read or does not hold a byte count.
func loadBudget(root *os.Root, max int64) (*uploadBudget, error) {
	b := &uploadBudget{root: root, max: max}
	raw, err := root.ReadFile(UploadTotalFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("read the upload total %s: %w", UploadTotalFile, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("the upload total %s does not hold a byte count; delete it to count from zero", UploadTotalFile)
	}
	b.stored = n
	return b, nil
}

// admit reserves size bytes for an upload. The caller calls end once the
// upload is over, with whether it stored the file; end's error says the
// new total could not be saved (it still counts while the peer runs).
// Errors: ErrTooLarge (with the limit in the message) if the stored total,
// the running uploads and size exceed the budget.
func (b *uploadBudget) admit(size int64) (end func(stored bool) error, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stored+b.running+size > b.max || size > b.max {
		return nil, fmt.Errorf("%w: this peer accepts at most %d bytes of uploads in total; %d stored, %d arriving, %d more asked",
			ErrTooLarge, b.max, b.stored, b.running, size)
	}
	b.running += size
	var once sync.Once
	return func(stored bool) error {
		err := errors.New("upload already ended")
		once.Do(func() { err = b.end(size, stored) })
		return err
	}, nil
}

// end releases an upload's reservation and counts it if stored.
func (b *uploadBudget) end(size int64, stored bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running -= size
	if !stored {
		return nil
	}
	b.stored += size
	return b.save()
}

// save writes the stored total to UploadTotalFile (a new file renamed over
// the old one, so a crash leaves one or the other). The caller holds mu.
func (b *uploadBudget) save() error {
	if err := b.root.MkdirAll(sharepath.StateDir, incomingMode); err != nil {
		return err
	}
	tmp := UploadTotalFile + ".new"
	if err := b.root.WriteFile(tmp, []byte(strconv.FormatInt(b.stored, 10)+"\n"), 0o600); err != nil {
		return err
	}
	return b.root.Rename(tmp, UploadTotalFile)
}

// storedTotal returns the bytes uploads stored, across restarts.
func (b *uploadBudget) storedTotal() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stored
}
