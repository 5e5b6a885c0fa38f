#!/usr/bin/env bash
# Runs every fuzz target briefly (CI; `FUZZ_SECONDS` each, default 25) from the
# committed seeds. Where cargo-fuzz cannot work here it says why and skips; a
# crash or a failed assertion fails the run and leaves the input in
# fuzz/artifacts/TARGET/. Long runs and their figures: SECURITY.md.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-25}"
skip() { echo "fuzz: skipped: $*"; exit 0; }

# libFuzzer needs the sanitizer flags of a nightly compiler; stable rustc
# accepts them with RUSTC_BOOTSTRAP=1. Probe that before anything else.
export RUSTC_BOOTSTRAP=1
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'fn main() {}' >"$probe/p.rs"
rustc -Zsanitizer=address -o "$probe/p" "$probe/p.rs" 2>"$probe/err" \
  || skip "this rustc cannot build with -Zsanitizer=address ($(head -1 "$probe/err"))"
command -v c++ >/dev/null 2>&1 || skip "no C++ compiler to build libFuzzer"
if ! cargo fuzz --version >/dev/null 2>&1; then
  # About a minute on two shared cores (measured); bounded in any case.
  timeout 600 cargo install cargo-fuzz --locked --quiet 2>"$probe/err" \
    || skip "cargo-fuzz could not be installed ($(tail -1 "$probe/err"))"
fi

rustfmt --edition 2021 --check fuzz_targets/*.rs
cargo fuzz build -O
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  log="$probe/$target.log"
  if ! cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)"
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
  corpus="$(ls "corpus/$target" | wc -l)"
  echo "fuzz: $target ok: $runs runs in ${secs}s, $cov, corpus $corpus"
done
