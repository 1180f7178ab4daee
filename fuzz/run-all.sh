#!/usr/bin/env bash
# Builds every fuzz target and runs each one for a bounded time, starting from its committed
# corpus; fails if any target finds a crash (the input is then in fuzz/artifacts/<target>/).
#
# Usage: bash fuzz/run-all.sh [seconds per target, default 20]
#
# Needs the nightly toolchain (FUZZ_TOOLCHAIN overrides its name) and installs cargo-fuzz if it
# is missing. New inputs that the runs discover go to a temporary folder, so the committed corpus
# stays as it is; see fuzz/README.md for adding one to the corpus.
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: $0 [seconds per target]" >&2
  exit 2
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz_dir/.."

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "== installing the $toolchain toolchain"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

mapfile -t targets < <(cargo +"$toolchain" fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi

echo "== building ${#targets[@]} fuzz targets"
cargo +"$toolchain" fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=0
summary=()
for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds}s"
  mkdir -p "$work/corpus/$target" "$fuzz_dir/corpus/$target"
  log="$work/$target.log"
  if cargo +"$toolchain" fuzz run "$target" "$work/corpus/$target" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n 1 | awk '{print $2}')"
    summary+=("$target: ${runs:-?} execs in ${seconds}s")
  else
    failed=1
    tail -n 80 "$log"
    summary+=("$target: FAILED (the crashing input is in fuzz/artifacts/$target/)")
  fi
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
