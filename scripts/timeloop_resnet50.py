#!/usr/bin/env python3
"""Timeloop + Accelergy cycles and energy of ResNet-50 convolutions (timeloop-mapper).

Needs Timeloop: the `timeloop-mapper` binary and the `pytimeloop` Python package (its
`timeloopfe.v4` front end expands the architecture template and writes Timeloop's input), as in
the container image timeloopaccelergy/timeloop-accelergy-pytorch. Neither installs from PyPI,
so this runs in that container (a GitHub job `container:`), not on a plain runner.

One outrun cell: one architecture and one batch size (optionally a layer subset and search
bounds), all taken from the environment.

    OUTRUN_P_ARCH       array32 | h200_sm   (scripts/timeloop_arch/*.yaml)
                        array32: 32x32 weight-stationary int8 array, 1 GHz (as ZigZag's and
                        SCALE-Sim's 32x32); h200_sm: one H200 SM mapping 1/132 of the layer, as
                        scripts/accelforge_arch/h200_sm.yaml (float16)
    OUTRUN_P_BATCH      optional, default 1: batch size N
    OUTRUN_P_LAYERS     optional, default all 23: comma-separated layer names, indices or
                        index ranges (`0-5`)
    OUTRUN_P_VICTORY    optional, default 500: a mapper thread stops after this many
                        consecutive valid mappings that are no better (victory_condition)
    OUTRUN_P_TIMEOUT    optional, default 15000: ... or this many consecutive invalid ones
    OUTRUN_P_THREADS    optional, default the number of CPUs: mapper threads
    OUTRUN_P_LAYER_SECONDS  optional, default 600: wall-clock bound per layer; then the mapper
                        gets SIGINT, stops searching and writes the best mapping found so far
                        (mapper_stopped = 1)
    OUTRUN_OUT          an empty directory owned by this script; results.csv is written there,
                        each layer's Timeloop input and output under timeloop/NN-LAYER/

Search: random_pruned, optimising delay then energy, with the bounds above.

Shapes. The 23 distinct Conv2d shapes of torchvision's ResNet-50 (scripts/resnet50_shapes.py).
Timeloop's CNN problem has no padding: it is given the output size P x Q and the stride, and
reads the input (P-1)*stride + R wide, which is what the padded convolution reads. Timeloop's
names: M = output channels (K here), P/Q = output height/width, R/S = filter height/width,
N = batch. For h200_sm the problem is one SM's tile (resnet50_shapes.split_over over 132 SMs).

Outputs, one row per layer (parsed by scripts/timeloop_parse.py from timeloop-mapper.stats.txt;
keys layer, N, arch; shape columns as in data/measured/h200/resnet50_conv_latency.csv):

    arch, dtype       the architecture and its operand type (int8, float16)
    pes               MACs per cycle of the whole architecture (array32 1024; h200_sm 132 x 2048)
    clock_hz          the cycle the counts are in (array32 1 GHz; h200_sm the effective cycle of
                      h200_sm.yaml: measured MAC rate / (132 x 2048))
    macs              N*K*P*Q*C*R*S of the layer
    ideal_cycles      ceil(macs / pes): the floor for this array
    cycles            Summary "Cycles" of the best mapping found (h200_sm: of one SM's tile)
    cycles_over_ideal, utilization_pct (Summary "Utilization": of one SM for h200_sm)
    latency_us        cycles / clock_hz (h200_sm: comparable with latency_us_median)
    energy_uj         Summary "Energy" (uJ, 2 decimals; h200_sm: one SM's tile x 132)
    energy_pj         fJ/Compute Total x Computes / 1000 (more digits; h200_sm: x 132)
    computes          MACs Timeloop performed (one tile for h200_sm); checked
    sm_split          h200_sm only: the split over the SMs, e.g. "N1 K128 P1 Q1"
    mapper_stopped    1 when the wall-clock bound stopped the search
    mapper_seconds    wall time of the search
"""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resnet50_shapes  # noqa: E402
import timeloop_parse  # noqa: E402

ARCH_DIR = os.path.join(HERE, "timeloop_arch")
MEASURED = os.path.join(HERE, "..", "data", "measured", "h200")
SM_LANES = 64 * 32

COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "arch", "dtype", "pes", "clock_hz", "macs", "ideal_cycles", "cycles", "cycles_over_ideal",
    "utilization_pct", "latency_us", "energy_uj", "energy_pj", "computes", "sm_split",
    "mapper_stopped", "mapper_seconds",
]

PROBLEM = """\
problem:
  version: 0.4
  instance:
    C: {C}
    M: {M}
    N: {N}
    P: {P}
    Q: {Q}
    R: {R}
    S: {S}
    Hdilation: 1
    Hstride: {stride}
    Wdilation: 1
    Wstride: {stride}
  shape:
    name: CNN_Layer
    dimensions: [C, M, R, S, N, P, Q]
    coefficients:
    - {{name: Wstride, default: 1}}
    - {{name: Hstride, default: 1}}
    - {{name: Wdilation, default: 1}}
    - {{name: Hdilation, default: 1}}
    data_spaces:
    - name: Weights
      projection:
      - [[C]]
      - [[M]]
      - [[R]]
      - [[S]]
    - name: Inputs
      projection:
      - [[N]]
      - [[C]]
      - [[R, Wdilation], [P, Wstride]]
      - [[S, Hdilation], [Q, Hstride]]
    - name: Outputs
      projection:
      - [[N]]
      - [[M]]
      - [[Q]]
      - [[P]]
      read_write: true
"""

MAPPER = """\
mapper:
  version: 0.4
  optimization_metrics: [delay, energy]
  live_status: false
  num_threads: {threads}
  timeout: {timeout}
  victory_condition: {victory}
  algorithm: random_pruned
  max_permutations_per_if_visit: 16
"""


def fail(message):
    print(f"timeloop_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(name, default):
    value = os.environ.get(name, str(default)).strip()
    if not (value.isdigit() and int(value) > 0):
        fail(f"{name} must be a positive integer (got {value!r})")
    return int(value)


def arch_settings(name):
    """(yaml path, jinja data, dtype, pes, clock_hz, SMs to split over)."""
    if name == "array32":
        return (os.path.join(ARCH_DIR, "array32.yaml"),
                {"datawidth": 8, "psum_datawidth": 16, "cycle_seconds": 1e-9},
                "int8", 1024, 1e9, 1)
    if name == "h200_sm":
        with open(os.path.join(MEASURED, "peaks.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(MEASURED, "meta.json")) as f:
            sms = int(json.load(f)["sms"])
        mac_per_s = next(float(r["value"]) * 1e12 for r in rows
                         if r["kind"] == "matmul" and r["dtype"] == "float16") / 2
        copy_bytes_per_s = next(float(r["value"]) * 1e9 for r in rows if r["kind"] == "copy")
        clock = mac_per_s / (sms * SM_LANES)
        words_per_cycle = copy_bytes_per_s / sms / clock / 2   # 2-byte float16 words
        return (os.path.join(ARCH_DIR, "h200_sm.yaml"),
                {"datawidth": 16, "cycle_seconds": 1 / clock,
                 "hbm_words_per_cycle": round(words_per_cycle, 4)},
                "float16", sms * SM_LANES, clock, sms)
    fail(f"OUTRUN_P_ARCH must be array32 or h200_sm (got {name!r})")


def params():
    return dict(
        arch=os.environ.get("OUTRUN_P_ARCH", ""),
        n=resnet50_shapes.env_batch(fail, default=1),
        layers=resnet50_shapes.env_layers(fail),
        victory=positive_int("OUTRUN_P_VICTORY", 500),
        timeout=positive_int("OUTRUN_P_TIMEOUT", 15000),
        threads=positive_int("OUTRUN_P_THREADS", os.cpu_count() or 1),
        layer_seconds=positive_int("OUTRUN_P_LAYER_SECONDS", 600),
        out=resnet50_shapes.env_out(fail),
    )


def run_mapper(tl, workdir, problem_dims, p, arch_yaml, jinja):
    """Write the layer's problem and mapper files, run timeloop-mapper, return (stats, stopped)."""
    os.makedirs(workdir, exist_ok=True)
    problem = os.path.join(workdir, "problem.yaml")
    mapper = os.path.join(workdir, "mapper.yaml")
    with open(problem, "w") as f:
        f.write(PROBLEM.format(**problem_dims))
    with open(mapper, "w") as f:
        f.write(MAPPER.format(threads=p["threads"], timeout=p["timeout"], victory=p["victory"]))
    spec = tl.Specification.from_yaml_files(arch_yaml, problem, mapper, jinja_parse_data=jinja)
    log = os.path.join(workdir, "timeloop-mapper.log")
    proc = tl.call_mapper(spec, output_dir=workdir, log_to=log, return_proc=True)
    stopped = False
    try:
        code = proc.wait(timeout=p["layer_seconds"])
    except subprocess.TimeoutExpired:
        # SIGINT makes timeloop-mapper stop searching and write its best mapping so far.
        stopped = True
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError("timeloop-mapper ignored SIGINT for 120 s and was killed")
    stats = os.path.join(workdir, "timeloop-mapper.stats.txt")
    if code != 0 and not (stopped and os.path.exists(stats)):
        raise RuntimeError(f"timeloop-mapper exited with {code}; see {log}")
    if not os.path.exists(stats):
        raise RuntimeError(f"timeloop-mapper wrote no stats (no valid mapping?); see {log}")
    return timeloop_parse.parse_file(stats), stopped


def main():
    p = params()
    arch_yaml, jinja, dtype, pes, clock, sms = arch_settings(p["arch"])
    try:
        import pytimeloop.timeloopfe.v4 as tl
    except ImportError as e:
        fail(f"cannot import pytimeloop.timeloopfe.v4 ({e}); run in the "
             f"timeloopaccelergy/timeloop-accelergy-pytorch container")
    rows = []
    n = p["n"]
    for index, s in enumerate(p["layers"]):
        macs = resnet50_shapes.macs(s, n)
        split = resnet50_shapes.split_over(s, n, sms)
        tn, tk, tp, tq = resnet50_shapes.tile(s, n, split)
        tile_macs = tn * tk * tp * tq * s.C * s.R * s.S
        dims = dict(C=s.C, M=tk, N=tn, P=tp, Q=tq, R=s.R, S=s.S, stride=s.stride)
        start = time.monotonic()
        try:
            stats, stopped = run_mapper(
                tl, os.path.join(p["out"], "timeloop", f"{index:02d}-{s.layer}"), dims, p,
                arch_yaml, jinja)
        except Exception as e:  # noqa: BLE001 - name the layer, then fail the cell
            fail(f"Timeloop failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        if stats.get("computes") not in (None, tile_macs):
            fail(f"{s.layer}: Timeloop counts {stats['computes']} MACs, expected {tile_macs}")
        ideal = math.ceil(macs / pes)
        cycles = stats["cycles"]
        tiles = sms if sms > 1 else 1
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            p["arch"], dtype, pes, f"{clock:.6g}", macs, ideal, cycles, f"{cycles / ideal:.4f}",
            stats.get("utilization_pct", ""), f"{cycles / clock * 1e6:.4f}",
            f"{stats['energy_uj'] * tiles:.2f}", f"{stats['energy_pj'] * tiles:.1f}",
            stats.get("computes", ""),
            "N{} K{} P{} Q{}".format(*split) if sms > 1 else "", int(stopped), f"{seconds:.1f}",
        ])
        print(f"{s.layer}: {cycles} cycles (ideal {ideal}), {stats['energy_uj']} uJ, "
              f"{seconds:.0f} s{' (stopped at the time bound)' if stopped else ''}", flush=True)

    with open(os.path.join(p["out"], "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"Timeloop {p['arch']} N={n}: {len(rows)} layers")


if __name__ == "__main__":
    main()
