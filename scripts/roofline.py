#!/usr/bin/env python3
"""Roofline prediction of every ResNet-50 convolution's latency on an NVIDIA H200.

One outrun cell: one dtype and one batch size, both taken only from the environment.

    OUTRUN_P_DTYPE  float16 | float32
    OUTRUN_P_BATCH  batch size N, a positive integer (the experiment uses 1, 8, 32, 128)
    OUTRUN_OUT      an empty directory owned by this script; results.csv is written there

Shapes. The convolutions are derived from the architecture, not read from any measurement:
torchvision's resnet50 (v1.5: the stride sits on the 3x3 conv of each bottleneck, the
downsample branch is a strided 1x1 conv), 224x224 input. Every Conv2d module is enumerated
in named_modules() order with its torchvision name (conv1, layer1.0.conv1, ...,
layer1.0.downsample.0, ...); output size P = (H + 2*pad - R) // stride + 1 (likewise Q).
Modules with the same (C, H, W, K, R, S, stride, pad) are merged: `layer` is the first
module's name and `occurrences` counts the modules sharing the shape (23 distinct shapes).

Machine. Peaks are what the H200 itself reached (data/measured/h200/peaks.csv, found
relative to this script, so any working directory works): the dense 8192^3 matmul rate for
the dtype (float16 row for float16, float32 row for float32; TF32 is off) and the 2 GiB
device-to-device copy rate, which counts bytes read plus bytes written.

Model, per shape (no bias, every tensor touched exactly once, no caches, no launch cost):

    macs      = N*K*P*Q * C*R*S
    flops     = 2 * macs
    bytes     = dtype_size * (N*C*H*W + K*C*R*S + N*K*P*Q)   # input + weights read, output written
    t_compute = flops / peak_flops
    t_memory  = bytes / copy_bandwidth     # consistent: both count read + written bytes
    latency   = max(t_compute, t_memory)   # reported in microseconds; `bound` says which

The roofline is a lower bound: real kernels lose time to launch overhead, tiling and wave
quantisation, and small shapes are far from either roof, so expect it to be optimistic.
"""

import csv
import os
import sys

# The shapes are enumerated once, for every payload script (scripts/resnet50_shapes.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet50_shapes import distinct_shapes  # noqa: E402

DTYPE_SIZE = {"float16": 2, "float32": 4}

PEAKS_CSV = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "measured", "h200", "peaks.csv"
)

COLUMNS = [
    "layer", "occurrences", "N", "C", "H", "W", "K", "R", "S", "stride", "pad", "P", "Q",
    "dtype", "macs", "flops", "bytes", "intensity_flop_per_byte", "bound", "latency_us",
]


def fail(message):
    print(f"roofline.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_peaks(dtype):
    """(peak FLOP/s for dtype, copy bandwidth in bytes/s) from peaks.csv."""
    try:
        with open(PEAKS_CSV, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        fail(f"cannot read peaks file {os.path.normpath(PEAKS_CSV)}: {e}")
    peak = bw = None
    for row in rows:
        if row["kind"] == "matmul" and row["dtype"] == dtype:
            if row["unit"] != "TFLOP/s":
                fail(f"peaks.csv: matmul {dtype} unit is {row['unit']!r}, expected 'TFLOP/s'")
            peak = float(row["value"]) * 1e12
        elif row["kind"] == "copy":
            if not row["unit"].startswith("GB/s"):
                fail(f"peaks.csv: copy unit is {row['unit']!r}, expected GB/s")
            bw = float(row["value"]) * 1e9
    if peak is None:
        fail(f"peaks.csv has no matmul row for {dtype}")
    if bw is None:
        fail("peaks.csv has no copy row")
    return peak, bw


def params():
    dtype = os.environ.get("OUTRUN_P_DTYPE")
    if dtype is None:
        fail("missing parameter: OUTRUN_P_DTYPE (float16 or float32)")
    if dtype not in DTYPE_SIZE:
        fail(f"invalid OUTRUN_P_DTYPE={dtype!r}: expected float16 or float32")
    batch = os.environ.get("OUTRUN_P_BATCH")
    if batch is None:
        fail("missing parameter: OUTRUN_P_BATCH (a positive integer, e.g. 1, 8, 32, 128)")
    try:
        n = int(batch)
    except ValueError:
        n = 0
    if n < 1 or batch.strip() != str(n):
        fail(f"invalid OUTRUN_P_BATCH={batch!r}: expected a positive integer")
    out = os.environ.get("OUTRUN_OUT")
    if not out:
        fail("missing OUTRUN_OUT (the directory to write results.csv into)")
    if not os.path.isdir(out):
        fail(f"OUTRUN_OUT={out!r} is not a directory")
    return dtype, n, out


def main():
    dtype, n, out = params()
    peak, bw = read_peaks(dtype)
    size = DTYPE_SIZE[dtype]

    rows = []
    for layer, occ, c, h, w, k, r, s, stride, pad, p, q in distinct_shapes():
        macs = n * k * p * q * c * r * s
        flops = 2 * macs
        nbytes = size * (n * c * h * w + k * c * r * s + n * k * p * q)
        t_compute = flops / peak
        t_memory = nbytes / bw
        bound = "compute" if t_compute >= t_memory else "memory"
        latency_us = max(t_compute, t_memory) * 1e6
        rows.append([
            layer, occ, n, c, h, w, k, r, s, stride, pad, p, q, dtype, macs, flops, nbytes,
            f"{flops / nbytes:.4f}", bound, f"{latency_us:.4f}",
        ])

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)

    total_us = sum(row[1] * float(row[-1]) for row in rows)
    n_compute = sum(1 for row in rows if row[-2] == "compute")
    print(
        f"roofline H200 {dtype} N={n}: {len(rows)} conv shapes "
        f"({n_compute} compute-bound, {len(rows) - n_compute} memory-bound); "
        f"peak {peak / 1e12:.1f} TFLOP/s, {bw / 1e9:.0f} GB/s; "
        f"all {sum(row[1] for row in rows)} convs >= {total_us:.1f} us"
    )


if __name__ == "__main__":
    main()
