package index

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/peerhub/peerhub/internal/pieces"
	"github.com/peerhub/peerhub/internal/sharepath"
)

// cacheName is the hash cache's file name in the state folder.
const cacheName = "index-cache"

// cacheMagic starts the cache file; a new format gets a new magic so that an
// old file is ignored rather than misread.
//
// v2 added the ctime to each record: a v1 record cannot tell a rewrite that
// restored the modification time, so v1 files are not trusted.
const cacheMagic = "peerhub index cache v2\n"

// The cache file is cacheMagic, then a gob-encoded cacheFile, then the
// SHA-256 of the gob bytes: a torn or corrupted file is detected before it
// is decoded.
type cacheFile struct {
	// PieceSize is pieces.Size when the file was written; records hashed
	// with another piece size are useless.
	PieceSize int64
	Records   []cacheRecord
}

// cacheRecord is one file's record on disk.
type cacheRecord struct {
	Name     string
	Size     int64
	MTime    int64 // ns since the Unix epoch
	CTime    int64 // ns since the Unix epoch; 0 where not read
	Ino      uint64
	HashedAt int64 // ns since the Unix epoch
	SHA256   []byte
	Pieces   []byte // the piece hashes concatenated, 32 bytes each
}

// cachePath returns the cache file's path.
func (ix *Index) cachePath() string { return filepath.Join(ix.stateDir, cacheName) }

// loadCache reads the hash cache. Any problem is logged and yields an empty
// cache: the cache only saves work.
func (ix *Index) loadCache() (map[string]*record, map[fileKey]*record) {
	byName, byKey := map[string]*record{}, map[fileKey]*record{}
	data, err := os.ReadFile(ix.cachePath())
	if errors.Is(err, fs.ErrNotExist) {
		return byName, byKey
	}
	if err == nil {
		err = decodeCache(data, func(r *record) {
			byName[r.Name] = r
			if r.key.Ino != 0 {
				byKey[r.key.inode()] = r
			}
		})
	}
	if err != nil {
		ix.log.Warn("hash cache ignored; files will be hashed again", "path", ix.cachePath(), "error", err)
		return map[string]*record{}, map[fileKey]*record{}
	}
	ix.log.Debug("hash cache loaded", "path", ix.cachePath(), "records", len(byName))
	return byName, byKey
}

// decodeCache checks and decodes a cache file, calling add for each record.
func decodeCache(data []byte, add func(*record)) error {
	payload, ok := bytes.CutPrefix(data, []byte(cacheMagic))
	if !ok {
		return errors.New("decode hash cache: unknown format")
	}
	if len(payload) < sha256.Size {
		return errors.New("decode hash cache: truncated")
	}
	payload, sum := payload[:len(payload)-sha256.Size], payload[len(payload)-sha256.Size:]
	if got := sha256.Sum256(payload); !bytes.Equal(got[:], sum) {
		return errors.New("decode hash cache: checksum mismatch")
	}
	var cf cacheFile
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&cf); err != nil {
		return fmt.Errorf("decode hash cache: %w", err)
	}
	if cf.PieceSize != pieces.Size {
		return fmt.Errorf("decode hash cache: piece size %d, want %d", cf.PieceSize, pieces.Size)
	}
	for i := range cf.Records {
		cr := &cf.Records[i]
		if sharepath.Check(cr.Name) != nil || cr.Size < 0 || len(cr.SHA256) != sha256.Size ||
			len(cr.Pieces) != sha256.Size*pieces.Count(cr.Size) {
			return fmt.Errorf("decode hash cache: record %d (%q) is malformed", i, cr.Name)
		}
		ps := make([][32]byte, pieces.Count(cr.Size))
		for j := range ps {
			copy(ps[j][:], cr.Pieces[j*sha256.Size:])
		}
		s := pieces.Sum{Pieces: ps, Root: pieces.Root(ps), Size: cr.Size}
		copy(s.SHA256[:], cr.SHA256)
		add(newRecord(cr.Name, fileKey{Size: cr.Size, MTime: cr.MTime, CTime: cr.CTime, Ino: cr.Ino}, s, cr.HashedAt))
	}
	return nil
}

// saveIfDirty writes the cache if the index changed since it was last
// written. A failure is logged (as a warning the first time) and retried at
// the next change; the caller holds ix.updMu.
func (ix *Index) saveIfDirty() {
	if !ix.dirty {
		return
	}
	err := ix.saveCache()
	if err == nil {
		ix.dirty, ix.saveFailed = false, false
		return
	}
	ix.dirty = false
	if !ix.saveFailed {
		ix.log.Warn("hash cache not saved; files will be hashed again after a restart", "error", err)
	} else {
		ix.log.Debug("hash cache not saved", "error", err)
	}
	ix.saveFailed = true
}

// saveCache writes the index to the cache file atomically: a temporary file
// in the state folder, synced, then renamed over the old one, so a crash
// leaves either the old or the new file, never a torn one.
func (ix *Index) saveCache() error {
	ix.mu.RLock()
	recs := make([]*record, 0, len(ix.entries))
	for _, r := range ix.entries {
		recs = append(recs, r)
	}
	ix.mu.RUnlock()
	slices.SortFunc(recs, func(a, b *record) int { return strings.Compare(a.Name, b.Name) })

	cf := cacheFile{PieceSize: pieces.Size, Records: make([]cacheRecord, len(recs))}
	for i, r := range recs {
		sum, err := pieces.ParseHex(r.SHA256)
		if err != nil {
			return fmt.Errorf("save hash cache: %s: %w", r.Name, err)
		}
		ps := make([]byte, 0, len(r.PieceHashes)*sha256.Size)
		for _, p := range r.PieceHashes {
			ps = append(ps, p[:]...)
		}
		cf.Records[i] = cacheRecord{
			Name: r.Name, Size: r.Size, MTime: r.key.MTime, CTime: r.key.CTime, Ino: r.key.Ino,
			HashedAt: r.hashedAt, SHA256: sum[:], Pieces: ps,
		}
	}

	if err := os.MkdirAll(ix.stateDir, 0o700); err != nil {
		return fmt.Errorf("save hash cache: %w", err)
	}
	tmp, err := os.CreateTemp(ix.stateDir, cacheName+".tmp-*")
	if err != nil {
		return fmt.Errorf("save hash cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := writeCache(tmp, &cf); err != nil {
		tmp.Close()
		return fmt.Errorf("save hash cache %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save hash cache %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), ix.cachePath()); err != nil {
		return fmt.Errorf("save hash cache: %w", err)
	}
	// Sync the folder so that the rename itself survives a crash.
	if d, err := os.Open(ix.stateDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeCache writes cf to f in the cache format and syncs f.
func writeCache(f *os.File, cf *cacheFile) error {
	bw := bufio.NewWriterSize(f, 1<<16)
	if _, err := io.WriteString(bw, cacheMagic); err != nil {
		return err
	}
	h := sha256.New()
	if err := gob.NewEncoder(io.MultiWriter(bw, h)).Encode(cf); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}
