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
# Goals (issue 12), on the medians: Search req/s >= 0.5 x GetInfo's; Search
# p99 <= 2 x GetInfo's; directory CPU per Search <= 2 x per GetInfo. The
# script exits 1 when one is missed.
#
# Usage: bench/directory.sh
#        BENCH_FILES=1000 BENCH_ROUNDS=3 BENCH_REQUESTS=20000 BENCH_CONCURRENCY=32 bench/directory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

FILES="${BENCH_FILES:-10000}"
ROUNDS="${BENCH_ROUNDS:-3}"
REQUESTS="${BENCH_REQUESTS:-20000}"
CONC="${BENCH_CONCURRENCY:-32}"

make -s build >/dev/null
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
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
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run METHOD DATA: one ghz round; appends to METHOD's rps, p50, p99, cpu arrays.
run() {
	local method=$1 data=$2 c0 c1 json count errors rps p50 p99 cpu
	c0=$(cpu_ticks)
	json=$("$WORK/ghz" --insecure --call "peerhub.directory.v1.DirectoryService/$method" \
		-m "{\"authorization\":\"Bearer $SESSION\"}" -d "$data" \
		-c "$CONC" -n "$REQUESTS" --format json "$HOSTPORT")
	c1=$(cpu_ticks)
	count=$(jq -r .count <<<"$json")
	errors=$(jq -r '[.statusCodeDistribution | to_entries[] | select(.key != "OK") | .value] | add // 0' <<<"$json")
	rps=$(jq -r '.rps | floor' <<<"$json")
	p50=$(jq -r '.latencyDistribution[] | select(.percentage == 50) | .latency / 1e6' <<<"$json")
	p99=$(jq -r '.latencyDistribution[] | select(.percentage == 99) | .latency / 1e6' <<<"$json")
	cpu=$(awk -v d="$((c1 - c0))" -v t="$TICK" -v n="$count" 'BEGIN { printf "%.3f", d / t * 1000 / n }')
	printf '%-8s round %d: %6d req/s  p50 %6.2f ms  p99 %6.2f ms  directory CPU %s ms/req  %d requests, %d not OK  load %s\n' \
		"$method" "$round" "$rps" "$p50" "$p99" "$cpu" "$count" "$errors" "$(load_avg)"
	if [ "$errors" != 0 ]; then
		echo "bench: $method answered $errors errors: $(jq -c .statusCodeDistribution <<<"$json") $(jq -c .errorDistribution <<<"$json")" >&2
		exit 2
	fi
	eval "${method}_rps+=($rps); ${method}_p50+=($p50); ${method}_p99+=($p99); ${method}_cpu+=($cpu)"
}

GetInfo_rps=() GetInfo_p50=() GetInfo_p99=() GetInfo_cpu=()
Search_rps=() Search_p50=() Search_p99=() Search_cpu=()
echo "directory: ghz v0.93.0 gRPC c=$CONC, $REQUESTS requests per round, $ROUNDS rounds interleaved; $FILES files indexed; Search query \"$QUERY\" (1 match) with a session token"
echo "load average before: $(load_avg)"
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		run GetInfo '{}'
		run Search "{\"query\":\"$QUERY\"}"
	else
		run Search "{\"query\":\"$QUERY\"}"
		run GetInfo '{}'
	fi
done
g_rps=$(median "${GetInfo_rps[@]}") s_rps=$(median "${Search_rps[@]}")
g_p99=$(median "${GetInfo_p99[@]}") s_p99=$(median "${Search_p99[@]}")
g_cpu=$(median "${GetInfo_cpu[@]}") s_cpu=$(median "${Search_cpu[@]}")
printf 'median GetInfo: %.0f req/s  p50 %.2f ms  p99 %.2f ms  CPU %.3f ms/req\n' "$g_rps" "$(median "${GetInfo_p50[@]}")" "$g_p99" "$g_cpu"
printf 'median Search:  %.0f req/s  p50 %.2f ms  p99 %.2f ms  CPU %.3f ms/req\n' "$s_rps" "$(median "${Search_p50[@]}")" "$s_p99" "$s_cpu"
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
echo "load average after: $(load_avg)"
exit "$failed"
