#!/usr/bin/env python3
"""Dataset merge and report: outrun (release build) against polars and pandas doing the same steps.

Usage: scripts/bench-dataset.py [--outrun target/release/outrun] [--work /work/scratch/bench-dataset]
                                [--sizes 1000000,10000000] [--report-rows 2000000] [--skip-python]
                                [--variant int|float|str|param|long] [--incoming sorted|unsorted|one-cell]
                                [--outrun-before OLD_BINARY]

Each merge starts from a fresh copy of the existing dataset. The incoming rows are a newer run's
cell outputs as a backend leaves them: 100 cells, each a `cell.json` and a `results.csv` of
10,000 rows with 4 columns (n, mode, i, value; keys n, mode, i). Half of the incoming keys are
already in the dataset (their rows are replaced), half are new.

- outrun: `outrun merge bench --from DIR` (history: newest): reads the cell outputs, checks them,
  streams the dataset through and writes it back (temp file, fsync, rename) under the lock.
- polars / pandas: the same steps by hand: read the existing dataset and the 100 results.csv
  files (provenance columns from each cell.json), drop the existing rows the incoming keys
  replace, concatenate, stable sort by the keys, write the CSV.

--incoming says how the cell outputs are written: `sorted` (default: each cell's rows in key
order), `unsorted` (the same rows, each cell's in an arbitrary order, as a simulator or a
parallel measurement script writes them; seeded, so the files are the same every time) or
`one-cell` (one cell of 1,000,000 rows in an arbitrary order, keys i in [5000, 1005000): its
first 5,000 replace existing rows). Use a separate --work folder per kind.

Every merge's output is compared byte for byte with polars' and pandas' (the run stops if they
differ). --outrun-before runs another outrun build (e.g. the commit before a change) on the same
files in the same run, its output compared too. --report-rows also reports on a run folder of
that many result rows (10,000-row cells) with `outrun report --run`.

--variant changes the keys or the layout (default `int`: n and i integers, mode text): `float`
writes i as a decimal (i / 4), `str` as text (k0001234), `param` leaves mode out of results.csv
(it is the cell's matrix parameter), `long` keeps the dataset in the long layout (keys, metric,
value). Use a separate --work folder per variant: the generated files are reused.

Every command runs under /usr/bin/time -v: CPU time (user + sys) and peak RSS. polars and pandas
are installed from PyPI into a venv under the work folder.
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROV = ["outrun_experiment", "outrun_cell", "outrun_source", "outrun_run_id", "outrun_attempt", "outrun_commit",
        "outrun_run_started_at", "outrun_started_at", "outrun_finished_at"]
KEYS = ["n", "mode", "i"]
ROWS_PER_CELL = 10_000
INCOMING_CELLS = 100
COMMIT = "0123456789abcdef0123456789abcdef01234567"


VARIANT = "int"
INCOMING = "sorted"


def key_i(i: int) -> str:
    """The key column i as the variant writes it (sorted the same way as i)."""
    if VARIANT == "float":
        return str(i / 4)
    if VARIANT == "str":
        return f"k{i:07d}"
    return str(i)


def experiment(cells: int) -> str:
    ns = ", ".join(str(n) for n in range(cells))
    layout = "  layout: long\n" if VARIANT == "long" else ""
    return (f"name: bench\nmatrix:\n  n: [{ns}]\n  mode: [a]\ncommand: 'true'\ntimeout: 20s\n"
            "results:\n  keys: [n, mode, i]\ndataset:\n  history: newest\n" + layout)


def cell_ids(outrun: str, root: Path) -> list:
    out = subprocess.run([outrun, "--root", str(root), "plan", "bench", "--json"], check=True, capture_output=True, text=True).stdout
    return [c["id"] for c in json.loads(out)["cells"]]


def write_dataset(path: Path, ids: list, rows: int):
    """An existing dataset as outrun writes it: sorted by (n, mode, i), one run."""
    cells = rows // ROWS_PER_CELL
    with open(path, "w", newline="") as f:
        metric = ["metric"] if VARIANT == "long" else []
        f.write(",".join(KEYS + metric + ["value"] + PROV) + "\n")
        m = "value," if VARIANT == "long" else ""
        for n in range(cells):
            tail = f"bench,{ids[n]},github,1001,1,{COMMIT},2026-01-01T00:00:00Z,2026-01-01T00:00:00.000000Z,2026-01-01T00:10:00.000000Z\n"
            f.write("".join(f"{n},a,{key_i(i)},{m}{i * 3 + n}," + tail for i in range(ROWS_PER_CELL)))


def incoming_shape() -> tuple:
    """(cells, rows per cell, first i) of the incoming run."""
    if INCOMING == "one-cell":
        return 1, 1_000_000, 5000
    return INCOMING_CELLS, ROWS_PER_CELL, 5000


def write_incoming(folder: Path, ids: list, shape=None, order=None):
    """A newer run's cell outputs: by default keys i in [5000, 15000) — half replace existing
    rows; each cell's rows in key order or, for --incoming unsorted/one-cell, shuffled."""
    cells, per_cell, first = shape or incoming_shape()
    order = order or INCOMING
    for n in range(cells):
        i_s = list(range(first, first + per_cell))
        if order != "sorted":
            random.Random(n).shuffle(i_s)
        d = folder / ids[n]
        d.mkdir(parents=True, exist_ok=True)
        record = {"schema": "outrun.cell/v1", "experiment": "bench", "cell": ids[n], "params": {"n": str(n), "mode": "a"},
                  "status": "ok", "exit_code": 0, "error": None, "started_at": "2026-01-02T00:00:00.000000Z",
                  "finished_at": "2026-01-02T00:10:00.000000Z", "duration_s": 600.0, "source": "github",
                  "runner": "bench", "commit": COMMIT, "run_id": "1002", "attempt": 1}
        (d / "cell.json").write_text(json.dumps(record))
        with open(d / "results.csv", "w") as f:
            if VARIANT == "param":
                f.write("n,i,value\n")
                f.write("".join(f"{n},{key_i(i)},{i * 7 + n}\n" for i in i_s))
            else:
                f.write("n,mode,i,value\n")
                f.write("".join(f"{n},a,{key_i(i)},{i * 7 + n}\n" for i in i_s))


POLARS = r'''
import json, sys, glob, os
import polars as pl
dataset, incoming, out, variant = sys.argv[1:5]
keys = ["n", "mode", "i"] + (["metric"] if variant == "long" else [])
old = pl.read_csv(dataset, infer_schema_length=10000)
parts = []
cells = sorted(glob.glob(os.path.join(incoming, "*")))
# The run started when its first cell did (what outrun records for a folder of cell outputs).
run_started = min(json.load(open(os.path.join(d, "cell.json")))["started_at"] for d in cells)
for d in cells:
    rec = json.load(open(os.path.join(d, "cell.json")))
    df = pl.read_csv(os.path.join(d, "results.csv"))
    if variant == "param":
        df = df.with_columns(mode=pl.lit(rec["params"]["mode"]))
    if variant == "long":
        # One metric (`value`): the long rows are the results with a `metric` column.
        df = df.with_columns(metric=pl.lit("value"))
    parts.append(df.with_columns(
        outrun_experiment=pl.lit(rec["experiment"]), outrun_cell=pl.lit(rec["cell"]), outrun_source=pl.lit(rec["source"]),
        outrun_run_id=pl.lit(int(rec["run_id"])), outrun_attempt=pl.lit(rec["attempt"]), outrun_commit=pl.lit(rec["commit"]),
        outrun_run_started_at=pl.lit(run_started), outrun_started_at=pl.lit(rec["started_at"]),
        outrun_finished_at=pl.lit(rec["finished_at"])))
new = pl.concat(parts).select(old.columns).cast(old.schema)
kept = old.join(new.select(keys), on=keys, how="anti", maintain_order="left")
pl.concat([kept, new]).sort(keys, maintain_order=True).write_csv(out)
'''

PANDAS = r'''
import json, sys, glob, os
import pandas as pd
dataset, incoming, out, variant = sys.argv[1:5]
keys = ["n", "mode", "i"] + (["metric"] if variant == "long" else [])
old = pd.read_csv(dataset)
parts = []
cells = sorted(glob.glob(os.path.join(incoming, "*")))
run_started = min(json.load(open(os.path.join(d, "cell.json")))["started_at"] for d in cells)
for d in cells:
    rec = json.load(open(os.path.join(d, "cell.json")))
    df = pd.read_csv(os.path.join(d, "results.csv"))
    if variant == "param":
        df = df.assign(mode=rec["params"]["mode"])
    if variant == "long":
        df = df.assign(metric="value")
    df = df.assign(outrun_experiment=rec["experiment"], outrun_cell=rec["cell"], outrun_source=rec["source"],
                   outrun_run_id=int(rec["run_id"]), outrun_attempt=rec["attempt"], outrun_commit=rec["commit"],
                   outrun_run_started_at=run_started, outrun_started_at=rec["started_at"],
                   outrun_finished_at=rec["finished_at"])
    parts.append(df)
new = pd.concat(parts, ignore_index=True)[list(old.columns)]
idx_old = pd.MultiIndex.from_frame(old[keys])
idx_new = pd.MultiIndex.from_frame(new[keys])
kept = old[~idx_old.isin(idx_new)]
pd.concat([kept, new], ignore_index=True).sort_values(keys, kind="stable").to_csv(out, index=False)
'''


def timed(cmd: list, cwd=None) -> dict:
    """Runs under /usr/bin/time -v: wall, CPU (user+sys) seconds, peak RSS in MB."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    field = lambda name: float(re.search(rf"{re.escape(name)}: ([0-9.]+)", p.stderr).group(1))
    return {"wall": wall, "cpu": field("User time (seconds)") + field("System time (seconds)"),
            "user": field("User time (seconds)"), "sys": field("System time (seconds)"),
            "rss_mb": field("Maximum resident set size (kbytes)") / 1024, "stdout": p.stdout}


def venv_python(work: Path) -> str:
    venv = work / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "polars", "pandas"], check=True)
    return str(py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outrun", default=str(Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "release" / "outrun"))
    ap.add_argument("--work", default="/work/scratch/bench-dataset")
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--report-rows", type=int, default=2_000_000)
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--variant", default="int", choices=["int", "float", "str", "param", "long"])
    ap.add_argument("--incoming", default="sorted", choices=["sorted", "unsorted", "one-cell"])
    ap.add_argument("--outrun-before", default=None)
    a = ap.parse_args()
    global VARIANT, INCOMING
    VARIANT = a.variant
    INCOMING = a.incoming
    outrun = os.path.abspath(a.outrun)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in a.sizes.split(",") if s]
    cells = max(sizes + [a.report_rows]) // ROWS_PER_CELL
    setup = work / "setup"
    (setup / "experiments").mkdir(parents=True, exist_ok=True)
    (setup / "experiments" / "bench.yaml").write_text(experiment(cells))
    ids = cell_ids(outrun, setup)
    incoming = work / f"incoming-{INCOMING}"
    if not (incoming / ids[incoming_shape()[0] - 1] / "results.csv").exists():
        write_incoming(incoming, ids)
    tools = [("outrun", outrun)]
    if a.outrun_before:
        tools.append(("outrun before", os.path.abspath(a.outrun_before)))
    py = None if a.skip_python else venv_python(work)
    results = []

    def project(rows: int) -> Path:
        src = work / f"dataset-{rows}.csv"
        if not src.exists():
            write_dataset(src, ids, rows)
        root = work / f"project-{rows}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "experiments").mkdir(parents=True)
        (root / "experiments" / "bench.yaml").write_text(experiment(cells))
        (root / "data" / "evaluation").mkdir(parents=True)
        shutil.copyfile(src, root / "data" / "evaluation" / "bench.csv")
        return root

    def same_as(path: Path, want: Path, who: str):
        """The run stops unless two tools wrote the same bytes."""
        if path.stat().st_size == want.stat().st_size and path.read_bytes() == want.read_bytes():
            return
        with open(path, "rb") as f, open(want, "rb") as g:
            for k, (x, y) in enumerate(zip(f, g)):
                if x != y:
                    sys.exit(f"{who}'s output differs from outrun's at line {k + 1}:\n  {y!r}\n  {x!r}")
        sys.exit(f"{who}'s output differs from outrun's in length")

    for rows in sizes:
        for rep in range(a.repeat):
            want = work / f"out-outrun-{rows}.csv"
            for tool, binary in tools:
                root = project(rows)
                r = timed([binary, "--root", str(root), "merge", "bench", "--from", str(incoming)])
                print(f"{tool} merge, {rows} existing: {r['stdout'].strip()}", flush=True)
                merged = root / "data" / "evaluation" / "bench.csv"
                out_rows = sum(1 for _ in open(merged)) - 1
                results.append(("merge", rows, tool, r, out_rows))
                # The same run again: byte for byte the same file.
                before = merged.read_bytes()
                r2 = timed([binary, "--root", str(root), "merge", "bench", "--from", str(incoming)])
                assert merged.read_bytes() == before, "merging the same run twice changed the file"
                results.append(("merge again (unchanged)", rows, tool, r2, out_rows))
                if tool == "outrun":
                    shutil.copyfile(merged, want)
                else:
                    same_as(merged, want, tool)
            if py:
                for name, script in (("polars", POLARS), ("pandas", PANDAS)):
                    if name == "pandas" and rows > 1_000_000:
                        continue
                    out = work / f"out-{name}-{rows}.csv"
                    r = timed([py, "-c", script, str(work / f"dataset-{rows}.csv"), str(incoming), str(out), VARIANT])
                    n = sum(1 for _ in open(out)) - 1
                    results.append(("merge", rows, name, r, n))
                    same_as(out, want, name)
                    out.unlink()
            want.unlink()
        shutil.rmtree(work / f"project-{rows}", ignore_errors=True)

    if a.report_rows:
        root = project(a.report_rows)
        r = timed([outrun, "--root", str(root), "report", "bench", "--output", str(work / "report.md")])
        results.append(("report", a.report_rows, "outrun", r, a.report_rows))
        # A run folder of as many result rows: the report reads its cells' statuses.
        run = work / f"run-{a.report_rows}"
        cells_in_run = a.report_rows // ROWS_PER_CELL
        if not (run / ids[cells_in_run - 1] / "results.csv").exists():
            write_incoming(run, ids, (cells_in_run, ROWS_PER_CELL, 0), "sorted")
        for tool, binary in tools:
            r = timed([binary, "--root", str(root), "report", "bench", "--run", str(run), "--output", str(work / "report.md")])
            results.append((f"report --run ({cells_in_run} cells)", a.report_rows, tool, r, a.report_rows))
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nvariant: {VARIANT}, incoming: {INCOMING}")
    print("\n| task | existing rows | tool | result rows | wall s | CPU s (user+sys) | peak RSS MB |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for task, rows, tool, r, n in results:
        print(f"| {task} | {rows:,} | {tool} | {n:,} | {r['wall']:.2f} | {r['cpu']:.2f} ({r['user']:.2f}+{r['sys']:.2f}) | {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
