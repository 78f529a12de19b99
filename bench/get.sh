#!/usr/bin/env bash
# get.sh measures `peerhub get` of one file from one real peer, whole
# process, against the outside baseline `curl -s LINK | openssl sha256`
# (LINK: the peer's plain HTTP download link from IssueToken with sha256),
# rounds interleaved, with the output on /work's disk and on tmpfs
# (/dev/shm). It builds bin/peerhub, runs a real directory and peer on
# 127.0.0.1 and logs in once (`peerhub login`), so no get checks a password.
#
# Goal (issue 12): median(curl) / median(get) >= 1.0 on each medium; the
# script exits 1 when it is missed.
#
# Usage: bench/get.sh                 (100 MiB, 5 rounds)
#        BENCH_SIZE_MIB=1024 BENCH_ROUNDS=3 bench/get.sh
#        BENCH_DISK=/some/dir bench/get.sh   (the "disk" output folder's parent)
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${BENCH_SIZE_MIB:-100}"
ROUNDS="${BENCH_ROUNDS:-5}"
DISK_PARENT="${BENCH_DISK:-$PWD/bench}"
SHM_PARENT=/dev/shm

make -s build >/dev/null
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
net_workspace
DISK_OUT=$(mktemp -d "$DISK_PARENT/.get-out.XXXXXX")
NET_CLEANUP+=("$DISK_OUT")
SHM_OUT=$(mktemp -d "$SHM_PARENT/peerhub-get-out.XXXXXX")
NET_CLEANUP+=("$SHM_OUT")

NAME="bench-${SIZE_MIB}MiB.bin"
SHA=$(net_random_file "$NAME" "$SIZE_MIB")

net_start
net_wait_shared "$NAME"

# A client session for IssueToken, over REST (the bcrypt check happens here,
# once, outside every measurement).
SESSION=$(curl -sf -X POST "$DIR_URL/v1/login" -H 'Content-Type: application/json' \
	-d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}" | jq -r .token)

# link prints a fresh download link for the file (5 minutes valid).
link() {
	curl -sf -X POST "$DIR_URL/v1/tokens" -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $SESSION" \
		-d "{\"scope\":\"TOKEN_SCOPE_DOWNLOAD\",\"peer\":\"p1\",\"sha256\":\"$SHA\",\"name\":\"$NAME\"}" |
		jq -r .link
}

# now prints the wall clock in seconds.
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_curl OUT: one round of the baseline (it writes nothing to OUT).
run_curl() {
	local l t0 t1 got
	l=$(link)
	t0=$(now)
	got=$(curl -s "$l" | openssl sha256 -r | cut -d' ' -f1)
	t1=$(now)
	[ "$got" = "$SHA" ] || { echo "bench: curl got sha256 $got, want $SHA" >&2; exit 2; }
	curl_times+=("$(elapsed "$t0" "$t1")")
}

# run_get OUT: one round of peerhub get into OUT, from scratch.
run_get() {
	local t0 t1
	rm -f "$1/$NAME"
	t0=$(now)
	"$PEERHUB" get -o "$1" "$SHA" >/dev/null 2>"$WORK/get.err" || { cat "$WORK/get.err" >&2; exit 2; }
	t1=$(now)
	get_times+=("$(elapsed "$t0" "$t1")")
	[ "$(stat -c %s "$1/$NAME")" = "$((SIZE_MIB * 1024 * 1024))" ] || { echo "bench: get wrote a wrong size" >&2; exit 2; }
}

echo "peerhub get vs curl -s LINK | openssl sha256: ${SIZE_MIB} MiB, one source, $ROUNDS rounds interleaved"
echo "load average before: $(load_avg)"
failed=0
for medium in disk tmpfs; do
	if [ "$medium" = disk ]; then out="$DISK_OUT"; else out="$SHM_OUT"; fi
	get_times=()
	curl_times=()
	for round in $(seq 1 "$ROUNDS"); do
		# Alternate which goes first, so neither always runs on a warmer cache.
		if [ $((round % 2)) = 1 ]; then run_curl "$out"; run_get "$out"; else run_get "$out"; run_curl "$out"; fi
		printf '%-5s round %d: curl|openssl %ss  peerhub get %ss  load %s\n' \
			"$medium" "$round" "${curl_times[-1]}" "${get_times[-1]}" "$(load_avg)"
	done
	mc=$(median "${curl_times[@]}")
	mg=$(median "${get_times[@]}")
	ratio=$(awk -v c="$mc" -v g="$mg" 'BEGIN { printf "%.2f", c / g }')
	met=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "met" : "MISSED" }')
	printf '%-5s median: curl|openssl %ss  peerhub get %ss  ratio curl/get %s (goal >= 1.0: %s)  load %s\n' \
		"$medium" "$mc" "$mg" "$ratio" "$met" "$(load_avg)"
	[ "$met" = met ] || failed=1
done
exit "$failed"
