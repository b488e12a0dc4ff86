#!/usr/bin/env python3
"""Timeloop v3.0.3 cycles of ResNet-50 convolutions (timeloop-mapper, built from source).

Needs the `timeloop-mapper` binary of Timeloop v3.0.3: OUTRUN_TIMELOOP_MAPPER, else on PATH,
else in the cache scripts/install-test-tools.sh builds it into
(${XDG_CACHE_HOME:-~/.cache}/outrun/timeloop-*/bin/timeloop-mapper). It is given Timeloop's v3
input format (what v3.0.3 reads: `arch: {arithmetic, storage}`, `problem: {shape, instance}`,
`mapspace: {constraints}`, `mapper:`), not TimeloopFE's 0.4 format; no Accelergy, so energy
comes from Timeloop's built-in placeholder model and is relative only.

One outrun cell: one architecture and one batch size (optionally a layer subset and search
bounds), all taken from the environment.

    OUTRUN_P_ARCH       array32 | h200_sm   (scripts/timeloop_arch/*.yaml)
                        array32: 32x32 = 1024 int8 MACs a cycle at 1 GHz (as ZigZag's and
                        SCALE-Sim's 32x32); h200_sm: one H200 SM (64x32 = 2048 float16 MAC
                        lanes) mapping 1/132 of the layer at the effective clock of the measured
                        tensor-core rate (~1.28 GHz), as scripts/accelforge_arch/h200_sm.yaml
    OUTRUN_P_BATCH      optional, default 1: batch size N
    OUTRUN_P_LAYERS     optional, default all 23: comma-separated layer names, indices or
                        index ranges (`0-5`)
    OUTRUN_P_VICTORY    optional, default 100: the search stops after this many consecutive
                        valid mappings that are no better (victory-condition)
    OUTRUN_P_TIMEOUT    optional, default 2000: ... or this many consecutive invalid ones
    OUTRUN_P_THREADS    optional, default 1: mapper threads (one core a cell)
    OUTRUN_P_LAYER_SECONDS  optional, default 8: wall-clock bound per layer; then the mapper
                        gets SIGINT, stops searching and writes the best mapping found so far
                        (mapper_stopped = 1) once the evaluation under way ends
    OUTRUN_OUT          an empty directory owned by this script; results.csv is written there,
                        each layer's Timeloop input and output under timeloop/NN-LAYER/

Search: random-pruned, optimising delay then energy, with the bounds above (recorded in every
row: mapper_bound). The spatial unrolling is fixed per layer, as the dataflow of the array says
(columns: output channels, rows: C x R x S, the largest factors that fit each side), so the
bounded search spends itself on the temporal loop nest; without that, a bounded random search
leaves half the array idle on layers that fill it.

Shapes. The 23 distinct Conv2d shapes of torchvision's ResNet-50 (scripts/resnet50_shapes.py).
Timeloop's CNN problem has no padding: it is given the output size P x Q and the stride, and
reads the input (P-1)*stride + R wide, which is what the padded convolution reads. Timeloop's
names: K = output channels, P/Q = output height/width, R/S = filter height/width, N = batch.
For h200_sm the problem is one SM's tile (resnet50_shapes.split_over over 132 SMs).

Outputs, one row per layer (keys layer, N, arch; shape columns as in
data/measured/h200/resnet50_conv_latency.csv):

    arch, dtype       the architecture and its operand type (int8, float16)
    pes               MACs per cycle of the whole architecture (array32 1024; h200_sm 132 x 2048)
    clock_hz          the cycle the counts are in (array32 1 GHz; h200_sm the effective cycle:
                      measured MAC rate / (132 x 2048))
    macs              N*K*P*Q*C*R*S of the layer
    ideal_cycles      ceil(macs / pes): the floor for this architecture
    cycles            Summary "Cycles" of the best mapping found (h200_sm: of one SM's tile)
    cycles_over_ideal, utilization_pct (Summary "Utilization": of one SM for h200_sm)
    latency_us        cycles / clock_hz (h200_sm: comparable with latency_us_median)
    energy_uj         Summary "Energy" (placeholder model; h200_sm: one SM's tile x 132)
    computes          MACs Timeloop performed (one tile for h200_sm); checked
    spatial           the fixed spatial unrolling, e.g. "K32 C32"
    sm_split          h200_sm only: the split over the SMs, e.g. "N1 K128 P1 Q1"
    mapper_bound      "victory=V timeout=T seconds=S threads=H": the search's bound
    mapper_stopped    1 when the wall-clock bound stopped the search
    mapper_seconds    wall time of the search
"""

import csv
import glob
import json
import math
import os
import shutil
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

COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "arch", "dtype", "pes", "clock_hz", "macs", "ideal_cycles", "cycles", "cycles_over_ideal",
    "utilization_pct", "latency_us", "energy_uj", "computes", "spatial", "sm_split",
    "mapper_bound", "mapper_stopped", "mapper_seconds",
]

# Timeloop's CNN layer (its problem-shapes/cnn-layer.yaml), inline so no search path matters.
PROBLEM = """\
problem:
  shape:
    name: CNN-Layer
    dimensions: [R, S, P, Q, C, K, N]
    coefficients:
    - {{name: Wstride, default: 1}}
    - {{name: Hstride, default: 1}}
    - {{name: Wdilation, default: 1}}
    - {{name: Hdilation, default: 1}}
    data-spaces:
    - name: Weights
      projection: [[[C]], [[K]], [[R]], [[S]]]
    - name: Inputs
      projection: [[[N]], [[C]], [[R, Wdilation], [P, Wstride]], [[S, Hdilation], [Q, Hstride]]]
    - name: Outputs
      projection: [[[N]], [[K]], [[Q]], [[P]]]
      read-write: True
  instance: {{C: {C}, K: {K}, N: {N}, P: {P}, Q: {Q}, R: {R}, S: {S}, Wstride: {stride}, Hstride: {stride}}}
"""

MAPPER = """\
mapper:
  algorithm: random-pruned
  optimization-metrics: [delay, energy]
  live-status: False
  num-threads: {threads}
  timeout: {timeout}
  victory-condition: {victory}
  max-permutations-per-if-visit: 4
"""


class Arch:
    """One architecture: its v3 arch file, dtype, MACs a cycle, clock, SMs, mesh and bypass."""

    def __init__(self, name, text, dtype, pes, clock, sms, mesh, x_dims, y_dims, constraints):
        self.name, self.text, self.dtype, self.pes, self.clock = name, text, dtype, pes, clock
        self.sms, self.mesh, self.x_dims, self.y_dims = sms, mesh, x_dims, y_dims
        self.constraints = constraints   # (spatial target, fixed datatype/temporal lines)


def fail(message):
    print(f"timeloop_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(name, default):
    value = os.environ.get(name, str(default)).strip()
    if not (value.isdigit() and int(value) > 0):
        fail(f"{name} must be a positive integer (got {value!r})")
    return int(value)


def find_mapper():
    """timeloop-mapper: OUTRUN_TIMELOOP_MAPPER, PATH, then install-test-tools.sh's cache."""
    explicit = os.environ.get("OUTRUN_TIMELOOP_MAPPER")
    if explicit:
        if not os.access(explicit, os.X_OK):
            fail(f"OUTRUN_TIMELOOP_MAPPER={explicit!r} is not an executable")
        return explicit
    found = shutil.which("timeloop-mapper")
    if found:
        return found
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cached = sorted(glob.glob(os.path.join(cache, "outrun", "timeloop-*", "bin",
                                           "timeloop-mapper")))
    if cached:
        return cached[-1]
    fail("timeloop-mapper not found (OUTRUN_TIMELOOP_MAPPER, PATH, or "
         f"{cache}/outrun/timeloop-*/bin/): run scripts/install-test-tools.sh, which builds "
         "Timeloop v3.0.3 from ../shared/vendor/timeloop-v3.0.3.tar.gz")


def arch_settings(name):
    if name not in ("array32", "h200_sm"):
        fail(f"OUTRUN_P_ARCH must be array32 or h200_sm (got {name!r})")
    with open(os.path.join(ARCH_DIR, f"{name}.yaml")) as f:
        text = f.read()
    if name == "array32":
        fixed = [
            "- {target: weight_reg, type: datatype, keep: [Weights], bypass: [Inputs, Outputs]}",
            "- {target: global_buffer, type: datatype, keep: [Inputs, Outputs], "
            "bypass: [Weights]}",
            # weight-stationary: a PE's one weight stays while it streams N, P, Q
            "- {target: weight_reg, type: temporal, factors: K1 C1 R1 S1}",
        ]
        return Arch(name, text, "int8", 1024, 1e9, 1, (32, 32), ["K"], ["C", "R", "S"],
                    ("global_buffer", fixed))
    if name == "h200_sm":
        with open(os.path.join(MEASURED, "peaks.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(MEASURED, "meta.json")) as f:
            sms = int(json.load(f)["sms"])
        lanes = 64 * 32
        mac_per_s = next(float(r["value"]) * 1e12 for r in rows
                         if r["kind"] == "matmul" and r["dtype"] == "float16") / 2
        copy_bytes_per_s = next(float(r["value"]) * 1e9 for r in rows if r["kind"] == "copy")
        clock = mac_per_s / (sms * lanes)
        words_per_cycle = copy_bytes_per_s / sms / clock / 2   # 2-byte float16 words
        text = text.replace("{hbm_words_per_cycle}", f"{words_per_cycle:.4f}")
        return Arch(name, text, "float16", sms * lanes, clock, sms, (64, 32),
                    ["K", "P", "Q", "N"], ["C", "R", "S"], ("shared_memory", []))


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def fill_axis(dims, names, cap):
    """{dim: factor} for the dims on one mesh axis: exact divisors (Timeloop v3 factors divide
    the dimension), product <= cap, as large as possible; ties go to the earlier dims."""
    best = (0, ())
    def walk(i, product, chosen):
        nonlocal best
        if i == len(names):
            key = (product, tuple(chosen))
            if key > best:
                best = key
            return
        for d in divisors(dims[names[i]]):
            if product * d <= cap:
                walk(i + 1, product * d, chosen + [d])
    walk(0, 1, [])
    return dict(zip(names, best[1]))


def spatial(arch, dims):
    """(constraint line, label) fixing the spatial unrolling of this layer on the mesh."""
    x = fill_axis(dims, arch.x_dims, arch.mesh[0])
    y = fill_axis(dims, arch.y_dims, arch.mesh[1])
    factors = {d: 1 for d in "RSPQCKN"}
    factors.update(x)
    factors.update(y)
    order = arch.x_dims + arch.y_dims + [d for d in "RSPQCKN"
                                         if d not in arch.x_dims + arch.y_dims]
    line = ("- {target: %s, type: spatial, factors: %s, permutation: %s, split: %d}"
            % (arch.constraints[0], " ".join(f"{d}{factors[d]}" for d in order),
               "".join(order), len(arch.x_dims)))
    label = " ".join(f"{d}{f}" for d, f in list(x.items()) + list(y.items()) if f > 1) or "1"
    return line, label


def params():
    return dict(
        arch=os.environ.get("OUTRUN_P_ARCH", ""),
        n=resnet50_shapes.env_batch(fail, default=1),
        layers=resnet50_shapes.env_layers(fail),
        victory=positive_int("OUTRUN_P_VICTORY", 100),
        timeout=positive_int("OUTRUN_P_TIMEOUT", 2000),
        threads=positive_int("OUTRUN_P_THREADS", 1),
        layer_seconds=positive_int("OUTRUN_P_LAYER_SECONDS", 8),
        out=resnet50_shapes.env_out(fail),
    )


def run_mapper(mapper_bin, workdir, arch, dims, p):
    """Write the layer's v3 input files, run timeloop-mapper, return (stats, spatial, stopped)."""
    os.makedirs(workdir, exist_ok=True)
    line, label = spatial(arch, dims)
    files = {
        "arch.yaml": arch.text,
        "problem.yaml": PROBLEM.format(**dims),
        "mapper.yaml": MAPPER.format(threads=p["threads"], timeout=p["timeout"],
                                     victory=p["victory"]),
        "constraints.yaml": "mapspace:\n  constraints:\n"
        + "".join(f"  {c}\n" for c in arch.constraints[1] + [line]),
    }
    for name, text in files.items():
        with open(os.path.join(workdir, name), "w") as f:
            f.write(text)
    log = os.path.join(workdir, "timeloop-mapper.log")
    with open(log, "w") as logf:
        proc = subprocess.Popen([mapper_bin, *files], cwd=workdir, stdout=logf,
                                stderr=subprocess.STDOUT)
        stopped = False
        try:
            code = proc.wait(timeout=p["layer_seconds"])
        except subprocess.TimeoutExpired:
            # SIGINT makes timeloop-mapper stop searching and write its best mapping so far.
            stopped = True
            # One SIGINT only: a second makes v3.0.3 abandon the evaluation under way and then
            # fail an assertion (is_evaluated_) instead of writing the best mapping.
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError("timeloop-mapper ignored SIGINT for 300 s and was killed")
    stats = os.path.join(workdir, "timeloop-mapper.stats.txt")
    if code != 0 and not (stopped and os.path.exists(stats)):
        raise RuntimeError(f"timeloop-mapper exited with {code}; see {log}")
    if not os.path.exists(stats):
        raise RuntimeError(f"timeloop-mapper wrote no stats (no valid mapping?); see {log}")
    return timeloop_parse.parse_file(stats), label, stopped


def main():
    p = params()
    arch = arch_settings(p["arch"])
    mapper_bin = find_mapper()
    bound = "victory={victory} timeout={timeout} seconds={layer_seconds} threads={threads}" \
        .format(**p)
    rows = []
    n = p["n"]
    for index, s in enumerate(p["layers"]):
        macs = resnet50_shapes.macs(s, n)
        split = resnet50_shapes.split_over(s, n, arch.sms) if arch.sms > 1 else (1, 1, 1, 1)
        tn, tk, tp, tq = resnet50_shapes.tile(s, n, split)
        tile_macs = tn * tk * tp * tq * s.C * s.R * s.S
        dims = dict(C=s.C, K=tk, N=tn, P=tp, Q=tq, R=s.R, S=s.S, stride=s.stride)
        start = time.monotonic()
        try:
            stats, label, stopped = run_mapper(
                mapper_bin, os.path.join(p["out"], "timeloop", f"{index:02d}-{s.layer}"),
                arch, dims, p)
        except Exception as e:  # noqa: BLE001 - name the layer, then fail the cell
            fail(f"Timeloop failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        if stats.get("computes") != tile_macs:
            fail(f"{s.layer}: Timeloop counts {stats.get('computes')} MACs, expected {tile_macs}")
        ideal = math.ceil(macs / arch.pes)
        cycles = stats["cycles"]
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            arch.name, arch.dtype, arch.pes, f"{arch.clock:.6g}", macs, ideal, cycles,
            f"{cycles / ideal:.4f}", f"{stats['utilization_pct']:.2f}",
            f"{cycles / arch.clock * 1e6:.4f}", f"{stats['energy_uj'] * arch.sms:.2f}",
            stats["computes"], label,
            "N{} K{} P{} Q{}".format(*split) if arch.sms > 1 else "", bound, int(stopped),
            f"{seconds:.1f}",
        ])
        print(f"{s.layer}: {cycles} cycles (ideal {ideal}), spatial {label}, "
              f"{seconds:.0f} s{' (stopped at the time bound)' if stopped else ''}", flush=True)

    with open(os.path.join(p["out"], "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"Timeloop {arch.name} N={n}: {len(rows)} layers")


if __name__ == "__main__":
    main()
