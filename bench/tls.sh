#!/usr/bin/env bash
# tls.sh measures what TLS costs `peerhub get`: the same-size file from a
# peer serving TLS (the default; p1 of bench/lib/net.sh) and from a peer
# started with --insecure-plaintext (p2, h2c), same machine, same
# directory, same run, rounds interleaved. The directory serves TLS for
# both (its calls are a small part of a get). Each get is timed by bash's
# `time`: wall time, and the CPU time (user + system) of the get process,
# which a loaded machine distorts least. It prints each median and the
# ratios TLS/plaintext of throughput (wall) and of CPU time.
#
# Usage: bench/tls.sh                (100 MiB, 5 rounds)
#        BENCH_SIZE_MIB=256 BENCH_ROUNDS=3 bench/tls.sh
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

TLSFILE="tls-${SIZE_MIB}MiB.bin"
PLAINFILE="plain-${SIZE_MIB}MiB.bin"
net_random_file "$TLSFILE" "$SIZE_MIB" >/dev/null

net_start
net_start_p2 "$PLAINFILE" "$SIZE_MIB" --insecure-plaintext --relay never
net_wait_shared "$TLSFILE"
net_wait_shared "$PLAINFILE"
# What is measured is what the names say: p1 at https://, p2 at http://.
peers=$("$PEERHUB" peers)
grep -q '^p1 .*https://' <<<"$peers" && grep -q '^p2 .*http://' <<<"$peers" ||
	{ echo "bench: want p1 at https:// and p2 at http://:" >&2; echo "$peers" >&2; exit 1; }


TIMEFORMAT='%R %U %S'
# run NAME: one `peerhub get` of NAME into OUT; prints "wall cpu" seconds.
run() {
	local r u s
	rm -f "$OUT/$1"
	{ time "$PEERHUB" get "$1" -o "$OUT" --force >/dev/null 2>&1; } 2>"$WORK/time"
	read -r r u s <"$WORK/time"
	awk -v r="$r" -v u="$u" -v s="$s" 'BEGIN { printf "%.3f %.3f", r, u + s }'
}

tw=() tc=() pw=() pc=()
for i in $(seq 1 "$ROUNDS"); do
	read -r w c <<<"$(run "$TLSFILE")"
	tw+=("$w") tc+=("$c")
	read -r w c <<<"$(run "$PLAINFILE")"
	pw+=("$w") pc+=("$c")
	echo "round $i: tls ${tw[-1]} s (cpu ${tc[-1]} s), plaintext ${pw[-1]} s (cpu ${pc[-1]} s) (load $(load_avg))"
done
awk -v s="$SIZE_MIB" -v tw="$(median "${tw[@]}")" -v tc="$(median "${tc[@]}")" \
	-v pw="$(median "${pw[@]}")" -v pc="$(median "${pc[@]}")" 'BEGIN {
	printf "tls       %s MiB: median %.3f s, %.0f MiB/s, cpu %.3f s\n", s, tw, s / tw, tc
	printf "plaintext %s MiB: median %.3f s, %.0f MiB/s, cpu %.3f s\n", s, pw, s / pw, pc
	printf "ratio tls/plaintext throughput: %.2f\n", pw / tw
	printf "ratio tls/plaintext cpu time of get: %.2f\n", tc / pc
}'
