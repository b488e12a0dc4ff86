#!/usr/bin/env python3
"""Measure the latency of every ResNet-50 convolution with PyTorch, as data/measured/h200/ was.

One outrun cell: one dtype and one batch size (optionally a layer subset and a device), all
taken from the environment. Writes the columns of data/measured/h200/resnet50_conv_latency.csv,
so a run on another GPU is a new measured file of the same shape.

    OUTRUN_P_DTYPE    float16 | float32 | bfloat16
    OUTRUN_P_BATCH    batch size N (the measured file has 1, 8, 32, 128)
    OUTRUN_P_LAYERS   optional, default all 23: comma-separated layer names or indices
    OUTRUN_P_DEVICE   optional, default cuda: cuda, cuda:K, or cpu. cpu exists to test this
                      script without a GPU (e.g. OUTRUN_P_LAYERS=layer4.1.conv2, batch 1):
                      it times with time.perf_counter instead of CUDA events
    OUTRUN_P_TRIALS, OUTRUN_P_CALLS, OUTRUN_P_WARMUP
                      optional, default 7, 20, 3: only to make a CPU test quick
    OUTRUN_OUT        an empty directory owned by this script: results.csv and meta.json

Method (data/measured/h200/README.md): eager PyTorch, torch.backends.cudnn.benchmark = True,
TF32 off (cuda.matmul.allow_tf32 and cudnn.allow_tf32 False), no autograd (inference_mode),
nn.Conv2d without bias; float16 and bfloat16 run in channels-last layout (input and weights),
float32 in the default contiguous layout. Per layer: 3 warm-up calls (which also let cuDNN's
benchmark pick its algorithm), then 7 trials; a trial times 20 back-to-back calls between two
CUDA events and takes their mean; latency_us_median is the median over the trials, min and max
beside it, all in microseconds. Inputs are random normal, weights PyTorch's default init.

Shapes: the 23 distinct Conv2d shapes of torchvision's ResNet-50 (scripts/resnet50_shapes.py,
as in scripts/roofline.py). Each output's shape is checked to be (N, K, P, Q).

meta.json records what the H200 one does: gpu, sms, mem_bytes, torch, cudnn, cuda, date_utc,
host, plus device, dtype, batch and the method's counts.

Needs torch (any recent CUDA build from PyPI on a GPU runner: `pip install torch`; ~540 MB
wheel plus ~2 GB of nvidia-* CUDA libraries).
"""

import csv
import datetime
import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resnet50_shapes  # noqa: E402

COLUMNS = [
    "layer", "occurrences", "N", "C", "H", "W", "K", "R", "S", "stride", "pad", "P", "Q",
    "dtype", "macs", "latency_us_median", "latency_us_min", "latency_us_max",
]
DTYPES = ("float16", "float32", "bfloat16")


def fail(message):
    print(f"gpu_measure_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def count(name, default):
    value = os.environ.get(name, str(default)).strip()
    if not (value.isdigit() and int(value) > 0):
        fail(f"{name} must be a positive integer (got {value!r})")
    return int(value)


def params():
    dtype = os.environ.get("OUTRUN_P_DTYPE")
    if dtype not in DTYPES:
        fail(f"OUTRUN_P_DTYPE must be one of {', '.join(DTYPES)} (got {dtype!r})")
    device = os.environ.get("OUTRUN_P_DEVICE", "cuda").strip()
    if not (device == "cpu" or device == "cuda" or
            (device.startswith("cuda:") and device[5:].isdigit())):
        fail(f"OUTRUN_P_DEVICE must be cuda, cuda:K or cpu (got {device!r})")
    return dict(
        dtype=dtype,
        n=resnet50_shapes.env_batch(fail),
        layers=resnet50_shapes.env_layers(fail),
        device=device,
        trials=count("OUTRUN_P_TRIALS", 7),
        calls=count("OUTRUN_P_CALLS", 20),
        warmup=count("OUTRUN_P_WARMUP", 3),
        out=resnet50_shapes.env_out(fail),
    )


def measure(torch, conv, x, p):
    """[mean microseconds per call of each trial]."""
    cuda = p["device"] != "cpu"
    for _ in range(p["warmup"]):
        conv(x)
    if cuda:
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
    trials = []
    for _ in range(p["trials"]):
        if cuda:
            start.record()
            for _ in range(p["calls"]):
                conv(x)
            end.record()
            end.synchronize()
            trials.append(start.elapsed_time(end) * 1000.0 / p["calls"])   # ms -> us
        else:
            t0 = time.perf_counter()
            for _ in range(p["calls"]):
                conv(x)
            trials.append((time.perf_counter() - t0) * 1e6 / p["calls"])
    return trials


def main():
    p = params()
    try:
        import torch
    except ImportError as e:
        fail(f"cannot import torch ({e}); pip install torch")
    cuda = p["device"] != "cpu"
    if cuda and not torch.cuda.is_available():
        fail("no CUDA device (set OUTRUN_P_DEVICE=cpu to test this script without a GPU)")
    device = torch.device(p["device"])
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, p["dtype"])
    layout = torch.channels_last if p["dtype"] in ("float16", "bfloat16") else torch.contiguous_format
    torch.manual_seed(0)

    rows = []
    n = p["n"]
    with torch.inference_mode():
        for s in p["layers"]:
            conv = torch.nn.Conv2d(s.C, s.K, (s.R, s.S), stride=s.stride, padding=s.pad,
                                   bias=False)
            conv = conv.to(device=device, dtype=dtype, memory_format=layout).eval()
            x = torch.randn(n, s.C, s.H, s.W, device=device, dtype=dtype)
            x = x.contiguous(memory_format=layout)
            shape = tuple(conv(x).shape)
            if shape != (n, s.K, s.P, s.Q):
                fail(f"{s.layer}: output shape {shape}, expected {(n, s.K, s.P, s.Q)}")
            trials = measure(torch, conv, x, p)
            rows.append([
                s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad,
                s.P, s.Q, p["dtype"], resnet50_shapes.macs(s, n),
                round(statistics.median(trials), 3), round(min(trials), 3),
                round(max(trials), 3),
            ])
            print(f"{s.layer}: {statistics.median(trials):.3f} us (min {min(trials):.3f}, "
                  f"max {max(trials):.3f})", flush=True)
            del conv, x
            if cuda:
                torch.cuda.empty_cache()

    with open(os.path.join(p["out"], "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)

    meta = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(),
        "dtype": p["dtype"], "batch": n, "layout": "channels_last" if layout is torch.channels_last
        else "contiguous", "trials": p["trials"], "calls_per_trial": p["calls"],
        "warmup_calls": p["warmup"], "timer": "cuda_events" if cuda else "perf_counter",
    }
    if cuda:
        props = torch.cuda.get_device_properties(device)
        meta.update(gpu=props.name, sms=props.multi_processor_count, mem_bytes=props.total_memory,
                    driver_capability=".".join(map(str, torch.cuda.get_device_capability(device))))
    else:
        meta.update(gpu=None, cpu_threads=torch.get_num_threads())
    with open(os.path.join(p["out"], "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"measured {len(rows)} layers, {p['dtype']} N={n} on {meta.get('gpu') or 'CPU'}")


if __name__ == "__main__":
    main()
