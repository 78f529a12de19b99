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
#        BENCH_MEDIA=disk bench/get.sh        (one medium only: disk or tmpfs)
#        BENCH_BEFORE=/path/to/older/peerhub bench/get.sh
#            also times that binary's get in the same interleaved rounds (a
#            before/after comparison on one machine state; the goal is
#            judged on the built binary only)
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${BENCH_SIZE_MIB:-100}"
ROUNDS="${BENCH_ROUNDS:-5}"
DISK_PARENT="${BENCH_DISK:-$PWD/bench}"
SHM_PARENT=/dev/shm
BEFORE="${BENCH_BEFORE:-}"
MEDIA="${BENCH_MEDIA:-disk tmpfs}"

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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Each timed command runs under bash's `time`, which reports the wall time
# and the CPU time (user + system) of every process it waited for: the
# client side only (curl and openssl, or peerhub get), never the serving
# peer. CPU time is what a loaded machine distorts least.
TIMEFORMAT='%R %U %S'
# timed FILE CMD...: runs CMD, writing "wall cpu" (seconds) to FILE.
timed() {
	local f=$1 r u s rc=0
	shift
	{ time "$@"; } 2>"$f.raw" || rc=$?
	read -r r u s < <(tail -n 1 "$f.raw")
	awk -v r="$r" -v u="$u" -v s="$s" 'BEGIN { printf "%.3f %.3f\n", r, u + s }' >"$f"
	return "$rc"
}

# run_curl OUT: one round of the baseline (it writes nothing to OUT).
run_curl() {
	local l got
	l=$(link)
	pipeline() { curl -s "$l" | openssl sha256 -r | cut -d' ' -f1 >"$WORK/curl.sum"; }
	timed "$WORK/curl.time" pipeline
	got=$(cat "$WORK/curl.sum")
	[ "$got" = "$SHA" ] || { echo "bench: curl got sha256 $got, want $SHA" >&2; exit 2; }
	read -r w c <"$WORK/curl.time"
	curl_times+=("$w")
	curl_cpu+=("$c")
}

# get_once BIN OUT: one `BIN get` into OUT, from scratch; prints "wall cpu".
get_once() {
	rm -f "$2/$NAME"
	one() { "$1" get -o "$2" "$SHA" >/dev/null 2>"$WORK/get.err"; }
	timed "$WORK/get.time" one "$1" "$2" || { cat "$WORK/get.err" >&2; exit 2; }
	[ "$(stat -c %s "$2/$NAME")" = "$((SIZE_MIB * 1024 * 1024))" ] || { echo "bench: get wrote a wrong size" >&2; exit 2; }
	rm -f "$2/$NAME"
	cat "$WORK/get.time"
}

# run_get OUT: one round of peerhub get into OUT.
run_get() {
	local w c
	read -r w c < <(get_once "$PEERHUB" "$1")
	get_times+=("$w")
	get_cpu+=("$c")
}

# run_before OUT: one round of the older binary's get, if one was given.
run_before() {
	local w c
	if [ -n "$BEFORE" ]; then
		read -r w c < <(get_once "$BEFORE" "$1")
		before_times+=("$w")
		before_cpu+=("$c")
	fi
}

echo "peerhub get vs curl -s LINK | openssl sha256: ${SIZE_MIB} MiB, one source, $ROUNDS rounds interleaved"
echo "load average before: $(load_avg)"
failed=0
for medium in $MEDIA; do
	if [ "$medium" = disk ]; then out="$DISK_OUT"; else out="$SHM_OUT"; fi
	get_times=() get_cpu=() curl_times=() curl_cpu=() before_times=() before_cpu=()
	for round in $(seq 1 "$ROUNDS"); do
		# Alternate which goes first, so neither always runs on a warmer cache.
		if [ $((round % 2)) = 1 ]; then run_curl "$out"; run_get "$out"; run_before "$out"; else run_before "$out"; run_get "$out"; run_curl "$out"; fi
		extra=""
		if [ -n "$BEFORE" ]; then extra="  before ${before_times[-1]}s (cpu ${before_cpu[-1]}s)"; fi
		printf '%-5s round %d: curl|openssl %ss (cpu %ss)  peerhub get %ss (cpu %ss)%s  load %s\n' \
			"$medium" "$round" "${curl_times[-1]}" "${curl_cpu[-1]}" "${get_times[-1]}" "${get_cpu[-1]}" "$extra" "$(load_avg)"
	done
	mcc=$(median "${curl_cpu[@]}")
	mgc=$(median "${get_cpu[@]}")
	printf '%-5s median cpu: curl|openssl %ss  peerhub get %ss  ratio curl/get %s\n' "$medium" "$mcc" "$mgc" "$(ratio "$mcc" "$mgc")"
	if [ -n "$BEFORE" ]; then
		mb=$(median "${before_times[@]}")
		mbc=$(median "${before_cpu[@]}")
		printf '%-5s median of the older binary (%s): %ss, cpu %ss  ratio curl/before %s, cpu %s\n' "$medium" "$BEFORE" "$mb" "$mbc" \
			"$(ratio "$(median "${curl_times[@]}")" "$mb")" "$(ratio "$mcc" "$mbc")"
	fi
	mc=$(median "${curl_times[@]}")
	mg=$(median "${get_times[@]}")
	ratio=$(ratio "$mc" "$mg")
	met=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "met" : "MISSED" }')
	printf '%-5s median: curl|openssl %ss  peerhub get %ss  ratio curl/get %s (goal >= 1.0: %s)  load %s\n' \
		"$medium" "$mc" "$mg" "$ratio" "$met" "$(load_avg)"
	[ "$met" = met ] || failed=1
done
exit "$failed"
