#!/usr/bin/env bash
# Merge and report time against the number of result columns (issue 16 §4).
# Usage: scripts/bench-wide.sh OUTRUN_BINARY [COLUMNS...]   (default 10000 20000 40000 80000)
# One cell writes one results.csv of 1 row × COLUMNS columns (key `k`, then c1…cN); the
# figures are the wall time of `outrun merge wide --from RUN` into an empty dataset and of
# `outrun report wide`, best of $REPEAT runs (default 3).
set -euo pipefail
bin=$(realpath "$1"); shift
cols=("${@:-10000 20000 40000 80000}")
[ $# -gt 0 ] || cols=(10000 20000 40000 80000)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/experiments"
best() { # best wall time of 3 runs of "$@", in seconds
  local b=
  for _ in $(seq "${REPEAT:-3}"); do
    local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
    b=$(python3 -c "t=$t1-$t0; b='$b'; print(min(t, float(b)) if b else t)")
  done
  printf '%.2f' "$b"
}
printf '| columns | merge (s) | report (s) |\n| ---: | ---: | ---: |\n'
for n in "${cols[@]}"; do
  cat > "$work/experiments/wide.yaml" <<YAML
name: wide
matrix:
  k: [1]
command: python3 -c 'import os; n=$n; f=open(os.environ["OUTRUN_OUT"]+"/results.csv","w"); f.write("k,"+",".join("c%d"%i for i in range(n))+"\n"); [f.write("1,"+",".join(str(i+r) for i in range(n))+"\n") for r in range(1)]'
timeout: 5m
results: {keys: [k]}
YAML
  rm -rf "$work/.outrun" "$work/data"
  "$bin" --root "$work" run wide --local --no-merge -q >/dev/null 2>&1 || true
  run=$(ls -d "$work"/.outrun/runs/wide/local-* | head -1)
  m=$(best bash -c "rm -rf '$work/data'; '$bin' --root '$work' merge wide --from '$run'")
  r=$(best "$bin" --root "$work" report wide)
  printf '| %d | %s | %s |\n' "$n" "$m" "$r"
done
