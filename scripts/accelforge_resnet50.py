#!/usr/bin/env python3
"""AccelForge cycles, latency and energy of ResNet-50 convolutions on one architecture.

AccelForge (PyPI `accelforge`) is the Timeloop group's Python successor to Timeloop: it searches
the mappings of a tensor operation onto an architecture description and reports the best one's
latency and energy. This script asks for latency explicitly (spec.mapper.metrics = LATENCY; its
default metric is energy only).

One outrun cell: one architecture and one batch size (optionally a layer subset), from the
environment.

    OUTRUN_P_ARCH        h200 | eyeriss | nvdla | tpu_v4i | simple
                         h200: scripts/accelforge_arch/h200_sm.yaml (below); the others are
                         AccelForge's bundled examples (examples/arches/*.yaml in its wheel);
                         simple is a single MAC doing 1 MAC/s: a quick plumbing test
    OUTRUN_P_BATCH       optional, default 1: batch size N
    OUTRUN_P_LAYERS      optional, default all 23: comma-separated layer names, 0-based indices
                         or index ranges (`0-5`) into the distinct shapes
    OUTRUN_P_DTYPE       optional, default float16: float16 | float32; operand width (16 or 32
                         bits) and, for h200, the matmul peak row of peaks.csv
    OUTRUN_P_TIME_LIMIT  optional, default unlimited: the mapper's time_limit in seconds
    OUTRUN_P_JOBS        optional, default 1: AccelForge's parallel jobs (it forks one per core
                         otherwise)
    OUTRUN_OUT           an empty directory owned by this script: results.csv

Requires Python >= 3.12 (accelforge's source uses PEP 695 generics and PEP 701 f-strings
although its metadata says >= 3.8), `pip install -r scripts/requirements-accelforge.txt`, and
Graphviz's `dot` on PATH (`apt-get install graphviz`): the mapper writes mapping.svg of each
mapping into the working directory and fails without it, so this script chdirs into OUTRUN_OUT.

The H200 model (h200_sm.yaml). One SM: HBM through the L2 -> 228 KiB shared memory -> tensor
cores at 1/132 of the measured matmul peak. A strided 1x1 conv is given as a stride-1 1x1 conv on
the subsampled input (exact in NHWC, as for Timeloop). The layer is split into at most 132 equal
tiles over N, K, P and Q, each split a divisor of its loop (the split with the fewest MACs per
tile, then the least data per tile; column sm_split), AccelForge maps one tile onto the SM, and
the layer's latency is that tile's: all those SMs run at once. The tile's off-chip level
delivers at the measured HBM rate shared by the active SMs, times the split's L2 reuse (column
l2_reuse: the tiles' values all together over the layer's values once), because the L2 keeps
what one SM fetched for the SMs that share it. Not modelled: launch overhead, L2 capacity
misses. Mapping the whole chip as a 132-way spatial fanout did not map one layer in 280 s; this
tile model maps a layer in ~10-20 s. Energies in h200_sm.yaml are placeholders.

Outputs, one row per layer (keys: layer, N, arch; shape columns as in
data/measured/h200/resnet50_conv_latency.csv, so rows join with it on layer, N and dtype):

    arch, dtype      the architecture and operand type
    macs             N*K*P*Q*C*R*S of the layer
    pes              MACs per cycle of the whole architecture (h200: the measured peak MAC rate
                     / clock_hz; eyeriss 168, nvdla 6144, tpu_v4i 65536, simple 1)
    clock_hz         the clock the cycles are counted in (h200: 1.98 GHz boost; eyeriss 200 MHz,
                     nvdla 1 GHz, tpu_v4i 1.05 GHz, as their descriptions state; simple 1 Hz)
    ideal_cycles     ceil(macs / pes): the floor for this array
    cycles           latency_s * clock_hz
    cycles_over_ideal
    latency_s, latency_us   AccelForge's latency of the best mapping (h200: comparable with
                     latency_us_median of the measured file)
    energy           AccelForge's energy of that mapping: joules (simple: its abstract units;
                     h200: placeholder energies)
    bottleneck       the component with the largest latency
    sm_split         h200 only: how the layer was split over the SMs, e.g. "N1 K4 P8 Q4"
    l2_reuse         h200 only: how many times over the tiles read the layer's values
    mapper_seconds   wall time of the search
"""

import csv
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resnet50_shapes  # noqa: E402

MEASURED = os.path.join(HERE, "..", "data", "measured", "h200")
H200_CLOCK_HZ = 1.98e9   # H200 SXM maximum boost clock
BITS = {"float16": 16, "float32": 32}
# name: (PEs = MACs per cycle, clock in Hz) for AccelForge's bundled examples.
BUNDLED = {
    "eyeriss": (14 * 12, 200e6),
    "nvdla": (32 * 192, 1e9),
    "tpu_v4i": (4 * 128 * 128, 1.05e9),
    "simple": (1, 1.0),
}
ARCHES = ("h200",) + tuple(BUNDLED)
COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "dtype", "arch", "macs", "pes", "clock_hz", "ideal_cycles", "cycles", "cycles_over_ideal",
    "latency_s", "latency_us", "energy", "bottleneck", "sm_split", "l2_reuse", "mapper_seconds",
]

WORKLOAD = """\
renames:
  einsums:
  - name: default
    tensor_accesses:
    - {{name: input, source: Inputs & Intermediates, expected_count: 1}}
    - {{name: output, source: Outputs, expected_count: 1}}
    - {{name: weight, source: ~(input | output), expected_count: 1}}
workload:
  bits_per_value: {{All: {bits}}}
  einsums:
  - einsum: "O[n, m, p, q] = I[n, c, H: p * {stride} + r, W: q * {stride} + s] * Wt[c, m, r, s]"
    iteration_space_shape:
    - 0 <= n < {N}
    - 0 <= p < {P}
    - 0 <= q < {Q}
    - 0 <= c < {C}
    - 0 <= m < {K}
    - 0 <= r < {R}
    - 0 <= s < {S}
    renames: {{output: O, input: I, weight: Wt}}
"""


def fail(message):
    print(f"accelforge_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def h200_parameters(dtype):
    """(jinja data for h200_sm.yaml, SM count, chip MACs per second, chip HBM bits per second)."""
    with open(os.path.join(MEASURED, "peaks.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(MEASURED, "meta.json")) as f:
        sms = int(json.load(f)["sms"])
    mac_per_s = next(float(r["value"]) * 1e12 for r in rows
                     if r["kind"] == "matmul" and r["dtype"] == dtype) / 2
    copy_bytes_per_s = next(float(r["value"]) * 1e9 for r in rows if r["kind"] == "copy")
    data = {"MAC_PER_S_SM": mac_per_s / sms}
    return data, sms, mac_per_s, 8 * copy_bytes_per_s


def main():
    arch_name = os.environ.get("OUTRUN_P_ARCH", "")
    if arch_name not in ARCHES:
        fail(f"OUTRUN_P_ARCH must be one of {', '.join(ARCHES)} (got {arch_name!r})")
    dtype = os.environ.get("OUTRUN_P_DTYPE", "float16")
    if dtype not in BITS:
        fail(f"OUTRUN_P_DTYPE must be float16 or float32 (got {dtype!r})")
    n = resnet50_shapes.env_batch(fail, default=1)
    layers = resnet50_shapes.env_layers(fail)
    out = os.path.abspath(resnet50_shapes.env_out(fail))
    time_limit = os.environ.get("OUTRUN_P_TIME_LIMIT", "").strip()
    jobs = os.environ.get("OUTRUN_P_JOBS", "1").strip()
    if (time_limit and not time_limit.isdigit()) or not jobs.isdigit() or int(jobs) < 1:
        fail("OUTRUN_P_TIME_LIMIT and OUTRUN_P_JOBS must be positive integers")
    try:
        import accelforge as af
    except (ImportError, SyntaxError) as e:
        fail(f"cannot import accelforge ({type(e).__name__}: {e}); needs Python >= 3.12 and "
             f"pip install -r scripts/requirements-accelforge.txt")
    af.set_n_parallel_jobs(int(jobs))
    if arch_name == "h200":
        arch = os.path.join(HERE, "accelforge_arch", "h200_sm.yaml")
        data, sms, mac_per_s, hbm_bits_per_s = h200_parameters(dtype)
        pes, clock = mac_per_s / H200_CLOCK_HZ, H200_CLOCK_HZ
    else:
        arch, data, sms = str(getattr(af.examples.arches, arch_name)), {}, 1
        pes, clock = BUNDLED[arch_name]
    os.chdir(out)   # the mapper writes mapping.svg into the working directory

    rows = []
    for index, s in enumerate(layers):
        # h200: the strided 1x1 on its subsampled input, split into divisible tiles; the tile's
        # off-chip level delivers at the HBM rate the active SMs share, times the L2's reuse.
        shape, split, reuse = s, (1, 1, 1, 1), 1.0
        if arch_name == "h200":
            shape = resnet50_shapes.subsampled(s)
            split = resnet50_shapes.split_over(shape, n, sms)
            reuse = resnet50_shapes.l2_reuse(shape, n, split)
            tiles = split[0] * split[1] * split[2] * split[3]
            data["HBM_BITS_PER_S_SM"] = hbm_bits_per_s * reuse / tiles
        tile_n, tile_k, tile_p, tile_q = resnet50_shapes.tile(shape, n, split)
        workload = os.path.join(out, f"workload-{index:02d}.yaml")
        with open(workload, "w") as f:
            f.write(WORKLOAD.format(bits=BITS[dtype], stride=shape.stride, N=tile_n, P=tile_p,
                                    Q=tile_q, C=shape.C, K=tile_k, R=shape.R, S=shape.S))
        start = time.monotonic()
        try:
            spec = af.Spec.from_yaml(arch, workload, jinja_parse_data=data)
            spec.mapper.metrics = af.Metrics.LATENCY
            if time_limit:
                spec.mapper.time_limit = int(time_limit)
            mappings = spec.map_workload_to_arch(print_progress=False)
            latency = float(mappings.latency())
            energy = float(mappings.energy())
            per_component = mappings.latency(per_component=True)
        except Exception as e:  # noqa: BLE001 - name the layer, then fail the cell
            fail(f"AccelForge failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        bottleneck = max(per_component, key=lambda k: float(per_component[k]))
        macs = resnet50_shapes.macs(s, n)
        ideal = math.ceil(macs / pes)
        cycles = latency * clock
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            dtype, arch_name, macs, f"{pes:.6g}", f"{clock:.6g}", ideal, f"{cycles:.1f}",
            f"{cycles / ideal:.4f}", f"{latency:.6g}", f"{latency * 1e6:.4f}", f"{energy:.6g}",
            bottleneck,
            "N{} K{} P{} Q{}".format(*split) if arch_name == "h200" else "",
            f"{reuse:.4f}" if arch_name == "h200" else "", f"{seconds:.1f}",
        ])
        print(f"{s.layer}: {cycles:.0f} cycles (ideal {ideal}), {latency * 1e6:.3f} us, "
              f"{bottleneck}-bound, mapped in {seconds:.1f} s", flush=True)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"AccelForge {arch_name} {dtype} N={n}: {len(rows)} layers")


if __name__ == "__main__":
    main()
