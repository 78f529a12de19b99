#!/usr/bin/env bash
# directory.sh measures the real directory (bin/peerhub directory) with the
# outside load generator ghz (v0.93.0, pinned in tools/ghz/go.mod: its own
# module, because it needs an older google.golang.org/grpc than the other
# tools): authenticated Search against GetInfo, gRPC over cleartext HTTP/2
# on 127.0.0.1, one connection, c=32, a fixed number of requests per round
# (ghz -z cuts requests in flight at the end: "transport is closing"),
# rounds interleaved, with one real peer
# sharing 10 000 files. CPU per request is the directory process's user+
# system CPU time (/proc/PID/stat) over the round, divided by its requests.
#
# Each round also runs the REST API with ab (ApacheBench, Debian's
# apache2-utils: `apt-get install apache2-utils`; not installed by .ci/run,
# since bench/ is not part of `make test`): `GET /v1/search?query=...` with
# the session token against `GET /v1/info` (GetInfo over REST, the trivial
# handler: no token, no store) in the same round, ab -c10 with keep-alive
# (-k), AB_REQUESTS requests each.
#
# Goals (issue 12), on the medians: Search req/s >= 0.5 x GetInfo's; Search
# p99 <= 2 x GetInfo's; directory CPU per Search <= 2 x per GetInfo; REST
# search >= 10 000 req/s. The script exits 1 when one is missed.
#
# Usage: bench/directory.sh
#        BENCH_FILES=1000 BENCH_ROUNDS=3 BENCH_REQUESTS=20000 BENCH_CONCURRENCY=32 BENCH_AB_REQUESTS=20000 bench/directory.sh
#        PEERHUB=/path/to/other/peerhub bench/directory.sh   (e.g. a build of main, for before/after)
#        BENCH_PERF=/tmp/dir.perf bench/directory.sh   (also records the directory's CPU
#        profile with `perf record -g` over all rounds; read it with `perf report -i FILE`;
#        perf's own cost distorts the CPU columns, so do not quote those numbers)
set -euo pipefail
cd "$(dirname "$0")/.."

FILES="${BENCH_FILES:-10000}"
ROUNDS="${BENCH_ROUNDS:-3}"
REQUESTS="${BENCH_REQUESTS:-20000}"
CONC="${BENCH_CONCURRENCY:-32}"
AB_REQUESTS="${BENCH_AB_REQUESTS:-20000}"

if ! command -v ab >/dev/null; then
	echo "bench: ab not found: install Debian's apache2-utils (apt-get install apache2-utils)" >&2
	exit 2
fi
if [ -z "${PEERHUB:-}" ]; then make -s build >/dev/null; fi
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
# shellcheck source=bench/lib/ghz.sh
. bench/lib/ghz.sh
net_workspace

(cd tools/ghz && go build -o "$WORK/ghz" github.com/bojand/ghz/cmd/ghz)

for i in $(seq -w 1 "$FILES"); do printf 'file %s\n' "$i" >"$SHARE/song-$i.txt"; done
LAST="song-$(seq -w 1 "$FILES" | tail -1).txt"
QUERY="song-$(seq -w 1 "$FILES" | sed -n "$(((FILES + 1) / 2))p")"

net_start
net_wait_shared "$LAST"
SESSION=$(curl -sf -X POST "$DIR_URL/v1/login" -H 'Content-Type: application/json' \
	-d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}" | jq -r .token)
HOSTPORT=${DIR_URL#http://}
TICK=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DIR_PID/stat"; }

# run METHOD DATA: one ghz round; appends to METHOD's rps, p50, p99, cpu arrays.
run() {
	local method=$1 data=$2 c0 c1 json
	c0=$(cpu_ticks)
	json=$("$WORK/ghz" --insecure --call "peerhub.directory.v1.DirectoryService/$method" \
		-m "{\"authorization\":\"Bearer $SESSION\"}" -d "$data" \
		-c "$CONC" -n "$REQUESTS" --format json "$HOSTPORT")
	c1=$(cpu_ticks)
	ghz_record "$method" "$round" "$(ghz_cpu_per_request "$c0" "$c1" "$json")" "$json"
}

# rest NAME PATH [TOKEN]: one ab round of GET PATH; appends to NAME's rps,
# p99 and cpu arrays.
rest() {
	local name=$1 path=$2 c0 c1 out rps p99 failed non2xx cpu hdr=()
	if [ -n "${3:-}" ]; then hdr=(-H "Authorization: Bearer $3"); fi
	c0=$(cpu_ticks)
	out=$(ab -q -k -c 10 -n "$AB_REQUESTS" "${hdr[@]}" "$DIR_URL$path" 2>&1)
	c1=$(cpu_ticks)
	rps=$(awk '/^Requests per second:/ { printf "%d", $4 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
	non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
	cpu=$(awk -v d="$((c1 - c0))" -v t="$TICK" -v n="$AB_REQUESTS" 'BEGIN { printf "%.3f", d / t * 1000 / n }')
	printf '%-11s round %d: %6d req/s  p99 %4s ms  directory CPU %s ms/req  %d requests, %s failed, %s non-2xx  load %s\n' \
		"$name" "$round" "$rps" "$p99" "$cpu" "$AB_REQUESTS" "${failed:-?}" "${non2xx:-0}" "$(load_avg)"
	if [ -z "$rps" ] || [ "${failed:-1}" != 0 ] || [ -n "$non2xx" ]; then
		echo "bench: ab $path: $out" >&2
		exit 2
	fi
	eval "${name}_rps+=($rps); ${name}_p99+=($p99); ${name}_cpu+=($cpu)"
}

RESTInfo_rps=() RESTInfo_p99=() RESTInfo_cpu=()
RESTSearch_rps=() RESTSearch_p99=() RESTSearch_cpu=()
GetInfo_rps=() GetInfo_p50=() GetInfo_p99=() GetInfo_cpu=()
Search_rps=() Search_p50=() Search_p99=() Search_cpu=()
echo "directory: ghz v0.93.0 gRPC c=$CONC, $REQUESTS requests per round, $ROUNDS rounds interleaved; $FILES files indexed; Search query \"$QUERY\" (1 match) with a session token"
echo "REST: ab -k -c10, $AB_REQUESTS requests per round: GET /v1/search?query=$QUERY (session token) vs GET /v1/info; directory $PEERHUB"
echo "load average before: $(load_avg)"
if [ -n "${BENCH_PERF:-}" ]; then
	perf record -q -g -F 999 -o "$BENCH_PERF" -p "$DIR_PID" 2>/dev/null &
	PERF_PID=$!
fi
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		run GetInfo '{}'
		run Search "{\"query\":\"$QUERY\"}"
		rest RESTInfo /v1/info
		rest RESTSearch "/v1/search?query=$QUERY" "$SESSION"
	else
		rest RESTSearch "/v1/search?query=$QUERY" "$SESSION"
		rest RESTInfo /v1/info
		run Search "{\"query\":\"$QUERY\"}"
		run GetInfo '{}'
	fi
done
if [ -n "${BENCH_PERF:-}" ]; then
	kill -INT "$PERF_PID"
	wait "$PERF_PID" || true
fi
g_rps=$(median "${GetInfo_rps[@]}") s_rps=$(median "${Search_rps[@]}")
g_p99=$(median "${GetInfo_p99[@]}") s_p99=$(median "${Search_p99[@]}")
g_cpu=$(median "${GetInfo_cpu[@]}") s_cpu=$(median "${Search_cpu[@]}")
printf 'median GetInfo: %.0f req/s  p50 %.2f ms  p99 %.2f ms  CPU %.3f ms/req\n' "$g_rps" "$(median "${GetInfo_p50[@]}")" "$g_p99" "$g_cpu"
printf 'median Search:  %.0f req/s  p50 %.2f ms  p99 %.2f ms  CPU %.3f ms/req\n' "$s_rps" "$(median "${Search_p50[@]}")" "$s_p99" "$s_cpu"
r_rps=$(median "${RESTInfo_rps[@]}") rs_rps=$(median "${RESTSearch_rps[@]}")
printf 'median REST info:   %.0f req/s  p99 %s ms  CPU %.3f ms/req\n' "$r_rps" "$(median "${RESTInfo_p99[@]}")" "$(median "${RESTInfo_cpu[@]}")"
printf 'median REST search: %.0f req/s  p99 %s ms  CPU %.3f ms/req  (%.2f x REST info)\n' "$rs_rps" "$(median "${RESTSearch_p99[@]}")" "$(median "${RESTSearch_cpu[@]}")" \
	"$(awk -v s="$rs_rps" -v g="$r_rps" 'BEGIN { print s / g }')"
failed=0
check() { # check LABEL VALUE OP LIMIT
	local ok
	ok=$(awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { print (op == ">=" ? v >= l : v <= l) ? "met" : "MISSED" }')
	printf '%s: %s (goal %s %s): %s\n' "$1" "$2" "$3" "$4" "$ok"
	[ "$ok" = met ] || failed=1
}
check "Search/GetInfo req/s" "$(awk -v s="$s_rps" -v g="$g_rps" 'BEGIN { printf "%.2f", s / g }')" ">=" 0.5
check "Search/GetInfo p99" "$(awk -v s="$s_p99" -v g="$g_p99" 'BEGIN { printf "%.2f", s / g }')" "<=" 2
check "Search/GetInfo CPU per request" "$(awk -v s="$s_cpu" -v g="$g_cpu" 'BEGIN { printf "%.2f", s / g }')" "<=" 2
check "REST search req/s" "$rs_rps" ">=" 10000
echo "load average after: $(load_avg)"
exit "$failed"
