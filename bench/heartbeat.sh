#!/usr/bin/env bash
# heartbeat.sh measures heartbeats end to end against the real directory
# (bin/peerhub directory, SQLite store): PEERS peer sessions, each logged in
# over REST with its own advertise address and peer name, heartbeat over
# gRPC (cleartext HTTP/2 on 127.0.0.1) from CONC concurrent callers spread
# over CONNS connections, request i carrying peer i mod PEERS's token. The
# load generator is ghz v0.93.0's runner (tools/ghz/manytokens: the ghz
# command line sends one token only). The baseline, in the same run with the
# same generator, connections and concurrency, is GetInfo: the cheapest call
# the directory serves (no token, no store), so the ratio is what a
# heartbeat costs over the trivial handler. Rounds alternate which runs
# first. CPU per request is the directory process's user+system time over
# the round divided by its requests; the generator shares the 2 cores.
#
# Goal (issue 12): >= 20 000 heartbeats/s (the median round). The script
# exits 1 when it is missed.
#
# Usage: bench/heartbeat.sh
#        BENCH_PEERS=256 BENCH_ROUNDS=3 BENCH_REQUESTS=100000 BENCH_CONCURRENCY=64 BENCH_CONNECTIONS=16 bench/heartbeat.sh
#        PEERHUB=/path/to/other/peerhub bench/heartbeat.sh   (e.g. a build of main, for before/after)
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS="${BENCH_PEERS:-256}"
ROUNDS="${BENCH_ROUNDS:-3}"
REQUESTS="${BENCH_REQUESTS:-100000}"
CONC="${BENCH_CONCURRENCY:-64}"
CONNS="${BENCH_CONNECTIONS:-16}"
GOAL=20000

if [ -z "${PEERHUB:-}" ]; then make -s build >/dev/null; fi
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
# shellcheck source=bench/lib/ghz.sh
. bench/lib/ghz.sh
net_workspace
(cd tools/ghz && go build -o "$WORK/manytokens" ./manytokens)

# The directory alone: the peers are sessions of this script. A long
# heartbeat interval keeps every session alive through the GetInfo rounds.
port=$(free_port)
DIR_URL="http://127.0.0.1:$port"
printf '%s\n' "$BENCH_PASSWORD" >"$WORK/password"
chmod 600 "$WORK/password"
"$PEERHUB" directory user add "$BENCH_USER" --data "$WORK/dir" <"$WORK/password" >/dev/null 2>&1
"$PEERHUB" directory --data "$WORK/dir" --listen "127.0.0.1:$port" --insecure-plaintext --heartbeat 5m \
	--max-account-sessions "$((PEERS + 8))" --log-level warn 2>"$WORK/directory.log" &
DIR_PID=$!
wait_healthy "$DIR_URL"

# login I: a peer session hb-I; prints its token.
login() {
	curl -sf -X POST "$DIR_URL/v1/login" -H 'Content-Type: application/json' \
		-d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\",\"advertise_address\":\"http://127.0.0.1:$((20000 + $1))\",\"peer_name\":\"hb-$1\"}" |
		jq -r .token
}
export -f login
export DIR_URL BENCH_USER BENCH_PASSWORD
seq 1 "$PEERS" | xargs -P 4 -I{} bash -c 'login {}' >"$WORK/tokens"
if [ "$(grep -c . "$WORK/tokens")" != "$PEERS" ]; then
	echo "bench: $(grep -c . "$WORK/tokens") of $PEERS peers logged in" >&2
	exit 2
fi
HOSTPORT=${DIR_URL#http://}
TICK=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DIR_PID/stat"; }

# run METHOD [TOKENS]: one round; appends to METHOD's rps, p99, cpu arrays.
run() {
	local method=$1 c0 c1 json args=()
	if [ -n "${2:-}" ]; then args=(-tokens "$2"); fi
	c0=$(cpu_ticks)
	json=$("$WORK/manytokens" -call "peerhub.directory.v1.DirectoryService/$method" "${args[@]}" \
		-c "$CONC" -connections "$CONNS" -n "$REQUESTS" "$HOSTPORT")
	c1=$(cpu_ticks)
	ghz_record "$method" "$round" "$(ghz_cpu_per_request "$c0" "$c1" "$json")" "$json"
}

GetInfo_rps=() GetInfo_p99=() GetInfo_cpu=()
Heartbeat_rps=() Heartbeat_p99=() Heartbeat_cpu=()
echo "heartbeat: $PEERS peer sessions, ghz v0.93.0 runner (tools/ghz/manytokens) gRPC c=$CONC over $CONNS connections, $REQUESTS requests per round, $ROUNDS rounds interleaved; baseline GetInfo; directory $PEERHUB"
echo "load average before: $(load_avg)"
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		run GetInfo
		run Heartbeat "$WORK/tokens"
	else
		run Heartbeat "$WORK/tokens"
		run GetInfo
	fi
done
g_rps=$(median "${GetInfo_rps[@]}") h_rps=$(median "${Heartbeat_rps[@]}")
g_cpu=$(median "${GetInfo_cpu[@]}") h_cpu=$(median "${Heartbeat_cpu[@]}")
printf 'median GetInfo:   %.0f req/s  p99 %.2f ms  CPU %.3f ms/req\n' "$g_rps" "$(median "${GetInfo_p99[@]}")" "$g_cpu"
printf 'median Heartbeat: %.0f req/s  p99 %.2f ms  CPU %.3f ms/req\n' "$h_rps" "$(median "${Heartbeat_p99[@]}")" "$h_cpu"
printf 'Heartbeat/GetInfo req/s: %.2f  CPU per request: %.2f\n' \
	"$(awk -v h="$h_rps" -v g="$g_rps" 'BEGIN { print h / g }')" "$(awk -v h="$h_cpu" -v g="$g_cpu" 'BEGIN { print h / g }')"
ok=$(awk -v v="$h_rps" -v l="$GOAL" 'BEGIN { print ((v >= l) ? "met" : "MISSED") }')
printf 'heartbeats/s: %.0f (goal >= %d): %s\n' "$h_rps" "$GOAL" "$ok"
echo "load average after: $(load_avg)"
[ "$ok" = met ]
