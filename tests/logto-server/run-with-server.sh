#!/usr/bin/env bash
# Runs a command with the Logto-compatible test server up.
#
#   bash tests/logto-server/run-with-server.sh <command...>
#
# Installs the server's npm dependencies if node_modules is missing (npm ci), starts the server on
# an ephemeral 127.0.0.1 port, waits until it answers, exports
# LOGTO_TEST_ENDPOINT=http://127.0.0.1:<port> to the command, runs it, stops the server, and exits
# with the command's exit code.
#
# Environment:
#   LOGTO_SERVER_CONFIG        config file for the server (default: config.json beside this script)
#   LOGTO_SERVER_START_TIMEOUT seconds to wait for the server (default 30)
#
# Arguments are run as given, so a literal '$LOGTO_TEST_ENDPOINT' in them (single-quoted by the
# caller) is expanded here, once the port is known.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command...>" >&2
  exit 2
fi

if ! command -v node >/dev/null 2>&1; then
  echo "run-with-server: node is required" >&2
  exit 2
fi

if [ ! -d "$here/node_modules/oidc-provider" ]; then
  echo "run-with-server: installing server dependencies (npm ci)" >&2
  (cd "$here" && npm ci --no-audit --no-fund >&2)
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/logto-server.XXXXXX")"
log="$workdir/server.log"
port_file="$workdir/port"
server_pid=""

stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node "$here/server.js" --port 0 --port-file "$port_file" >"$log" 2>&1 &
server_pid=$!

timeout_s="${LOGTO_SERVER_START_TIMEOUT:-30}"
deadline=$((SECONDS + timeout_s))
endpoint=""
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  if [ -s "$port_file" ]; then
    port="$(tr -d '[:space:]' <"$port_file")"
    candidate="http://127.0.0.1:$port"
    if node -e '
      fetch(process.argv[1] + "/oidc/.well-known/openid-configuration")
        .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
    ' "$candidate"; then
      endpoint="$candidate"
      break
    fi
  fi
  sleep 0.2
done

if [ -z "$endpoint" ]; then
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "run-with-server: the server did not answer within ${timeout_s}s; its log:" >&2
  else
    echo "run-with-server: the server exited before answering; its log:" >&2
  fi
  cat "$log" >&2 || true
  exit 1
fi

export LOGTO_TEST_ENDPOINT="$endpoint"
echo "run-with-server: server at $LOGTO_TEST_ENDPOINT (log: $log)" >&2

# Expand a literal $LOGTO_TEST_ENDPOINT in the arguments.
args=()
for arg in "$@"; do
  arg="${arg//\$\{LOGTO_TEST_ENDPOINT\}/$LOGTO_TEST_ENDPOINT}"
  args+=("${arg//\$LOGTO_TEST_ENDPOINT/$LOGTO_TEST_ENDPOINT}")
done

set +e
"${args[@]}"
status=$?
set -e

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "run-with-server: the server exited while the command ran; its log:" >&2
  cat "$log" >&2 || true
fi
exit "$status"
