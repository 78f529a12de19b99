#!/usr/bin/env bash
# getmany.sh measures one `peerhub get --folder` of many files against the
# baseline of getting them one `peerhub get` process at a time (what a
# script did before get took several files), with --parallel 1, the
# default (3) and 8, rounds interleaved. One real directory and peer on
# 127.0.0.1 (bench/lib/net.sh); `peerhub login` ran once, so no get checks
# a password; the output folder is on /dev/shm.
#
# Goal (issue 14): median(one get per file) / median(get --folder) >= 1.0
# with the default --parallel; the script exits 1 when it is missed.
#
# Usage: bench/getmany.sh                       (50 files of 1 MiB, 3 rounds)
#        BENCH_FILES=200 BENCH_FILE_KIB=64 BENCH_ROUNDS=5 bench/getmany.sh
set -euo pipefail
cd "$(dirname "$0")/.."

FILES="${BENCH_FILES:-50}"
FILE_KIB="${BENCH_FILE_KIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-3}"

make -s build >/dev/null
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
net_workspace
OUT=$(mktemp -d /dev/shm/peerhub-getmany.XXXXXX)
NET_CLEANUP+=("$OUT")

mkdir -p "$SHARE/set/a" "$SHARE/set/b"
names=()
for i in $(seq 1 "$FILES"); do
	sub=a
	if [ $((i % 2)) = 0 ]; then sub=b; fi
	name="set/$sub/f$i.bin"
	head -c "$((FILE_KIB * 1024))" /dev/urandom >"$SHARE/$name"
	names+=("$(openssl sha256 -r "$SHARE/$name" | cut -d' ' -f1)")
done

net_start
last="set/b/f$FILES.bin"
if [ $((FILES % 2)) = 1 ]; then last="set/a/f$FILES.bin"; fi
net_wait_shared "$last"


# check: every file is in OUT, with its size.
check() {
	local n
	n=$(find "$OUT" -type f -size "$((FILE_KIB))k" | wc -l)
	[ "$n" = "$FILES" ] || { echo "bench: $n files in $OUT, want $FILES" >&2; exit 2; }
}

# one_by_one: the baseline, one get process per file (by SHA-256).
one_by_one() {
	local t0 t1 sha
	rm -rf "${OUT:?}"/*
	t0=$(now)
	for sha in "${names[@]}"; do
		"$PEERHUB" get -o "$OUT/set" "$sha" >/dev/null 2>"$WORK/get.err" || { cat "$WORK/get.err" >&2; exit 2; }
	done
	t1=$(now)
	check
	base_times+=("$(elapsed "$t0" "$t1")")
}

# folder N: one get --folder --parallel N.
folder() {
	local t0 t1
	rm -rf "${OUT:?}"/*
	t0=$(now)
	"$PEERHUB" get -o "$OUT" --folder p1:set --parallel "$1" >/dev/null 2>"$WORK/get.err" || { cat "$WORK/get.err" >&2; exit 2; }
	t1=$(now)
	check
	eval "p$1_times+=(\"$(elapsed "$t0" "$t1")\")"
}

echo "one get per file vs get --folder: $FILES files of $FILE_KIB KiB, one source, $ROUNDS rounds interleaved"
echo "load average before: $(load_avg)"
base_times=()
p1_times=()
p3_times=()
p8_times=()
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then one_by_one; folder 1; folder 3; folder 8; else folder 8; folder 3; folder 1; one_by_one; fi
	printf 'round %d: one by one %ss  --parallel 1 %ss  3 %ss  8 %ss  load %s\n' "$round" \
		"${base_times[-1]}" "${p1_times[-1]}" "${p3_times[-1]}" "${p8_times[-1]}" "$(load_avg)"
done
mb=$(median "${base_times[@]}")
failed=0
for p in 1 3 8; do
	eval "m=\$(median \"\${p${p}_times[@]}\")"
	ratio=$(awk -v b="$mb" -v g="$m" 'BEGIN { printf "%.2f", b / g }')
	goal=""
	if [ "$p" = 3 ]; then
		goal=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "(goal >= 1.0: met)" : "(goal >= 1.0: MISSED)" }')
		case "$goal" in *MISSED*) failed=1 ;; esac
	fi
	printf 'median: one by one %ss  get --folder --parallel %d %ss  ratio %s %s  load %s\n' "$mb" "$p" "$m" "$ratio" "$goal" "$(load_avg)"
done
exit "$failed"
