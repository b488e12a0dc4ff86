#!/usr/bin/env python3
"""AccelForge latency of ResNet-50 convolutions on an H200 described as 132 tensor-core SMs.

DRAFT: the plumbing is tested (OUTRUN_P_ARCH=simple maps a layer in ~3 s), but the H200
description's mapping search did not finish a single layer in 280 s on one core here; see
/work/scratch/issue9/NOTES.md. Set a time bound (OUTRUN_P_TIME_LIMIT) before running it at scale.

One outrun cell: one dtype and one batch size (optionally a layer subset), from the environment.

    OUTRUN_P_DTYPE       float16 | float32 (picks the matmul peak row of peaks.csv and the
                         operand width: 16 or 32 bits)
    OUTRUN_P_BATCH       batch size N
    OUTRUN_P_LAYERS      optional, default all 23: comma-separated layer names or indices
    OUTRUN_P_ARCH        optional, default h200: h200 (scripts/accelforge_arch/h200_sm.yaml) or
                         simple (AccelForge's own examples/arches/simple.yaml: 1 MAC/s, a test)
    OUTRUN_P_TIME_LIMIT  optional, default unlimited: the mapper's time_limit in seconds
    OUTRUN_P_JOBS        optional, default 1: AccelForge's parallel jobs (it forks one per core
                         otherwise)
    OUTRUN_OUT           an empty directory owned by this script: results.csv

Requires Python >= 3.12 (accelforge's source uses PEP 695 generics and PEP 701 f-strings
although its metadata says >= 3.8), `pip install accelforge` (scripts/requirements-accelforge.txt)
and Graphviz's `dot` on PATH (`apt-get install graphviz`): the mapper writes mapping.svg of each
mapping into the working directory and fails without it, so this script chdirs into OUTRUN_OUT.

Model. The H200 is MainMemory (HBM, reads + writes sharing the measured copy rate) -> L2
(50 MiB) -> 132 x SharedMemory (228 KiB) -> TensorCores, one compute unit per SM doing
matmul peak / 2 / 132 MACs per second; the peaks are read from data/measured/h200/peaks.csv
and the SM count from meta.json. The mapper optimises latency (Metrics.LATENCY: its default
is energy only); latency_us is its latency in microseconds, directly comparable with
latency_us_median of data/measured/h200/resnet50_conv_latency.csv (compare on layer, N, dtype).

Shapes: the 23 distinct Conv2d shapes of ResNet-50 (scripts/resnet50_shapes.py), written as
AccelForge einsums O[n,m,p,q] = I[n,c,H: p*stride+r, W: q*stride+s] * Wt[c,m,r,s].
"""

import csv
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resnet50_shapes  # noqa: E402

MEASURED = os.path.join(HERE, "..", "data", "measured", "h200")
BITS = {"float16": 16, "float32": 32}
COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "dtype", "arch", "macs", "latency_us", "energy_j", "bottleneck", "mapper_seconds",
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
    with open(os.path.join(MEASURED, "peaks.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(MEASURED, "meta.json")) as f:
        sms = int(json.load(f)["sms"])
    peak = next(float(r["value"]) * 1e12 for r in rows
                if r["kind"] == "matmul" and r["dtype"] == dtype)
    copy = next(float(r["value"]) * 1e9 for r in rows if r["kind"] == "copy")
    return {"SMS": sms, "MAC_PER_S_SM": peak / 2 / sms, "HBM_BITS_PER_S": 8 * copy}


def main():
    dtype = os.environ.get("OUTRUN_P_DTYPE")
    if dtype not in BITS:
        fail(f"OUTRUN_P_DTYPE must be float16 or float32 (got {dtype!r})")
    n = resnet50_shapes.env_batch(fail)
    layers = resnet50_shapes.env_layers(fail)
    out = os.path.abspath(resnet50_shapes.env_out(fail))
    arch_name = os.environ.get("OUTRUN_P_ARCH", "h200")
    if arch_name not in ("h200", "simple"):
        fail(f"OUTRUN_P_ARCH must be h200 or simple (got {arch_name!r})")
    time_limit = os.environ.get("OUTRUN_P_TIME_LIMIT", "").strip()
    jobs = os.environ.get("OUTRUN_P_JOBS", "1").strip()
    if time_limit and not time_limit.isdigit() or not jobs.isdigit():
        fail("OUTRUN_P_TIME_LIMIT and OUTRUN_P_JOBS must be positive integers")
    try:
        import accelforge as af
    except (ImportError, SyntaxError) as e:
        fail(f"cannot import accelforge ({type(e).__name__}: {e}); needs Python >= 3.12 and "
             f"pip install -r scripts/requirements-accelforge.txt")
    af.set_n_parallel_jobs(int(jobs))
    if arch_name == "h200":
        arch, data = os.path.join(HERE, "accelforge_arch", "h200_sm.yaml"), h200_parameters(dtype)
    else:
        arch, data = str(af.examples.arches.simple), {}
    os.chdir(out)   # the mapper writes mapping.svg into the working directory

    rows = []
    for index, s in enumerate(layers):
        workload = os.path.join(out, f"workload-{index:02d}.yaml")
        with open(workload, "w") as f:
            f.write(WORKLOAD.format(bits=BITS[dtype], stride=s.stride, N=n, P=s.P, Q=s.Q,
                                    C=s.C, K=s.K, R=s.R, S=s.S))
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
        scale = 1e6 if arch_name == "h200" else 1.0   # seconds -> us; simple: its own units
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            dtype, arch_name, resnet50_shapes.macs(s, n), f"{latency * scale:.4f}",
            f"{energy:.6g}", bottleneck, f"{seconds:.1f}",
        ])
        print(f"{s.layer}: {latency * scale:.3f} {'us' if scale != 1 else 'units'} "
              f"({bottleneck}-bound), {seconds:.1f} s", flush=True)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


if __name__ == "__main__":
    main()
