#!/usr/bin/env bash
# The comparison's SVG charts as PNG beside them (for an issue comment or a paper), drawn by
# rsvg-convert (Debian's librsvg2-bin; scripts/install-test-tools.sh installs it) at 2x.
#
# Usage: scripts/charts-png.sh [DIR]   (default data/evaluation/compare-resnet50)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$ROOT/data/evaluation/compare-resnet50}"
command -v rsvg-convert >/dev/null 2>&1 \
  || { echo "charts-png.sh: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 2; }
for svg in "$dir"/*.svg; do
  rsvg-convert --zoom 2 --background-color white -o "${svg%.svg}.png" "$svg"
  echo "${svg%.svg}.png"
done
