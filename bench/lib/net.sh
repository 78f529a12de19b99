# shellcheck shell=bash
# net.sh starts a real directory and one real peer from bin/peerhub on
# 127.0.0.1, for the bench/ scripts, both in cleartext HTTP/2
# (--insecure-plaintext: the load generators dial h2c, and the numbers stay
# comparable with those measured before TLS became the default). Source it, then call net_workspace,
# which sets:
#   WORK      a mktemp -d folder, removed at exit with everything in
#             NET_CLEANUP (an array the script may append paths to)
#   SHARE     the folder the peer shares (created)
# PEER_ARGS (an optional array set before sourcing) adds flags to
# `peerhub peer`. NET_TLS=1 (set before sourcing) serves TLS instead, as
# directory and peer do by default (bench/peer-rss.sh measures what users
# run); then DIR_URL is https:// without its pin, DIR_PIN its pin (for
# peerhub's URL#PIN form, which PEERHUB_DIRECTORY and the peer get) and
# DIR_CACERT its certificate (curl --cacert). It sets DIR_URL, PEER_URL, DIR_PID, PEER_PID, BENCH_USER,
# BENCH_PASSWORD and PEERHUB_CONFIG_DIR (the stored login of `peerhub
# login`), and defines net_workspace, net_random_file NAME MIB, net_start,
# net_wait_shared NAME, net_stop and load_avg.

PEERHUB="${PEERHUB:-$PWD/bin/peerhub}"
if [ -z "${PEER_ARGS+x}" ]; then PEER_ARGS=(); fi
BENCH_USER=bench
BENCH_PASSWORD=bench-password-$$

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# load_avg prints the 1, 5 and 15 minute load averages.
load_avg() {
	cut -d' ' -f1-3 /proc/loadavg
}

# median VALUE...: the median of the values (the mean of the middle two,
# to 3 decimals, for an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# now prints the wall clock in seconds (bash's EPOCHREALTIME); elapsed
# T0 T1 prints the seconds from T0 to T1, to the millisecond.
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# wait_healthy URL [CACERT]: until `peerhub health` answers, 30 s at most;
# over TLS it trusts the server's certificate file CACERT (which the server
# writes as it starts).
wait_healthy() {
	local _
	for _ in $(seq 1 300); do
		if [ -z "${2:-}" ] && "$PEERHUB" health "$1" >/dev/null 2>&1; then return 0; fi
		if [ -n "${2:-}" ] && [ -f "$2" ] && "$PEERHUB" health --cacert "$2" "$1" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "bench: $1 not healthy after 30 s" >&2
	return 1
}

net_start() {
	local dport pport scheme=http plain=(--insecure-plaintext) dcert='' pcert='' dir
	dport=$(free_port)
	pport=$(free_port)
	if [ "${NET_TLS:-}" = 1 ]; then
		scheme=https plain=() dcert="$WORK/dir/tls-cert.pem" pcert="$SHARE/.peerhub/tls/tls-cert.pem"
	fi
	DIR_URL="$scheme://127.0.0.1:$dport"
	PEER_URL="$scheme://127.0.0.1:$pport"
	printf '%s\n' "$BENCH_PASSWORD" >"$WORK/password"
	chmod 600 "$WORK/password"
	"$PEERHUB" directory user add "$BENCH_USER" --data "$WORK/dir" <"$WORK/password" >/dev/null 2>&1
	"$PEERHUB" directory --data "$WORK/dir" --listen "127.0.0.1:$dport" "${plain[@]}" \
		--log-level warn 2>"$WORK/directory.log" &
	DIR_PID=$!
	wait_healthy "$DIR_URL" "$dcert"
	dir="$DIR_URL"
	if [ -n "$dcert" ]; then
		DIR_CACERT="$dcert"
		DIR_PIN=$("$PEERHUB" directory pin --data "$WORK/dir")
		dir="$DIR_URL#$DIR_PIN"
	fi
	"$PEERHUB" peer --share "$SHARE" --user "$BENCH_USER" --name p1 \
		--password-file "$WORK/password" --directory "$dir" \
		--listen "127.0.0.1:$pport" "${plain[@]}" --log-level warn "${PEER_ARGS[@]}" 2>"$WORK/peer.log" &
	PEER_PID=$!
	wait_healthy "$PEER_URL" "$pcert"
	export PEERHUB_CONFIG_DIR="$WORK/config"
	export PEERHUB_DIRECTORY="$dir"
	unset PEERHUB_PASSWORD
	"$PEERHUB" login --user "$BENCH_USER" --password-file "$WORK/password" >/dev/null
}

# net_wait_shared NAME: until the directory lists NAME (the peer hashed and
# published it), 10 minutes at most.
net_wait_shared() {
	local _
	for _ in $(seq 1 6000); do
		if "$PEERHUB" search "$1" 2>/dev/null | grep -q "^$1 "; then return 0; fi
		sleep 0.1
	done
	echo "bench: $1 not published after 10 minutes" >&2
	return 1
}

NET_CLEANUP=()

# net_cleanup stops the network and removes WORK and NET_CLEANUP; the EXIT
# trap of net_workspace calls it.
# shellcheck disable=SC2317 # called by the EXIT trap
net_cleanup() {
	net_stop
	rm -rf "${WORK:-}" "${NET_CLEANUP[@]}"
}

# net_workspace makes WORK and SHARE and removes them (and NET_CLEANUP)
# when the script exits, however it exits.
net_workspace() {
	WORK=''
	trap net_cleanup EXIT
	WORK=$(mktemp -d)
	SHARE="$WORK/share"
	mkdir -p "$SHARE"
}

# net_random_file NAME MIB writes MIB MiB of random bytes to SHARE/NAME and
# prints their SHA-256.
net_random_file() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$SHARE/$1"
	openssl sha256 -r "$SHARE/$1" | cut -d' ' -f1
}

# net_start_p2 NAME MIB ARGS...: a second peer, p2, of the same account,
# sharing WORK/share2 where it writes NAME, MIB MiB of random bytes; it
# listens on a free port (P2_PORT) and takes ARGS after the common ones;
# net_stop stops it. Call after net_start.
net_start_p2() {
	local name=$1 mib=$2
	shift 2
	mkdir -p "$WORK/share2"
	head -c "$((mib * 1024 * 1024))" /dev/urandom >"$WORK/share2/$name"
	P2_PORT=$(free_port)
	"$PEERHUB" peer --share "$WORK/share2" --user "$BENCH_USER" --name p2 \
		--password-file "$WORK/password" --directory "$PEERHUB_DIRECTORY" \
		--listen "127.0.0.1:$P2_PORT" --log-level warn "$@" 2>"$WORK/peer2.log" &
	P2_PID=$!
}

net_stop() {
	if [ -n "${P2_PID:-}" ]; then kill "$P2_PID" 2>/dev/null || true; wait "$P2_PID" 2>/dev/null || true; fi
	if [ -n "${PEER_PID:-}" ]; then kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; fi
	if [ -n "${DIR_PID:-}" ]; then kill "$DIR_PID" 2>/dev/null || true; wait "$DIR_PID" 2>/dev/null || true; fi
	P2_PID=
	PEER_PID=
	DIR_PID=
}
