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
# the round divided by its requests; the generator shares the 2 cores, so
# its own CPU per request is printed too (gen CPU).
#
# A second, lighter generator follows (unless BENCH_H2LOAD=0): h2load
# (Debian's nghttp2-client, C), speaking the Connect protocol (POST
# application/proto; an error is an HTTP status other than 200, which
# h2load counts as failed, where a gRPC error would hide in a 200's
# trailers). h2load sends one header set per process, so the tokens come in
# groups: H2_GROUPS processes at once, process j carrying peer j's token
# over one connection with CONC/H2_GROUPS streams: H2_GROUPS peers over
# H2_GROUPS connections. Its lines are labelled h2load; the goal is judged
# on the ghz rounds (many tokens), the h2load ones show what the directory
# does when the generator costs less.
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
H2LOAD="${BENCH_H2LOAD:-1}"
H2_GROUPS="${BENCH_H2LOAD_GROUPS:-16}"
GOAL=20000

if [ -z "${PEERHUB:-}" ]; then make -s build >/dev/null; fi
# shellcheck source=bench/lib/net.sh
. bench/lib/net.sh
# shellcheck source=bench/lib/ghz.sh
. bench/lib/ghz.sh
net_workspace
(cd tools/ghz && go build -o "$WORK/manytokens" ./manytokens)
if [ "$H2LOAD" = 1 ] && ! command -v h2load >/dev/null; then
	echo "bench: h2load not found (apt-get install nghttp2-client), or BENCH_H2LOAD=0" >&2
	exit 2
fi

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

# gen_cpu SECONDS_BEFORE SECONDS_AFTER REQUESTS: the generator's CPU per
# request in ms.
gen_cpu() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }'; }

# run METHOD [TOKENS]: one ghz round; appends to METHOD's rps, p99, cpu and
# gen arrays.
run() {
	local method=$1 c0 c1 json g args=()
	if [ -n "${2:-}" ]; then args=(-tokens "$2"); fi
	c0=$(cpu_ticks)
	json=$("$WORK/manytokens" -call "peerhub.directory.v1.DirectoryService/$method" "${args[@]}" \
		-c "$CONC" -connections "$CONNS" -n "$REQUESTS" -cpu "$WORK/gen-cpu" "$HOSTPORT")
	c1=$(cpu_ticks)
	ghz_record "$method" "$round" "$(ghz_cpu_per_request "$c0" "$c1" "$json")" "$json"
	g=$(gen_cpu 0 "$(cat "$WORK/gen-cpu")" "$(jq -r .count <<<"$json")")
	printf '%-9s round %d: generator (ghz) CPU %s ms/req\n' "$method" "$round" "$g"
	eval "${method}_gen+=($g)"
}

# h2run METHOD: one h2load round (Connect protocol, H2_GROUPS processes of
# one connection each, process j with token j for Heartbeat); appends to
# METHOD's h2rps, h2cpu and h2gen arrays. Exits 2 if any request failed.
h2run() {
	local method=$1 c0 c1 t0 t1 out j per streams ok n gen rps cpu
	per=$((REQUESTS / H2_GROUPS)) streams=$(((CONC + H2_GROUPS - 1) / H2_GROUPS))
	out="$WORK/h2load-$method-$round"
	mkdir -p "$out"
	c0=$(cpu_ticks)
	t0=$(now)
	(
		for j in $(seq 1 "$H2_GROUPS"); do
			auth=()
			if [ "$method" = Heartbeat ]; then auth=(-H "authorization: Bearer $(sed -n "${j}p" "$WORK/tokens")"); fi
			h2load -n "$per" -c 1 -m "$streams" -H ':method: POST' "${auth[@]}" \
				-H 'content-type: application/proto' -H 'connect-protocol-version: 1' \
				"$DIR_URL/peerhub.directory.v1.DirectoryService/$method" >"$out/$j" 2>&1 &
		done
		wait
		# The children's user and system CPU, as "XmY.Zs XmY.Zs".
		times >"$out/times"
	)
	t1=$(now)
	c1=$(cpu_ticks)
	ok=$(awk '/^requests:/ { s += $8 } END { print s + 0 }' "$out"/[0-9]*)
	n=$((per * H2_GROUPS))
	if [ "$ok" != "$n" ]; then
		echo "bench: h2load $method: $ok of $n requests succeeded:" >&2
		grep -h -E '^(requests|status codes):' "$out"/[0-9]* | sort | uniq -c >&2
		exit 2
	fi
	gen=$(awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } } END { printf "%.3f", t * 1000 }' <(tail -n 1 "$out/times"))
	gen=$(awk -v t="$gen" -v n="$n" 'BEGIN { printf "%.3f", t / n }')
	rps=$(awk -v n="$n" -v d="$(elapsed "$t0" "$t1")" 'BEGIN { printf "%d", n / d }')
	cpu=$(awk -v d="$((c1 - c0))" -v t="$TICK" -v n="$n" 'BEGIN { printf "%.3f", d / t * 1000 / n }')
	printf 'h2load %-9s round %d: %6d req/s  directory CPU %s ms/req  generator (h2load) CPU %s ms/req  %d requests  load %s\n' \
		"$method" "$round" "$rps" "$cpu" "$gen" "$n" "$(load_avg)"
	eval "${method}_h2rps+=($rps); ${method}_h2cpu+=($cpu); ${method}_h2gen+=($gen)"
}

GetInfo_rps=() GetInfo_p99=() GetInfo_cpu=() GetInfo_gen=()
Heartbeat_rps=() Heartbeat_p99=() Heartbeat_cpu=() Heartbeat_gen=()
GetInfo_h2rps=() GetInfo_h2cpu=() GetInfo_h2gen=()
Heartbeat_h2rps=() Heartbeat_h2cpu=() Heartbeat_h2gen=()
echo "heartbeat: $PEERS peer sessions, ghz v0.93.0 runner (tools/ghz/manytokens) gRPC c=$CONC over $CONNS connections, $REQUESTS requests per round, $ROUNDS rounds interleaved; baseline GetInfo; directory $PEERHUB"
echo "load average before: $(load_avg)"
for round in $(seq 1 "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		run GetInfo
		run Heartbeat "$WORK/tokens"
		if [ "$H2LOAD" = 1 ]; then h2run GetInfo && h2run Heartbeat; fi
	else
		run Heartbeat "$WORK/tokens"
		run GetInfo
		if [ "$H2LOAD" = 1 ]; then h2run Heartbeat && h2run GetInfo; fi
	fi
done
g_rps=$(median "${GetInfo_rps[@]}") h_rps=$(median "${Heartbeat_rps[@]}")
g_cpu=$(median "${GetInfo_cpu[@]}") h_cpu=$(median "${Heartbeat_cpu[@]}")
printf 'median GetInfo:   %.0f req/s  p99 %.2f ms  CPU %.3f ms/req  generator (ghz) CPU %.3f ms/req\n' "$g_rps" "$(median "${GetInfo_p99[@]}")" "$g_cpu" "$(median "${GetInfo_gen[@]}")"
printf 'median Heartbeat: %.0f req/s  p99 %.2f ms  CPU %.3f ms/req  generator (ghz) CPU %.3f ms/req\n' "$h_rps" "$(median "${Heartbeat_p99[@]}")" "$h_cpu" "$(median "${Heartbeat_gen[@]}")"
if [ "$H2LOAD" = 1 ]; then
	for m in GetInfo Heartbeat; do
		eval "r=(\"\${${m}_h2rps[@]}\") c=(\"\${${m}_h2cpu[@]}\") g=(\"\${${m}_h2gen[@]}\")"
		# shellcheck disable=SC2154 # r, c and g are set by the eval
		printf 'median h2load %-9s %.0f req/s  CPU %.3f ms/req  generator (h2load) CPU %.3f ms/req  (%d peers over %d connections)\n' \
			"$m:" "$(median "${r[@]}")" "$(median "${c[@]}")" "$(median "${g[@]}")" "$H2_GROUPS" "$H2_GROUPS"
	done
fi
printf 'Heartbeat/GetInfo req/s: %.2f  CPU per request: %.2f\n' \
	"$(awk -v h="$h_rps" -v g="$g_rps" 'BEGIN { print h / g }')" "$(awk -v h="$h_cpu" -v g="$g_cpu" 'BEGIN { print h / g }')"
ok=$(awk -v v="$h_rps" -v l="$GOAL" 'BEGIN { print ((v >= l) ? "met" : "MISSED") }')
printf 'heartbeats/s: %.0f (goal >= %d): %s\n' "$h_rps" "$GOAL" "$ok"
echo "load average after: $(load_avg)"
[ "$ok" = met ]
