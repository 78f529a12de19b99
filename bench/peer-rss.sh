#!/usr/bin/env bash
# peer-rss.sh measures the peak RSS of the real serving peer daemon
# (bin/peerhub peer) while 4 real `peerhub get` processes download one
# 512 MiB file from it at once, over 127.0.0.1: VmHWM in /proc/PID/status.
# It prints the peak over the peer's whole life (indexing included) and the
# peak during the downloads alone (VmHWM reset through /proc/PID/clear_refs
# just before them, when allowed).
#
# Goal (issue 12): whole-life VmHWM <= 32 MiB; the script exits 1 when it is
# missed.
#
# Usage: bench/peer-rss.sh
#        BENCH_SIZE_MIB=1024 BENCH_PARALLEL=8 bench/peer-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${BENCH_SIZE_MIB:-512}"
PARALLEL="${BENCH_PARALLEL:-4}"
GOAL_KIB=$((32 * 1024))

make -s build >/dev/null
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
net_workspace

NAME="bench-${SIZE_MIB}MiB.bin"
SHA=$(net_random_file "$NAME" "$SIZE_MIB")

net_start
net_wait_shared "$NAME"

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$PEER_PID/status"; }
echo "serving peer peak RSS: $PARALLEL parallel peerhub get of ${SIZE_MIB} MiB, one real peer (pid $PEER_PID, $(cat "/proc/$PEER_PID/comm"))"
echo "load average before: $(load_avg)"
before=$(hwm)
echo "VmHWM after start and indexing: $((before / 1024)) MiB ($before KiB)"
reset=no
if echo 5 >"/proc/$PEER_PID/clear_refs" 2>/dev/null; then reset=yes; fi

pids=()
t0=$EPOCHREALTIME
for i in $(seq 1 "$PARALLEL"); do
	"$PEERHUB" get -o "$WORK/out$i" "$SHA" >/dev/null 2>"$WORK/get$i.err" &
	pids+=($!)
done
failed_gets=0
for i in "${!pids[@]}"; do
	if ! wait "${pids[$i]}"; then
		failed_gets=$((failed_gets + 1))
		echo "get $((i + 1)) failed: $(cat "$WORK/get$((i + 1)).err")" >&2
	fi
done
t1=$EPOCHREALTIME
during=$(hwm)
if [ "$reset" = yes ]; then
	echo "VmHWM during the gets (reset before them): $((during / 1024)) MiB ($during KiB)"
	peak=$((before > during ? before : during))
else
	peak=$during
fi
echo "VmHWM whole life: $((peak / 1024)) MiB ($peak KiB); $PARALLEL gets in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, $failed_gets failed"
echo "load average after: $(load_avg)"
if [ "$failed_gets" -gt 0 ]; then
	echo "MISSED: $failed_gets of $PARALLEL gets failed"
	exit 1
fi
if [ "$peak" -le "$GOAL_KIB" ]; then
	echo "goal <= 32 MiB: met"
else
	echo "goal <= 32 MiB: MISSED"
	exit 1
fi
