// Package http2tuning is the one HTTP/2 tuning of peerhub's connections,
// shared by both ends (internal/rpcclient dials with it, internal/rpcserver
// serves with it) so that they cannot drift apart: a stream of file data is
// only as fast as the smaller of the two sides' frames and windows.
package http2tuning

import "net/http"

// Frame size and flow-control windows for streams of file data. The
// defaults (16 KiB frames, 1 MiB windows) cap a loopback stream well below
// disk speed; 1 MiB frames and 4 MiB in flight per stream do not.
const (
	MaxFrameSize     = 1 << 20   // bytes
	StreamWindow     = 4<<20 - 1 // bytes; must be < 4 MiB
	ConnectionWindow = 4<<20 - 1 // bytes; must be < 4 MiB
)

// Config returns the HTTP/2 settings both ends use; each end adds its own
// (pings on the client, the stream limit on the server).
func Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxReadFrameSize:              MaxFrameSize,
		MaxReceiveBufferPerStream:     StreamWindow,
		MaxReceiveBufferPerConnection: ConnectionWindow,
	}
}
