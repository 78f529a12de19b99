# Reading ghz's JSON report, for bench/directory.sh and bench/heartbeat.sh.
# Sourced after bench/lib/net.sh (load_avg).

# ghz_record METHOD ROUND CPU_MS JSON: prints the
# round's line (requests per second, p50 and p99 latency in ms, the
# directory's CPU per request in ms, the load average), exits 2 if any
# answer was not OK, and appends the round to the arrays METHOD_rps,
# METHOD_p50, METHOD_p99 and METHOD_cpu.
ghz_record() {
	local method=$1 round=$2 cpu=$3 json=$4 count errors rps p50 p99
	count=$(jq -r .count <<<"$json")
	errors=$(jq -r '[.statusCodeDistribution | to_entries[] | select(.key != "OK") | .value] | add // 0' <<<"$json")
	rps=$(jq -r '.rps | floor' <<<"$json")
	p50=$(jq -r '.latencyDistribution[] | select(.percentage == 50) | .latency / 1e6' <<<"$json")
	p99=$(jq -r '.latencyDistribution[] | select(.percentage == 99) | .latency / 1e6' <<<"$json")
	printf '%-9s round %d: %6d req/s  p50 %6.2f ms  p99 %6.2f ms  directory CPU %s ms/req  %d requests, %d not OK  load %s\n' \
		"$method" "$round" "$rps" "$p50" "$p99" "$cpu" "$count" "$errors" "$(load_avg)"
	if [ "$errors" != 0 ]; then
		echo "bench: $method answered $errors errors: $(jq -c .statusCodeDistribution <<<"$json") $(jq -c .errorDistribution <<<"$json")" >&2
		exit 2
	fi
	eval "${method}_rps+=($rps); ${method}_p50+=($p50); ${method}_p99+=($p99); ${method}_cpu+=($cpu)"
}

# ghz_cpu_per_request TICKS_BEFORE TICKS_AFTER JSON: the directory's CPU
# time per request in ms, from its CPU clock ticks around the round (TICK
# ticks per second) and the report's request count.
ghz_cpu_per_request() {
	awk -v d="$(($2 - $1))" -v t="$TICK" -v n="$(jq -r .count <<<"$3")" 'BEGIN { printf "%.3f", d / t * 1000 / n }'
}
