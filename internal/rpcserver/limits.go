package rpcserver

import (
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// DefaultReadLimit is the largest request message, in bytes, of a procedure
// that ReadLimits does not name: room for names, tokens, page tokens and
// sizes, the stuff of every request but a few.
const DefaultReadLimit = 16 << 10 // bytes

// ReadLimits say how large a request message each procedure of a service
// accepts, in bytes, after decompression. Each procedure is served by a
// handler of its own limit (connect.WithReadMaxBytes), whose gzip stops
// inflating one byte past it; a unary procedure's request body is also cut
// at wireBytes of its limit, so neither an oversize body nor a gzip bomb is
// read or inflated past what the procedure could ever need.
type ReadLimits struct {
	// Default applies to every procedure not in ByProcedure;
	// DefaultReadLimit if zero.
	Default int
	// ByProcedure maps full procedure names
	// ("/peerhub.directory.v1.DirectoryService/Login") to their limit.
	ByProcedure map[string]int
}

// For returns the limit of procedure.
func (l ReadLimits) For(procedure string) int {
	if n, ok := l.ByProcedure[procedure]; ok && n > 0 {
		return n
	}
	if l.Default > 0 {
		return l.Default
	}
	return DefaultReadLimit
}

// wireBytes is the most bytes the body of a unary request of a message
// limit may take on the wire: the message, a gRPC envelope (5 bytes), and
// what gzip adds to data it cannot shrink (18 bytes of header and trailer,
// 5 per 64 KiB stored block).
func wireBytes(limit int) int64 {
	return int64(limit) + int64(limit)/4096 + 1024
}

// gzipCompression returns the handler option of connect's gzip with a
// decompressor that inflates at most limit+1 bytes of one message: connect
// reads limit+1 bytes to see that a message is too large, and would then
// inflate the rest of it only to report its size, gigabytes for a gzip
// bomb.
func gzipCompression(limit int) connect.HandlerOption {
	return connect.WithCompression("gzip", cappedGzipFor(limit), newGzipCompressor)
}

// cappedGzipFor returns a factory of gzip readers that inflate at most
// limit+1 bytes.
func cappedGzipFor(limit int) func() connect.Decompressor {
	return func() connect.Decompressor { return &cappedGzip{max: int64(limit) + 1} }
}

// newGzipCompressor returns a gzip writer of the default level, as
// connect's own gzip.
func newGzipCompressor() connect.Compressor { return gzip.NewWriter(io.Discard) }

// cappedGzip is a gzip reader that refuses to inflate past max bytes.
type cappedGzip struct {
	gz   *gzip.Reader
	max  int64 // bytes
	read int64 // bytes inflated since Reset
}

// Read inflates up to max bytes, then fails with ResourceExhausted.
func (c *cappedGzip) Read(p []byte) (int, error) {
	if c.gz == nil {
		return 0, io.ErrUnexpectedEOF
	}
	left := c.max - c.read
	if left <= 0 {
		return 0, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("message inflates past %d bytes, more than this method accepts", c.max-1))
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.gz.Read(p)
	c.read += int64(n)
	return n, err
}

// Reset starts inflating r.
func (c *cappedGzip) Reset(r io.Reader) error {
	c.read = 0
	if c.gz == nil {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		c.gz = gz
		return nil
	}
	return c.gz.Reset(r)
}

// Close ends inflating.
func (c *cappedGzip) Close() error {
	if c.gz == nil {
		return nil
	}
	return c.gz.Close()
}
