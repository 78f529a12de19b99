# shellcheck shell=bash
# Sourced (not run) by .ci/run, and by `make test-postgres`: gives the tests a
# throwaway PostgreSQL and exports its URL as PEERHUB_TEST_POSTGRES.
#
#   - installs PostgreSQL from Debian's packages if no initdb is found;
#   - creates a cluster in a new temporary directory (trust auth: it listens
#     on 127.0.0.1 only, on a free port, with its unix socket in that
#     directory, and lives only as long as the sourcing shell);
#   - creates the database peerhub_test, in which the tests create (and
#     drop) one database each;
#   - stops the cluster and deletes the directory when the shell exits
#     (an EXIT trap: a script that sources this and needs its own EXIT trap
#     must call peerhub_pg_stop from it).
#
# Durability is off (fsync, full_page_writes, synchronous_commit): the data
# is thrown away, and tests run faster. Set PEERHUB_PG_DURABLE=1 to keep the
# server's defaults, e.g. for benchmarks (docs/SCALING.md).

peerhub_pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d && -x $d/initdb ]] && echo "$d"
}

# peerhub_pg_as runs a command as the cluster's owner: initdb and postgres
# refuse to run as root, so root uses the "postgres" user of the Debian
# packages; anyone else owns the cluster themselves.
peerhub_pg_as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

peerhub_pg_stop() {
	if [[ -n ${PEERHUB_PG_DIR:-} && -d $PEERHUB_PG_DIR ]]; then
		peerhub_pg_as "$PEERHUB_PG_BIN/pg_ctl" -D "$PEERHUB_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$PEERHUB_PG_DIR"
	fi
	PEERHUB_PG_DIR=
}

peerhub_pg_start() {
	PEERHUB_PG_BIN=$(peerhub_pg_bin || true)
	if [[ -z $PEERHUB_PG_BIN ]]; then
		echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
		PEERHUB_PG_BIN=$(peerhub_pg_bin) || { echo "postgres.sh: no initdb after installing postgresql" >&2; return 1; }
	fi

	PEERHUB_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/peerhub-pg.XXXXXX")
	trap peerhub_pg_stop EXIT
	if [[ $(id -u) == 0 ]]; then
		chown postgres: "$PEERHUB_PG_DIR"
	fi
	peerhub_pg_as "$PEERHUB_PG_BIN/initdb" -D "$PEERHUB_PG_DIR/data" -U peerhub -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$PEERHUB_PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PEERHUB_PG_DIR/initdb.log" >&2; return 1; }

	local opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$PEERHUB_PG_DIR -c max_connections=300"
	if [[ ${PEERHUB_PG_DURABLE:-0} != 1 ]]; then
		opts+=" -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
	fi
	# A port that nothing answers on; another process may still take it
	# before the server binds it, so try a few.
	local port try
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		if peerhub_pg_as "$PEERHUB_PG_BIN/pg_ctl" -D "$PEERHUB_PG_DIR/data" -l "$PEERHUB_PG_DIR/server.log" \
			-w -t 60 -o "-p $port $opts" start >/dev/null; then
			break
		fi
		port=
	done
	if [[ -z $port ]]; then
		cat "$PEERHUB_PG_DIR/server.log" >&2
		echo "postgres.sh: the server did not start" >&2
		return 1
	fi
	"$PEERHUB_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U peerhub peerhub_test
	export PEERHUB_TEST_POSTGRES="postgres://peerhub@127.0.0.1:$port/peerhub_test?sslmode=disable"
	echo "postgres.sh: PostgreSQL $("$PEERHUB_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, PEERHUB_TEST_POSTGRES=$PEERHUB_TEST_POSTGRES" >&2
}

peerhub_pg_start
