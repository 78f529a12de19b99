#!/bin/sh
# A harness, NOT the product: bench/peerrss is not the peer daemon and opens
# one stream per download. The product's number comes from bench/peer-rss.sh.
# peer_rss.sh measures the peak RSS (VmHWM in /proc/PID/status) of a peer
# process serving parallel downloads of one large file over loopback h2c,
# with bench/peerrss (see its doc comment). Arguments go to peerrss.
#
# Usage: bench/peer_rss.sh                      (4 × 1 GiB, fails above 32 MiB)
#        bench/peer_rss.sh -size 256MiB -parallel 8 -chunk 1MiB -max 64MiB
set -eu
cd "$(dirname "$0")/.."
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/peerrss" ./bench/peerrss
"$bin/peerrss" "$@"
