#!/usr/bin/env bash
# relay.sh measures `peerhub get` through the directory's relay against
# `peerhub get` directly from a peer, same machine, same run, rounds
# interleaved: p1 is reachable (--relay never) and shares one file; p2
# advertises an address nothing listens on (a peer behind NAT) and waits
# at the relay (--relay always), sharing another file of the same size.
# Everything serves TLS, as by default (NET_TLS=1 below): relayed, TLS
# runs end to end between `get` and p2 through the relay's splice.
# It prints each median and the ratio relay/direct of throughputs.
#
# Usage: bench/relay.sh                (100 MiB, 5 rounds)
#        BENCH_SIZE_MIB=256 BENCH_ROUNDS=3 bench/relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${BENCH_SIZE_MIB:-100}"
ROUNDS="${BENCH_ROUNDS:-5}"

make -s build >/dev/null
PEER_ARGS=(--relay never)
# TLS, as by default (bench/lib/net.sh serves cleartext without it).
NET_TLS=1
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
net_workspace
OUT="$WORK/out"
mkdir -p "$OUT"

DIRECT="direct-${SIZE_MIB}MiB.bin"
RELAYED="relayed-${SIZE_MIB}MiB.bin"
net_random_file "$DIRECT" "$SIZE_MIB" >/dev/null

net_start
# p2: behind "NAT": its advertise address has no listener.
NAT_PORT=$(free_port)
net_start_p2 "$RELAYED" "$SIZE_MIB" --advertise "https://127.0.0.1:$NAT_PORT" --relay always
net_wait_shared "$DIRECT"
net_wait_shared "$RELAYED"
for _ in $(seq 1 300); do
	if "$PEERHUB" peers | grep -q '^p2 .*relayed'; then break; fi
	sleep 0.1
done
"$PEERHUB" peers | grep -q '^p2 .*relayed' || { echo "bench: p2 is not listed as relayed" >&2; exit 1; }

# relayed_bytes prints the bytes the relay moved from peers so far.
relayed_bytes() {
	curl -sf --cacert "$DIR_CACERT" "$DIR_URL/metrics" |
		awk '/^peerhub_relay_bytes_total\{.*from_peer/ { n += $2 } END { printf "%.0f", n }'
}


# run NAME: one `peerhub get` of NAME into OUT; prints seconds.
run() {
	local t0 t1
	rm -f "$OUT/$1"
	t0=$(now)
	"$PEERHUB" get "$1" -o "$OUT" --force >/dev/null 2>&1
	t1=$(now)
	elapsed "$t0" "$t1"
}

direct=()
relayed=()
for r in $(seq 1 "$ROUNDS"); do
	direct+=("$(run "$DIRECT")")
	relayed+=("$(run "$RELAYED")")
	echo "round $r: direct ${direct[-1]} s, relayed ${relayed[-1]} s (load $(load_avg))"
done
# The relayed rounds really went through the relay: it moved at least the
# file's bytes per round from p2.
moved=$(relayed_bytes)
if [ "$moved" -lt $((ROUNDS * SIZE_MIB * 1024 * 1024)) ]; then
	echo "bench: the relay moved $moved bytes, less than the relayed files" >&2
	exit 1
fi
md=$(median "${direct[@]}")
mr=$(median "${relayed[@]}")
awk -v s="$SIZE_MIB" -v d="$md" -v r="$mr" 'BEGIN {
	printf "direct  %s MiB: median %.3f s, %.0f MiB/s\n", s, d, s / d
	printf "relayed %s MiB: median %.3f s, %.0f MiB/s\n", s, r, s / r
	printf "ratio relayed/direct throughput: %.2f\n", d / r
}'
