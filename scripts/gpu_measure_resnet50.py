#!/usr/bin/env python3
"""Measure the latency of every ResNet-50 convolution with PyTorch, as data/measured/h200/ was.

One outrun cell: one dtype and one batch size (optionally a layer subset and a device), all
taken from the environment. Writes the columns of data/measured/h200/resnet50_conv_latency.csv,
so a run on another GPU is a new measured file of the same shape.

    OUTRUN_P_DTYPE    float16 | float32 | bfloat16
    OUTRUN_P_BATCH    batch size N (the measured file has 1, 8, 32, 128)
    OUTRUN_P_LAYERS   optional, default all 23: comma-separated layer names or indices
    OUTRUN_P_DEVICE   optional, default cuda: cuda, cuda:K, cpu or stub. cpu exists to test
                      this script without a GPU (e.g. OUTRUN_P_LAYERS=layer4.1.conv2, batch 1):
                      it times with time.perf_counter instead of CUDA events. stub needs no
                      torch at all: a stand-in "convolution" (sleeps 10 us) goes through the
                      same timing, statistics and CSV code, so the test suite checks those on a
                      machine without torch (PyPI has no CPU-only torch; the CUDA one is >1.5 GB)
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
    if not (device in ("cpu", "cuda", "stub") or
            (device.startswith("cuda:") and device[5:].isdigit())):
        fail(f"OUTRUN_P_DEVICE must be cuda, cuda:K, cpu or stub (got {device!r})")
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


def time_trials(call, p, clock):
    """[mean microseconds per call of each trial]: p["warmup"] calls, then p["trials"] trials of
    p["calls"] back-to-back calls each. clock is (start(), stop() -> elapsed microseconds)."""
    for _ in range(p["warmup"]):
        call()
    start, stop = clock
    trials = []
    for _ in range(p["trials"]):
        start()
        for _ in range(p["calls"]):
            call()
        trials.append(stop() / p["calls"])
    return trials


def summary(trials):
    """(median, min, max) of the trials in microseconds, rounded to 3 decimals as the H200 file."""
    return (round(statistics.median(trials), 3), round(min(trials), 3), round(max(trials), 3))


def perf_counter_clock():
    """A host clock: for the CPU and the stub."""
    t0 = [0.0]

    def start():
        t0[0] = time.perf_counter()

    def stop():
        return (time.perf_counter() - t0[0]) * 1e6
    return start, stop


def cuda_event_clock(torch):
    """CUDA events around the calls (what data/measured/h200 used)."""
    begin = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def start():
        torch.cuda.synchronize()
        begin.record()

    def stop():
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) * 1000.0   # ms -> us
    return start, stop


def row(s, n, dtype, trials):
    return [s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            dtype, resnet50_shapes.macs(s, n), *summary(trials)]


def write_results(out, rows, meta):
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def base_meta(p, timer):
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(), "device": p["device"], "dtype": p["dtype"],
        "batch": p["n"], "trials": p["trials"], "calls_per_trial": p["calls"],
        "warmup_calls": p["warmup"], "timer": timer,
    }


def run_stub(p):
    """No torch: each call of the stand-in sleeps 10 us. Exercises everything but torch."""
    rows = []
    for s in p["layers"]:
        trials = time_trials(lambda: time.sleep(10e-6), p, perf_counter_clock())
        rows.append(row(s, p["n"], p["dtype"], trials))
        print(f"{s.layer}: {summary(trials)[0]:.3f} us (stub)", flush=True)
    meta = base_meta(p, "perf_counter")
    meta.update(gpu=None, stub="time.sleep(10e-6) per call, no convolution")
    write_results(p["out"], rows, meta)
    print(f"stub: {len(rows)} layers, {p['dtype']} N={p['n']}")


def main():
    p = params()
    if p["device"] == "stub":
        run_stub(p)
        return
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
            clock = cuda_event_clock(torch) if cuda else perf_counter_clock()
            trials = time_trials(lambda: conv(x), p, clock)
            rows.append(row(s, n, p["dtype"], trials))
            median, low, high = summary(trials)
            print(f"{s.layer}: {median:.3f} us (min {low:.3f}, max {high:.3f})", flush=True)
            del conv, x
            if cuda:
                torch.cuda.empty_cache()

    meta = base_meta(p, "cuda_events" if cuda else "perf_counter")
    meta.update({
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "layout": "channels_last" if layout is torch.channels_last else "contiguous",
    })
    if cuda:
        props = torch.cuda.get_device_properties(device)
        meta.update(gpu=props.name, sms=props.multi_processor_count, mem_bytes=props.total_memory,
                    driver_capability=".".join(map(str, torch.cuda.get_device_capability(device))))
    else:
        meta.update(gpu=None, cpu_threads=torch.get_num_threads())
    write_results(p["out"], rows, meta)
    print(f"measured {len(rows)} layers, {p['dtype']} N={n} on {meta.get('gpu') or 'CPU'}")


if __name__ == "__main__":
    main()
