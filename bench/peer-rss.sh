#!/usr/bin/env bash
# peer-rss.sh measures the peak RSS of the real serving peer daemon
# (bin/peerhub peer) while 4 real `peerhub get` processes download one
# 512 MiB file from it at once, each logged in as its own user, over
# 127.0.0.1: VmHWM in /proc/PID/status.
# It prints the peak over the peer's whole life (indexing included) and the
# peak during the downloads alone (VmHWM reset through /proc/PID/clear_refs
# just before them, when allowed).
#
# VmHWM counts the executable's own mapped pages (RssFile, ~22 MiB of the
# 34 MiB binary once it has started) as well as what the Go runtime
# allocates (RssAnon), so the script also samples both every 50 ms during
# the gets and prints their peaks apart.
#
# Goal (issue 12): whole-life VmHWM <= 32 MiB; the script exits 1 when it is
# missed.
#
# BENCH_REPEAT_SECONDS=600 runs rounds of the parallel gets back to back for
# that long and prints VmRSS and RssAnon after each round, to see whether a
# long-lived peer's memory grows.
#
# Usage: bench/peer-rss.sh
#        BENCH_SIZE_MIB=1024 BENCH_PARALLEL=8 bench/peer-rss.sh
#        BENCH_PEER_ARGS="--memory-limit 0" bench/peer-rss.sh (extra peer flags)
#        PEERHUB=/path/to/other/peerhub bench/peer-rss.sh (skips make build)
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${BENCH_SIZE_MIB:-512}"
PARALLEL="${BENCH_PARALLEL:-4}"
REPEAT_SECONDS="${BENCH_REPEAT_SECONDS:-0}"
GOAL_KIB=$((32 * 1024))

if [ -z "${PEERHUB:-}" ]; then make -s build >/dev/null; fi
# shellcheck disable=SC2206 # word splitting of the flags is meant
PEER_ARGS=(${BENCH_PEER_ARGS:-})
# TLS, as the peer serves by default: what users run.
NET_TLS=1
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
net_workspace

NAME="bench-${SIZE_MIB}MiB.bin"
SHA=$(net_random_file "$NAME" "$SIZE_MIB")

net_start
net_wait_shared "$NAME"
# One account per get, as PARALLEL users would be: one account may have
# DefaultMaxPerAccount (4) transfers at the peer; each get opens one
# (two before DefaultPiecesPerRequest became 4).
for i in $(seq 1 "$PARALLEL"); do
	"$PEERHUB" directory user add "bench$i" --data "$WORK/dir" <"$WORK/password" >/dev/null 2>&1
	PEERHUB_CONFIG_DIR="$WORK/config$i" "$PEERHUB" login --user "bench$i" --password-file "$WORK/password" >/dev/null
done

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$PEER_PID/status"; }
# status_kib FIELD prints the peer's /proc status FIELD in KiB.
status_kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$PEER_PID/status"; }
# sample_rss writes, until killed, the peak RssAnon and RssFile seen every
# 50 ms to $WORK/rss-peak ("ANON FILE", KiB).
sample_rss() {
	local a f pa=0 pf=0
	while :; do
		a=$(status_kib RssAnon) f=$(status_kib RssFile)
		if [ "$a" -gt "$pa" ]; then pa=$a; fi
		if [ "$f" -gt "$pf" ]; then pf=$f; fi
		echo "$pa $pf" >"$WORK/rss-peak"
		sleep 0.05
	done
}
# cpu_ticks prints the peer's user and system CPU time in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PEER_PID/stat"; }
# gets runs PARALLEL gets at once and counts the failures in failed_gets.
gets() {
	local i pids=()
	for i in $(seq 1 "$PARALLEL"); do
		rm -rf "$WORK/out$i"
		PEERHUB_CONFIG_DIR="$WORK/config$i" "$PEERHUB" get -o "$WORK/out$i" "$SHA" >/dev/null 2>"$WORK/get$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		if ! wait "${pids[$i]}"; then
			failed_gets=$((failed_gets + 1))
			echo "get $((i + 1)) failed: $(cat "$WORK/get$((i + 1)).err")" >&2
		fi
	done
}
echo "serving peer peak RSS: $PARALLEL parallel peerhub get of ${SIZE_MIB} MiB, one real peer (pid $PEER_PID, $(cat "/proc/$PEER_PID/comm"), flags: ${PEER_ARGS[*]:-default})"
echo "load average before: $(load_avg)"
before=$(hwm)
echo "VmHWM after start and indexing: $((before / 1024)) MiB ($before KiB)"
reset=no
if echo 5 >"/proc/$PEER_PID/clear_refs" 2>/dev/null; then reset=yes; fi

echo "RSS after start and indexing: anon $(($(status_kib RssAnon) / 1024)) MiB, file (the executable) $(($(status_kib RssFile) / 1024)) MiB"
sample_rss &
SAMPLER=$!
failed_gets=0
c0=$(cpu_ticks)
t0=$EPOCHREALTIME
gets
t1=$EPOCHREALTIME
c1=$(cpu_ticks)
during=$(hwm)
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null || true
read -r peak_anon peak_file <"$WORK/rss-peak"
echo "peak during the gets, sampled every 50 ms: RssAnon $((peak_anon / 1024)) MiB ($peak_anon KiB), RssFile $((peak_file / 1024)) MiB ($peak_file KiB)"
if [ "$reset" = yes ]; then
	echo "VmHWM during the gets (reset before them): $((during / 1024)) MiB ($during KiB)"
	peak=$((before > during ? before : during))
else
	peak=$during
fi
echo "VmHWM whole life: $((peak / 1024)) MiB ($peak KiB); $PARALLEL gets in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, $failed_gets failed; the peer's CPU: $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') s"
echo "load average after: $(load_avg)"
if [ "$REPEAT_SECONDS" -gt 0 ]; then
	echo "repeating the $PARALLEL gets for ${REPEAT_SECONDS} s: round, seconds since start, VmRSS MiB, RssAnon MiB, VmHWM MiB, load"
	start=$SECONDS
	round=1
	while [ $((SECONDS - start)) -lt "$REPEAT_SECONDS" ]; do
		gets
		round=$((round + 1))
		echo "round $round: $((SECONDS - start)) s, VmRSS $(($(status_kib VmRSS) / 1024)), RssAnon $(($(status_kib RssAnon) / 1024)), VmHWM $(($(hwm) / 1024)), load $(load_avg)"
	done
	peak=$((peak > $(hwm) ? peak : $(hwm)))
	echo "VmHWM over $round rounds: $((peak / 1024)) MiB ($peak KiB), $failed_gets gets failed"
fi
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
