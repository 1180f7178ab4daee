#!/usr/bin/env bash
# Runs a command with a throwaway Redis server up.
#
#   bash tests/redis/run-with-redis.sh <command...>
#
# Installs redis-server if it is missing (apt-get, when running as root; otherwise says what to
# install and fails), starts it on a free 127.0.0.1 port with no persistence in a temporary
# folder, waits until it answers PING, exports to the command:
#
#   LOGTO_M2M_TEST_REDIS_URL      redis://127.0.0.1:<port>
#   LOGTO_M2M_TEST_REDIS_PORT     <port>
#   LOGTO_M2M_TEST_REDIS_PIDFILE  the server's pid file
#   LOGTO_M2M_TEST_REDIS_SERVER   the redis-server binary (tests that stop or kill a server start
#                                 their own with it, so that they do not disturb the others)
#
# runs it, stops the server, and exits with the command's exit code.
#
# Environment:
#   LOGTO_REDIS_START_TIMEOUT  seconds to wait for the server (default 10)
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command...>" >&2
  exit 2
fi

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run-with-redis: installing redis-server (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y redis-server >&2; then
      apt-get update >&2
      apt-get install -y redis-server >&2
    fi
  else
    echo "run-with-redis: redis-server and redis-cli are required: install Redis (Debian/Ubuntu:" \
      "'sudo apt-get install redis-server'; macOS: 'brew install redis') or Valkey, then run again" >&2
    exit 2
  fi
fi

server_bin="$(command -v redis-server)"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/logto-redis.XXXXXX")"
log="$workdir/redis.log"
pidfile="$workdir/redis.pid"
server_pid=""

stop_server() {
  if [ -n "$server_pid" ]; then
    # A test may have left it stopped (SIGSTOP): continue it so that it can exit.
    kill -CONT "$server_pid" 2>/dev/null || true
    if kill -0 "$server_pid" 2>/dev/null; then
      kill "$server_pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port: bind port 0, read the port the kernel chose, close. Another process could take it
# before redis-server does: then the server fails to start and another port is tried.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

timeout_s="${LOGTO_REDIS_START_TIMEOUT:-10}"
port=""
for _ in 1 2 3 4 5; do
  candidate="$(free_port)"
  rm -f "$pidfile"
  # Not daemonized, so that its pid is ours to stop; the pid file is for the tests.
  "$server_bin" --bind 127.0.0.1 --port "$candidate" --save '' --appendonly no \
    --dir "$workdir" --pidfile "$pidfile" --daemonize no --logfile "$log" &
  server_pid=$!
  deadline=$((SECONDS + timeout_s))
  while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$server_pid" 2>/dev/null; do
    if [ "$(redis-cli -h 127.0.0.1 -p "$candidate" ping 2>/dev/null)" = "PONG" ]; then
      port="$candidate"
      break
    fi
    sleep 0.1
  done
  [ -n "$port" ] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done

if [ -z "$port" ]; then
  echo "run-with-redis: redis-server did not answer within ${timeout_s}s; its log:" >&2
  cat "$log" >&2 || true
  exit 1
fi

export LOGTO_M2M_TEST_REDIS_URL="redis://127.0.0.1:$port"
export LOGTO_M2M_TEST_REDIS_PORT="$port"
export LOGTO_M2M_TEST_REDIS_PIDFILE="$pidfile"
export LOGTO_M2M_TEST_REDIS_SERVER="$server_bin"
echo "run-with-redis: redis-server at $LOGTO_M2M_TEST_REDIS_URL (log: $log)" >&2

set +e
"$@"
status=$?
set -e

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "run-with-redis: the server exited while the command ran; its log:" >&2
  cat "$log" >&2 || true
fi
exit "$status"
