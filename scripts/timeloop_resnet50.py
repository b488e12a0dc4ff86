#!/usr/bin/env python3
"""Timeloop v3.0.3 cycles of ResNet-50 convolutions (timeloop-mapper and timeloop-model).

Needs Timeloop v3.0.3's `timeloop-mapper` and `timeloop-model` beside it:
OUTRUN_TIMELOOP_MAPPER, else on PATH, else in the cache scripts/install-test-tools.sh builds it
into (${XDG_CACHE_HOME:-~/.cache}/outrun/timeloop-*/bin/); timeloop-model is looked up the same
way (OUTRUN_TIMELOOP_MODEL, PATH, next to the mapper). It is given Timeloop's v3 input format
(`arch: {arithmetic, storage}`, `problem: {shape, instance}`, `mapping:` / `mapspace:`,
`mapper:`); no Accelergy, so energy comes from Timeloop's placeholder model and is relative.

One outrun cell: one architecture and one batch size (optionally a layer subset), all taken
from the environment.

    OUTRUN_P_ARCH       array32 | array32-os | h200   (scripts/timeloop_arch/*.yaml; both
                        array32 values use array32.yaml: weight- and output-stationary)
    OUTRUN_P_BATCH      optional, default 1: batch size N
    OUTRUN_P_LAYERS     optional, default all 23: comma-separated layer names, indices or
                        index ranges (`0-5`)
    OUTRUN_OUT          an empty directory owned by this script; results.csv is written there,
                        each layer's Timeloop input and output under timeloop/NN-LAYER/

array32, array32-os: the common 32x32 machine of issue 22 §2 (scripts/array32_machine.py,
scripts/timeloop_arch/array32.yaml; the same as ZigZag's and SCALE-Sim's): 1,024 int8 MACs a
cycle at 1 GHz, per PE a weight register (array32: weight-stationary, it keeps the weight while
N, P, Q stream by) or an accumulator (array32-os: output-stationary, it keeps the output while
C, R, S stream by), a 1 MiB global buffer keeping all tensors, DRAM at 32 B a cycle. Per layer
one planned mapping, evaluated by timeloop-model (deterministic; no search, no wall clock): the
unrolling of array32_machine.unrolling (columns K; rows C, R, S or Q, P, N, exact divisors, as
ZigZag is given), at DRAM the batch slices and output-channel chunks with the least DRAM
traffic whose tiles fit the buffer together (array32_plan), in the buffer the folds of the
array, in the PE the streamed loops (ws: the slice's pixels N, P, Q, as SCALE-Sim streams them;
os: the reduction C, R, S). timeloop-mapper is not used here: on this 1,024-PE array one of its
evaluations takes about a second on this machine (timeloop-model evaluates a mapping in
~0.1 s), so no search that a cell can afford visits enough of the space to matter.

h200: the whole chip (scripts/timeloop_arch/h200.yaml): HBM at the measured copy rate -> L2
(50 MiB, keeps all tensors) -> a 132-way SM fanout -> shared memory (keeps all tensors) ->
accumulators (keep Outputs only) -> 4 x 4 lanes an SM (X: K, Y: C), each standing for 128
float16 tensor-core MACs (a whole-chip evaluation with 270,336 single-MAC instances took 5 s of
CPU; with 2,112 lanes ~20 ms), so a Timeloop cycle is 1/128 of a cycle of the measured
tensor-core rate (clock_hz ~164 GHz). Per layer, two evaluations, both deterministic:

  cutlass   one mapping in the shape of a CUTLASS/cuDNN implicit-GEMM kernel, evaluated by
            timeloop-model: a threadblock tile of up to 128 output pixels (Q, P, N) x 128 output
            channels (K) held in the accumulators, the reduction in chunks of 32 input channels
            (C32; conv1: C3) for every filter tap (R, S) streamed through shared memory, the
            grid of tiles spread over up to 132 SMs (K first, then N, P, Q) and the rest in
            waves; the batch is cut into the fewest slices at the HBM level that let L2 hold a
            slice's inputs and outputs and all the weights (`hbm_slices`); permutations with the
            reduction (C, S, R) innermost at L2 and at HBM.
  search    timeloop-mapper on one thread (deterministic), over the whole constrained mapspace
            (linear-pruned, victory 0, timeout 0; search_done = 1) when it has at most
            EXHAUSTIVE_MAX mappings, else random-pruned (victory 100, timeout 15000); not run
            where the CUTLASS mapping meets the compulsory bound. Constrained as above (keep/bypass, every permutation, the MAC
            unrolling, the reduction chunks and the HBM slices fixed); open: how the output
            dims N, P, Q, K split between the threadblock tile (accumulator), the SM fanout and
            the waves. The CUTLASS mapping is one point of that space.

  The row's cycles are the better of the two (`mapping` says which: cutlass wins ties).

A 1x1 convolution with stride 2 is given to Timeloop as a stride-1 1x1 convolution on the
subsampled input (P x Q pixels): exact in the channels-last (NHWC) layout the H200 measured,
where the kernel reads C contiguous values at each used pixel and never the others. Without it
Timeloop projects the input as a dense box with the stride's gaps (4x the pixels).

Outputs, one row per layer (keys layer, N, arch; shape columns as in
data/measured/h200/resnet50_conv_latency.csv):

    arch, dtype       the architecture and its operand type (int8, float16)
    pes               MACs per cycle of the whole architecture (array32 1024; h200 132 x 16
                      lanes)
    clock_hz          the cycle the counts are in (array32 1 GHz; h200: measured MAC rate /
                      (132 x 16), 128 x the tensor cores' effective 1.28 GHz)
    macs              N*K*P*Q*C*R*S of the layer
    ideal_cycles      ceil(macs / pes): the floor for this architecture
    cycles            Summary "Cycles" of the chosen mapping
    cycles_over_ideal, utilization_pct (Summary "Utilization")
    latency_us        cycles / clock_hz (h200: comparable with latency_us_median)
    energy_uj         Summary "Energy" (placeholder model)
    computes          MACs Timeloop performed; checked against macs
    spatial           array32: the fixed spatial unrolling, e.g. "K32 C32" (os: "K32 Q8 P4");
                      h200: the lane unrolling of an SM, e.g. "K4 C4"
    mapper_bound      the search's settings: array32 "none: one planned mapping
                      (timeloop-model)"; h200 e.g. "linear-pruned victory=0 timeout=0 threads=1"
    mapper_stopped    0 (no wall-clock bound decides a result)
    h200 only:
    mapping           which mapping gave `cycles`: cutlass | search
    tile              the winning mapping: threadblock tile (N P Q K), SMs used, waves,
                      HBM slices, e.g. "tile N1 P7 Q14 K128 | sms 4 | waves 1 | hbm 1"
    cutlass_cycles    timeloop-model's cycles for the CUTLASS-shaped mapping
    search_cycles     timeloop-mapper's best cycles over the constrained space
    search_space      the constrained mapspace's size (Timeloop's IndexFactorization count)
    search_visited    mappings the search evaluated ("total/valid" at its last valid one)
    search_done       1 when the mapper enumerated the whole space
    bound_cycles      the compulsory bound: max(ceil(macs / pes), (input values the layer reads
                      + weights + outputs) / HBM words a cycle), inputs counted once (the used
                      pixels of a strided 1x1 conv), in the same cycles
    bound_us          bound_cycles / clock_hz
    launch_floor_us   the per-call launch/dispatch floor, a constant from a separate measurement:
                      the whole ResNet-50 forward pass at N = 1 in float16
                      (data/measured/h200/resnet50_forward_latency.csv, launch-bound: the same at
                      N = 1, 8, 32) divided by the 174 eager operations it dispatches (53 conv,
                      53 batch-norm, 49 ReLU, 16 add, max-pool, avg-pool, linear)
    latency_floor_us  max(latency_us, launch_floor_us): back-to-back calls take the longer of
                      the kernel and the host's dispatch of the next one
    bound_floor_us    max(bound_us, launch_floor_us)
"""

import csv
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import array32_machine  # noqa: E402
import resnet50_shapes  # noqa: E402
import timeloop_parse  # noqa: E402

ARCH_DIR = os.path.join(HERE, "timeloop_arch")
MEASURED = os.path.join(HERE, "..", "data", "measured", "h200")

COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "arch", "dtype", "pes", "clock_hz", "macs", "ideal_cycles", "cycles", "cycles_over_ideal",
    "utilization_pct", "latency_us", "energy_uj", "computes", "spatial",
    "mapper_bound", "mapper_stopped", "mapping", "tile", "cutlass_cycles", "search_cycles",
    "search_space", "search_visited", "search_done", "bound_cycles", "bound_us",
    "launch_floor_us", "latency_floor_us", "bound_floor_us",
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

# h200's search, one thread (so deterministic: Timeloop's random engine has a fixed seed):
# the whole constrained space in a fixed order when it has at most EXHAUSTIVE_MAX mappings,
# else random-pruned with the exercises' timeout and permutations a visit
# (timeloop-accelergy-exercises: victory 500-3000, timeout 15000, 16) but victory 100: one
# whole-chip evaluation takes ~20 ms of CPU, and 92 rows at victory 500 took hours on the
# shared 2-core machine. Where the CUTLASS mapping already meets the compulsory bound, no
# mapping can do better and the search is not run (mapper_bound says so).
EXHAUSTIVE_MAX = 1000
SEARCH = {
    "exhaustive": ("linear-pruned", 0, 0, 16),
    "random": ("random-pruned", 100, 15000, 16),
}
SEARCH_YAML = """\
mapper:
  algorithm: {0}
  optimization-metrics: [delay, energy]
  live-status: False
  num-threads: 1
  victory-condition: {1}
  timeout: {2}
  max-permutations-per-if-visit: {3}
  log-stats: True
"""


def search_label(kind):
    algorithm, victory, timeout, perms = SEARCH[kind]
    return f"{algorithm} victory={victory} timeout={timeout} threads=1"


def ordered_factorizations(n, slots):
    """How many ways n splits into `slots` ordered factors."""
    if slots == 1:
        return 1
    return sum(ordered_factorizations(n // d, slots - 1) for d in divisors(n))

DIMS = "RSPQCKN"
L2_WORDS = 51200 * 1024 // 2          # scripts/timeloop_arch/h200.yaml: 50 MiB of float16
SMS = 132
MESH = (4, 4)                         # an SM's Timeloop lanes: X over K, Y over C (R, S)
LANE_MACS = 128                       # MACs each lane stands for (4 x 4 x 128 = 2048)
CHUNK_C = 32                          # the reduction chunk (CUTLASS's k-tile)
TILE_M, TILE_K = 128, 128             # the CUTLASS threadblock tile (output pixels x channels)
EAGER_OPS = 174                       # ResNet-50's forward: ops dispatched in eager mode


class Arch:
    """One architecture: its v3 arch file, dtype, MACs a cycle, clock and HBM rate."""

    def __init__(self, name, text, dtype, pes, clock, words_per_cycle=None, floor_us=None):
        self.name, self.text, self.dtype, self.pes, self.clock = name, text, dtype, pes, clock
        self.words_per_cycle, self.floor_us = words_per_cycle, floor_us


def fail(message):
    print(f"timeloop_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(name, default):
    value = os.environ.get(name, str(default)).strip()
    if not (value.isdigit() and int(value) > 0):
        fail(f"{name} must be a positive integer (got {value!r})")
    return int(value)


def find_tool(tool, env, beside=None):
    """A Timeloop binary: $env, PATH, next to `beside`, then install-test-tools.sh's cache."""
    explicit = os.environ.get(env)
    if explicit:
        if not os.access(explicit, os.X_OK):
            fail(f"{env}={explicit!r} is not an executable")
        return explicit
    found = shutil.which(tool)
    if found:
        return found
    if beside:
        near = os.path.join(os.path.dirname(beside), tool)
        if os.access(near, os.X_OK):
            return near
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cached = sorted(glob.glob(os.path.join(cache, "outrun", "timeloop-*", "bin", tool)))
    if cached:
        return cached[-1]
    fail(f"{tool} not found ({env}, PATH, or {cache}/outrun/timeloop-*/bin/): run "
         "scripts/install-test-tools.sh, which builds Timeloop v3.0.3")


def find_mapper():
    return find_tool("timeloop-mapper", "OUTRUN_TIMELOOP_MAPPER")


def launch_floor_us():
    """The forward pass at N = 1 (float16) over the operations it dispatches, in µs."""
    with open(os.path.join(MEASURED, "resnet50_forward_latency.csv"), newline="") as f:
        row = next(r for r in csv.DictReader(f)
                   if r["model"] == "resnet50" and r["N"] == "1" and r["dtype"] == "float16")
    convs = len(list(resnet50_shapes.resnet50_convs()))
    blocks = 16
    ops = 2 * convs + (1 + 3 * blocks) + blocks + 3    # conv+bn, relu, add, pools + linear
    assert ops == EAGER_OPS, ops
    return float(row["latency_us_median"]) / ops


def arch_settings(name):
    if name not in ARRAY32 and name != "h200":
        fail(f"OUTRUN_P_ARCH must be array32, array32-os or h200 (got {name!r})")
    with open(os.path.join(ARCH_DIR, "array32.yaml" if name in ARRAY32 else f"{name}.yaml")) as f:
        text = f.read()
    if name in ARRAY32:
        return Arch(name, text, "int8", array32_machine.PES, array32_machine.CLOCK_HZ)
    with open(os.path.join(MEASURED, "peaks.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(MEASURED, "meta.json")) as f:
        if int(json.load(f)["sms"]) != SMS:
            fail("data/measured/h200/meta.json: expected 132 SMs")
    lanes = MESH[0] * MESH[1] * LANE_MACS
    mac_per_s = next(float(r["value"]) * 1e12 for r in rows
                     if r["kind"] == "matmul" and r["dtype"] == "float16") / 2
    copy_bytes_per_s = next(float(r["value"]) * 1e9 for r in rows if r["kind"] == "copy")
    # Timeloop's cycle: one MAC a lane, so LANE_MACS of them make one tensor-core cycle.
    clock = mac_per_s / (SMS * MESH[0] * MESH[1])
    words_per_cycle = copy_bytes_per_s / clock / 2   # 2-byte float16 words
    text = text.replace("{hbm_words_per_cycle}", f"{words_per_cycle:.4f}")
    return Arch(name, text, "float16", SMS * MESH[0] * MESH[1], clock, words_per_cycle,
                launch_floor_us())


divisors = array32_machine.divisors
fill_axis = array32_machine.fill_axis


def factor_string(factors):
    return " ".join(f"{d}{factors.get(d, 1)}" for d in DIMS)


# --- array32: the common 32x32 machine, one planned mapping evaluated by timeloop-model -----

ARRAY32 = {"array32": "ws", "array32-os": "os"}
BUFFER_WORDS = array32_machine.BUFFER_KIB * 1024      # int8: a word a byte
ARRAY32_SEARCH = "none: one planned mapping (timeloop-model)"


def array32_plan(dataflow, d):
    """The mapping's loop bounds: the unrolling (cols, rows), the DRAM loops (batch slices h,
    output-channel chunks k, and which is inner) chosen for the least DRAM traffic among those
    whose tiles fit the 1 MiB buffer together, then the buffer's folds and the PE's loops."""
    cols, rows = array32_machine.unrolling(dataflow, d)
    h_in, w_in = input_box(d)
    weights = d["K"] * d["C"] * d["R"] * d["S"]
    best = None
    for h in divisors(d["N"] // rows.get("N", 1)):
        n = d["N"] // h
        inputs, outputs = n * d["C"] * h_in * w_in, n * d["K"] * d["P"] * d["Q"]
        for k in divisors(d["K"] // cols["K"]):
            if inputs + (weights + outputs) // k > BUFFER_WORDS:
                continue
            # K inner: a slice's inputs stay while the weight chunks pass (weights h times);
            # N inner: a weight chunk stays while the slices pass (inputs k times).
            for traffic, k_inner in ((inputs * h + weights * h, True),
                                     (inputs * h * k + weights, False)):
                key = (traffic, h * k, not k_inner)
                if best is None or key < best[0]:
                    best = (key, h, k, k_inner)
    if best is None:
        raise RuntimeError("no batch slice and channel chunk fits the 1 MiB buffer")
    _, h, k, k_inner = best
    n = d["N"] // h
    folds = {"K": d["K"] // cols["K"] // k}
    if dataflow == "ws":      # the PE streams the slice's pixels past its weight
        pe = {"N": n, "P": d["P"], "Q": d["Q"]}
        folds.update({x: d[x] // rows.get(x, 1) for x in "CRS"})
    else:                     # the PE reduces C, R, S into its output
        pe = {"C": d["C"], "R": d["R"], "S": d["S"]}
        folds.update({x: ({"N": n}.get(x, d[x])) // rows.get(x, 1) for x in "QPN"})
    return dict(cols=cols, rows=rows, h=h, k=k, k_inner=k_inner, folds=folds, pe=pe)


def array32_mapping(dataflow, plan):
    """timeloop-model's mapping (v3 `mapping:` list) for the plan."""
    ones = factor_string({})
    spatial = {**plan["cols"], **plan["rows"]}
    order = "".join(list(plan["cols"]) + list(plan["rows"])
                    + [x for x in DIMS if x not in spatial])
    if dataflow == "ws":
        reg, keep, idle, pe_perm, fold_perm = "weight_reg", "Weights", "accumulator", \
            "QPNCKRS", "SRCKQPN"
    else:
        reg, keep, idle, pe_perm, fold_perm = "accumulator", "Outputs", "weight_reg", \
            "CSRKQPN", "KQPNCSR"
    others = ", ".join(t for t in ("Weights", "Inputs", "Outputs") if t != keep)
    dram = {"N": plan["h"], "K": plan["k"]}
    return [
        "- {target: weight_reg, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["pe"]) if reg == "weight_reg" else ones, pe_perm),
        "- {target: accumulator, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["pe"]) if reg == "accumulator" else ones, pe_perm),
        "- {target: global_buffer, type: spatial, factors: %s, permutation: %s, split: %d}"
        % (" ".join(f"{x}{spatial.get(x, 1)}" for x in order), order, len(plan["cols"])),
        "- {target: global_buffer, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["folds"]), fold_perm),
        "- {target: DRAM, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(dram), "KNCPQRS" if plan["k_inner"] else "NKCPQRS"),
        "- {target: %s, type: datatype, keep: [%s], bypass: [%s]}" % (reg, keep, others),
        "- {target: %s, type: datatype, keep: [], bypass: [Weights, Inputs, Outputs]}" % idle,
        "- {target: global_buffer, type: datatype, keep: [Weights, Inputs, Outputs], bypass: []}",
        "- {target: DRAM, type: datatype, keep: [Weights, Inputs, Outputs], bypass: []}",
    ]


def run_array32(tools, workdir, arch, dims):
    """Evaluate the layer's planned mapping with timeloop-model; return (stats, spatial)."""
    dataflow = ARRAY32[arch.name]
    plan = array32_plan(dataflow, dims)
    stats, _ = run_tool(tools["model"], workdir, {
        "arch.yaml": arch.text, "problem.yaml": PROBLEM.format(**dims),
        "mapping.yaml": "mapping:\n" + "".join(f"  {c}\n" for c in array32_mapping(dataflow, plan)),
    }, "timeloop-model")
    return stats, array32_machine.label(plan["cols"], plan["rows"])


def write_files(workdir, files):
    os.makedirs(workdir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(workdir, name), "w") as f:
            f.write(text)


# --- h200: the whole chip, a CUTLASS-shaped mapping and an exhaustive constrained search -----

def effective_dims(s, n):
    """The problem Timeloop is given: a strided 1x1 conv becomes a stride-1 1x1 conv on the
    subsampled input (exact in NHWC: only every stride-th pixel is read)."""
    t = resnet50_shapes.subsampled(s)
    return dict(C=t.C, K=t.K, N=n, P=t.P, Q=t.Q, R=t.R, S=t.S, stride=t.stride)


def input_box(d):
    """(rows, cols) of the input Timeloop reads for the whole layer: (P-1)*stride + R."""
    return (d["P"] - 1) * d["stride"] + d["R"], (d["Q"] - 1) * d["stride"] + d["S"]


def hbm_slices(d):
    """The fewest batch slices (a divisor of N) whose inputs and outputs, with all the
    weights, fit in L2: the HBM level's only loop."""
    h_in, w_in = input_box(d)
    weights = d["K"] * d["C"] * d["R"] * d["S"]
    for h in divisors(d["N"]):
        n = d["N"] // h
        if n * d["C"] * h_in * w_in + weights + n * d["K"] * d["P"] * d["Q"] <= L2_WORDS:
            return h
    raise RuntimeError("one image does not fit in L2")


def h200_plan(d):
    """The fixed parts of every h200 mapping and the CUTLASS-shaped choice of the open ones.
    Returns dict(mac, chunk, hbm, tile, sms, waves): {dim: factor} each."""
    mac = {**fill_axis(d, ["K"], MESH[0]), **fill_axis(d, ["C", "S", "R"], MESH[1])}
    inner_c = fill_axis({"C": d["C"] // mac["C"]}, ["C"], CHUNK_C // mac["C"])["C"]
    chunk = {"C": d["C"] // mac["C"] // inner_c, "R": d["R"] // mac["R"],
             "S": d["S"] // mac["S"]}                # the reduction loop at L2
    hbm = {"N": hbm_slices(d)}
    rest = {"N": d["N"] // hbm["N"], "P": d["P"], "Q": d["Q"], "K": d["K"] // mac["K"]}
    tile = fill_axis(rest, ["Q", "P", "N"], TILE_M)
    tile.update(fill_axis(rest, ["K"], TILE_K // mac["K"]))
    rest = {x: rest[x] // tile[x] for x in rest}
    tile["C"] = inner_c                              # the chunk's channels beyond the lanes
    sms = fill_axis(rest, ["K", "N", "P", "Q"], SMS)
    waves = {x: rest[x] // sms[x] for x in rest}
    return dict(mac=mac, chunk=chunk, hbm=hbm, tile=tile, sms=sms, waves=waves)


# Permutations, innermost first: the reduction innermost at L2 and HBM.
PERM_L2 = "CSRKQPN"
PERM_HBM = "CSRKQPN"
PERM_ACC = "KQPNCSR"
DATATYPES = [
    ("accumulator", ["Outputs"], ["Weights", "Inputs"]),
    ("shared_memory", ["Weights", "Inputs", "Outputs"], []),
    ("L2", ["Weights", "Inputs", "Outputs"], []),
    ("HBM", ["Weights", "Inputs", "Outputs"], []),
]


def datatype_lines():
    return ["- {target: %s, type: datatype, keep: [%s], bypass: [%s]}"
            % (t, ", ".join(k), ", ".join(b)) for t, k, b in DATATYPES]


def mac_line(plan):
    mac = plan["mac"]
    return ("- {target: accumulator, type: spatial, factors: %s, permutation: KCSRPQN, split: 1}"
            % factor_string(mac))


def cutlass_mapping(plan):
    """timeloop-model's mapping (v3 `mapping:` list) for the CUTLASS-shaped plan."""
    l2_t = {**plan["chunk"], **plan["waves"]}
    return [
        mac_line(plan),
        "- {target: accumulator, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["tile"]), PERM_ACC),
        "- {target: shared_memory, type: temporal, factors: %s, permutation: %s}"
        % (factor_string({}), PERM_ACC),
        "- {target: L2, type: spatial, factors: %s, permutation: KNPQCRS, split: 7}"
        % factor_string(plan["sms"]),
        "- {target: L2, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(l2_t), PERM_L2),
        "- {target: HBM, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["hbm"]), PERM_HBM),
    ] + datatype_lines()


def search_constraints(plan, d):
    """timeloop-mapper's constraints: everything of the plan fixed but the split of N, P, Q, K
    between the tile (accumulator), the SM fanout and the waves (L2 temporal)."""
    fixed_red = " ".join(f"{x}{plan['chunk'][x]}" for x in "CRS")
    return [
        mac_line(plan),
        "- {target: accumulator, type: temporal, factors: C%d R1 S1, permutation: %s}"
        % (plan["tile"]["C"], PERM_ACC),
        "- {target: shared_memory, type: temporal, factors: %s, permutation: %s}"
        % (factor_string({}), PERM_ACC),
        "- {target: L2, type: spatial, factors: C1 R1 S1, permutation: KNPQCRS, split: 7}",
        "- {target: L2, type: temporal, factors: %s, permutation: %s}" % (fixed_red, PERM_L2),
        "- {target: HBM, type: temporal, factors: %s, permutation: %s}"
        % (factor_string(plan["hbm"]), PERM_HBM),
    ] + datatype_lines()


def run_tool(binary, workdir, files, prefix):
    write_files(workdir, files)
    log = os.path.join(workdir, f"{prefix}.log")
    with open(log, "w") as logf:
        code = subprocess.call([binary, *files], cwd=workdir, stdout=logf,
                               stderr=subprocess.STDOUT)
    stats = os.path.join(workdir, f"{prefix}.stats.txt")
    if code != 0 or not os.path.exists(stats):
        raise RuntimeError(f"{os.path.basename(binary)} exited with {code} and "
                           f"{'no stats' if not os.path.exists(stats) else 'stats'}; see {log}")
    with open(log) as f:
        return timeloop_parse.parse_file(stats), f.read()


def map_factors(path):
    """{level name: {'t': {dim: f}, 's': {dim: f}}} from a timeloop *.map.txt (v3 text form:
    `HBM [ ... ]` headers then `| for N in [0:4)` / `|   for K in [0:2) (Spatial-X)` lines)."""
    levels, current = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\w+) \[", line)
            if m:
                current = levels.setdefault(m.group(1), {"t": {}, "s": {}})
                continue
            m = re.search(r"for (\w) in \[0:(\d+)[^)]*\)( \(Spatial)?", line)
            if m and current is not None:
                kind = "s" if m.group(3) else "t"
                current[kind][m.group(1)] = current[kind].get(m.group(1), 1) * int(m.group(2))
    return levels


def describe(levels):
    """`tile N1 P7 Q14 K128 | sms 4 | waves 1 | hbm 1` from map_factors()."""
    acc, l2, hbm = (levels.get(x, {"t": {}, "s": {}}) for x in ("accumulator", "L2", "HBM"))
    tile = {x: acc["t"].get(x, 1) * acc["s"].get(x, 1) for x in "NPQK"}
    sms = math.prod(l2["s"].values()) if l2["s"] else 1
    waves = math.prod(l2["t"].get(x, 1) for x in "NPQK")
    return "tile N{N} P{P} Q{Q} K{K} | sms {s} | waves {w} | hbm {h}".format(
        **tile, s=sms, w=waves, h=math.prod(hbm["t"].values()) if hbm["t"] else 1)


def bound_cycles(s, n, arch):
    """max(compute at full rate, compulsory HBM traffic at the measured rate), in cycles."""
    t = resnet50_shapes.subsampled(s)               # a strided 1x1 reads P x Q pixels only
    words = n * s.C * t.H * t.W + s.K * s.C * s.R * s.S + n * s.K * s.P * s.Q
    return max(math.ceil(resnet50_shapes.macs(s, n) / arch.pes),
               math.ceil(words / arch.words_per_cycle))


def run_h200(tools, workdir, arch, d, bound):
    """Evaluate the CUTLASS mapping and run the search; the better one and both numbers."""
    plan = h200_plan(d)
    problem = PROBLEM.format(**d)
    model_dir = os.path.join(workdir, "cutlass")
    cut, _ = run_tool(tools["model"], model_dir, {
        "arch.yaml": arch.text, "problem.yaml": problem,
        "mapping.yaml": "mapping:\n" + "".join(f"  {c}\n" for c in cutlass_mapping(plan)),
    }, "timeloop-model")
    result = dict(best=cut, mapping="cutlass", tile=describe(map_factors_from_plan(plan)),
                  cutlass=cut["cycles"], search="", space="", visited="", done=0,
                  spatial=" ".join(f"{x}{plan['mac'][x]}" for x in "KCSR"
                                   if plan["mac"].get(x, 1) > 1))
    open_dims = {"N": d["N"] // plan["hbm"]["N"], "P": d["P"], "Q": d["Q"],
                 "K": d["K"] // plan["mac"]["K"]}
    space = math.prod(ordered_factorizations(v, 3) for v in open_dims.values())
    result["space"] = space
    if cut["cycles"] <= bound * (1 + 1e-5):
        result["label"] = "none: the CUTLASS mapping meets the compulsory bound"
        return result
    kind = "exhaustive" if space <= EXHAUSTIVE_MAX else "random"
    result["label"] = search_label(kind)
    search_dir = os.path.join(workdir, "search")
    found, log = run_tool(tools["mapper"], search_dir, {
        "arch.yaml": arch.text, "problem.yaml": problem,
        "mapper.yaml": SEARCH_YAML.format(*SEARCH[kind]),
        "constraints.yaml": "mapspace:\n  constraints:\n"
        + "".join(f"  {c}\n" for c in search_constraints(plan, d)),
    }, "timeloop-mapper")
    size = re.search(r"Mapspace Dimension \[IndexFactorization\] Size: (\d+)", log)
    if not size or int(size.group(1)) != space:
        raise RuntimeError(f"Timeloop's mapspace size {size and size.group(1)}, expected {space}")
    visits = re.findall(r"\] INVALID (\d+) (\d+) \d+", log)
    result.update(search=found["cycles"], done=int("search algorithm is done" in log),
                  visited="{}/{}".format(*visits[-1]) if visits else "")
    if found["cycles"] < cut["cycles"]:
        result.update(best=found, mapping="search", tile=describe(
            map_factors(os.path.join(search_dir, "timeloop-mapper.map.txt"))))
    return result


def map_factors_from_plan(plan):
    return {"accumulator": {"t": plan["tile"], "s": plan["mac"]},
            "L2": {"t": {**plan["chunk"], **plan["waves"]}, "s": plan["sms"]},
            "HBM": {"t": plan["hbm"], "s": {}}}


def params():
    return dict(
        arch=os.environ.get("OUTRUN_P_ARCH", ""),
        n=resnet50_shapes.env_batch(fail, default=1),
        layers=resnet50_shapes.env_layers(fail),
        out=resnet50_shapes.env_out(fail),
    )


def main():
    p = params()
    arch = arch_settings(p["arch"])
    mapper_bin = find_mapper()
    tools = {"mapper": mapper_bin,
             "model": find_tool("timeloop-model", "OUTRUN_TIMELOOP_MODEL", beside=mapper_bin)}
    rows = []
    n = p["n"]
    for index, s in enumerate(p["layers"]):
        macs = resnet50_shapes.macs(s, n)
        workdir = os.path.join(p["out"], "timeloop", f"{index:02d}-{s.layer}")
        start = time.monotonic()
        extra = [""] * 12
        try:
            if arch.name in ARRAY32:
                dims = dict(C=s.C, K=s.K, N=n, P=s.P, Q=s.Q, R=s.R, S=s.S, stride=s.stride)
                stats, label = run_array32(tools, workdir, arch, dims)
                stopped, row_bound = False, ARRAY32_SEARCH
            else:
                b = bound_cycles(s, n, arch)
                r = run_h200(tools, workdir, arch, effective_dims(s, n), b)
                stats, label, stopped, row_bound = r["best"], r["spatial"], False, r["label"]
                lat, b_us = stats["cycles"] / arch.clock * 1e6, b / arch.clock * 1e6
                extra = [r["mapping"], r["tile"], r["cutlass"], r["search"], r["space"],
                         r["visited"], r["done"], b, f"{b_us:.4f}", f"{arch.floor_us:.4f}",
                         f"{max(lat, arch.floor_us):.4f}", f"{max(b_us, arch.floor_us):.4f}"]
        except Exception as e:  # noqa: BLE001 - name the layer, then fail the cell
            fail(f"Timeloop failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        if stats.get("computes") != macs:
            fail(f"{s.layer}: Timeloop counts {stats.get('computes')} MACs, expected {macs}")
        ideal = math.ceil(macs / arch.pes)
        cycles = stats["cycles"]
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            arch.name, arch.dtype, arch.pes, f"{arch.clock:.6g}", macs, ideal, cycles,
            f"{cycles / ideal:.4f}", f"{stats['utilization_pct']:.2f}",
            f"{cycles / arch.clock * 1e6:.4f}", f"{stats['energy_uj']:.2f}",
            stats["computes"], label, row_bound, int(stopped), *extra,
        ])
        print(f"{s.layer}: {cycles} cycles (ideal {ideal}), {extra[0] or label} "
              f"{extra[1]}, {seconds:.0f} s{' (stopped at the time bound)' if stopped else ''}",
              flush=True)

    with open(os.path.join(p["out"], "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"Timeloop {arch.name} N={n}: {len(rows)} layers")


if __name__ == "__main__":
    main()
