#!/usr/bin/env bash
# Benchmark: the shipped experiment run by `outrun run --local` (parallel cells, merge, report)
# against the baseline a researcher would otherwise write: the same 8 cells in a plain bash loop,
# results concatenated, no dataset, no report. Also: a 200-cell trivial experiment, to show
# outrun's per-cell overhead. Needs hyperfine (apt-get install hyperfine). Figures: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -q
bin="$PWD/target/release/outrun"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/roofline/experiments" "$work/roofline/scripts" "$work/roofline/data/measured"
cp experiments/roofline-h200-resnet50.yaml "$work/roofline/experiments/"
cp scripts/roofline.py scripts/resnet50_shapes.py "$work/roofline/scripts/"
cp -r data/measured/h200 "$work/roofline/data/measured/"

cat > "$work/loop.sh" <<'LOOP'
set -e
cd "$1"; rm -rf loop-out; mkdir loop-out
for dtype in float16 float32; do for batch in 1 8 32 128; do
  d="loop-out/$dtype-$batch"; mkdir -p "$d"
  OUTRUN_P_DTYPE=$dtype OUTRUN_P_BATCH=$batch OUTRUN_OUT=$d python3 scripts/roofline.py > "$d/stdout.log"
done; done
cat loop-out/*/results.csv > loop-out/all.csv
LOOP

mkdir -p "$work/trivial/experiments"
{
  echo "name: trivial"
  echo "matrix:"
  printf '  i: [%s]\n' "$(seq -s ', ' 1 200)"
  echo "command: 'printf \"i,v\\n%s,1\\n\" \"\$OUTRUN_P_I\" > \"\$OUTRUN_OUT/results.csv\"'"
  echo "results: {keys: [i]}"
} > "$work/trivial/experiments/trivial.yaml"
cat > "$work/trivial-loop.sh" <<'LOOP'
set -e
cd "$1"; rm -rf loop-out; mkdir loop-out
for i in $(seq 1 200); do
  d="loop-out/$i"; mkdir -p "$d"
  OUTRUN_P_I=$i OUTRUN_OUT=$d bash -c 'printf "i,v\n%s,1\n" "$OUTRUN_P_I" > "$OUTRUN_OUT/results.csv"'
done
LOOP

hyperfine -N --warmup 2 --runs 10 --export-markdown "$work/roofline.md" \
  -n "bash loop, sequential (baseline)" "bash $work/loop.sh $work/roofline" \
  -n "outrun run --local -j 2" "$bin --root $work/roofline -q run roofline-h200-resnet50 --local -j 2" \
  -n "outrun run --local -j 1" "$bin --root $work/roofline -q run roofline-h200-resnet50 --local -j 1"
hyperfine -N --warmup 1 --runs 5 --export-markdown "$work/trivial.md" \
  -n "bash loop, 200 cells (baseline)" "bash $work/trivial-loop.sh $work/trivial" \
  -n "outrun, 200 cells, -j 2" "$bin --root $work/trivial -q run trivial --local -j 2"
cat "$work/roofline.md" "$work/trivial.md"
