#!/usr/bin/env bash
# Every test of the workspace, from a fresh clone: starts a throwaway Redis server (tests/redis,
# which installs redis-server if it is missing) and the oidc-provider test server
# (tests/logto-server, which installs its npm packages the first time), runs every crate's tests
# with every feature on, stops both servers, then runs the loom model check of the blocking manager
# (tests/model-check), which needs its own build flags and target folder.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/redis/run-with-redis.sh \
  bash tests/logto-server/run-with-server.sh cargo test --workspace --all-features
RUSTFLAGS="--cfg logto_m2m_loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p logto-m2m-model-check --release
