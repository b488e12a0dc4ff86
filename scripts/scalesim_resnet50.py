#!/usr/bin/env python3
"""SCALE-Sim 3 cycle counts for every ResNet-50 convolution on a systolic array.

One outrun cell: one dataflow, one array size (and optionally one batch size and a layer
subset), all taken from the environment.

    OUTRUN_P_DATAFLOW   os | ws | is   (output-, weight-, input-stationary)
    OUTRUN_P_ARRAY      ROWSxCOLS, e.g. 32x32 or 128x128 (processing elements = ROWS*COLS)
    OUTRUN_P_BATCH      optional, default 1: batch size N (see "Batch" below; keep it small)
    OUTRUN_P_LAYERS     optional, default all 23: comma-separated layer names (conv1,
                        layer1.0.conv2, ...) or 0-based indices into the distinct shapes
    OUTRUN_P_BANDWIDTH  optional: DRAM interface bandwidth in words/cycle. Unset: SCALE-Sim's
                        CALC mode (it assumes whatever bandwidth avoids stalls and reports
                        it, so stall_cycles is 0); set: USER mode, stalls are simulated, each
                        of the ifmap, filter and ofmap SRAMs with its own DRAM channel of
                        that many words a cycle (SCALE-Sim has no shared channel)
    OUTRUN_P_SRAM_KB    optional, default 64: size of each of the ifmap, filter and ofmap
                        double-buffered SRAMs in KiB (SCALE-Sim's default scale.cfg), or
                        three sizes IFMAP,FILTER,OFMAP (the common 32x32 machine of issue 22
                        §2, scripts/array32_machine.py: 256,512,256 with bandwidth 32)
    OUTRUN_OUT          an empty directory owned by this script; results.csv is written there,
                        SCALE-Sim's own reports (COMPUTE_REPORT.csv, ...) under scalesim/

Requires the PyPI package `scalesim` 3.0.0 with numpy < 2.4 (scripts/requirements-scalesim.txt;
3.0.0 crashes on numpy >= 2.4). The simulator is driven through its Python API with
save_disk_space=True: its command line writes cycle-by-cycle SRAM/DRAM traces, hundreds of MB
for ResNet-50.

Shapes. The 23 distinct Conv2d shapes of torchvision's ResNet-50, named and derived as in
scripts/roofline.py (shared module scripts/resnet50_shapes.py), so rows join with
data/measured/h200/resnet50_conv_latency.csv on `layer` and `N`.

Topology. SCALE-Sim's convolution topology has no padding field and computes the output size
as ceil((H - R + stride) / stride), so each layer is given the input size the padded
convolution actually reads: H_eff = (P - 1) * stride + R (likewise W_eff), which is H + 2*pad,
or one less where PyTorch's floor drops the last padded row/column of a strided conv (conv1:
229, not 230). SCALE-Sim then sees exactly P x Q outputs and the same MACs as PyTorch
(checked). Every topology row ends with a comma, as its parser drops the last field.

Batch. The convolution topology has no batch dimension either. N = 1 uses convolution mode;
N > 1 uses SCALE-Sim's GEMM mode with the im2col matrices of the batched conv: M = N*P*Q
output pixels, K = C*R*S reduction, N = K filters (column `topology` says which). Compute
cycles are the same either way for a given GEMM; memory traffic differs (GEMM mode does not
know that sliding windows overlap). Run time and memory grow linearly with N: N = 8 is about
8x slower than N = 1 and N >= 32 needs many GB for the operand matrices.

Outputs, one row per layer (no dtype: SCALE-Sim counts words, not bytes):

    bandwidth             DRAM words a cycle per SRAM (USER mode), or "calc" (CALC mode)
    sram_kb               the ifmap/filter/ofmap SRAM sizes in KiB, e.g. 256/512/256
    cycles                total cycles of the layer (SCALE-Sim "Total Cycles": compute + stalls)
    cycles_incl_prefetch  the same counted from the first DRAM prefetch ("Total Cycles (incl.
                          prefetch)")
    stall_cycles          cycles lost waiting for memory (0 in CALC mode)
    compute_util_pct      average utilisation of the PEs while computing ("Compute Util %")
    overall_util_pct      MACs / (cycles * PEs) ("Overall Util %")
    mapping_eff_pct       fraction of PEs the mapping uses ("Mapping Efficiency %")
    ideal_cycles          ceil(MACs / PEs): the floor for this array, 100 % utilisation
    cycles_over_ideal     cycles / ideal_cycles
    sim_seconds           wall time SCALE-Sim took for the layer (~3-25 s at 32x32)

To turn cycles into a time, divide by a clock (not done here: the arrays are not a GPU).
"""

import contextlib
import csv
import io
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resnet50_shapes  # noqa: E402

COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "dataflow", "array_rows", "array_cols", "pes", "bandwidth", "sram_kb", "topology", "ifmap_h_eff", "ifmap_w_eff",
    "macs", "ideal_cycles", "cycles", "cycles_incl_prefetch", "stall_cycles",
    "compute_util_pct", "overall_util_pct", "mapping_eff_pct", "cycles_over_ideal",
    "sim_seconds",
]

# SCALE-Sim's config. The common 32x32 machine of issue 22 §2 (scripts/array32_machine.py; the
# same numbers as scripts/timeloop_arch/array32.yaml and scripts/zigzag_arch/array32.yaml) is
# ArrayHeight = ArrayWidth = 32, Ifmap/Filter/Ofmap SRAMs 256/512/256 KiB (double-buffered:
# half of each in use) and USER mode at 32 words (int8: bytes) a cycle: SCALE-Sim gives each
# SRAM its own DRAM channel of that bandwidth (Bandwidth for the ofmap, the SRAM bank bandwidths
# for ifmap and filter), where the other tools share one 32 B channel. Dataflow ws or os;
# N = 1 (conv mode). experiments/scalesim-resnet50.yaml's matrix `include` sets it.
CONFIG = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {sram_kb[0]}
FilterSramSzkB: {sram_kb[1]}
OfmapSramSzkB: {sram_kb[2]}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bandwidth}
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bandwidth}
IfmapSRAMBankNum: {banks}
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bandwidth}
FilterSRAMBankNum: {banks}
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def fail(message):
    print(f"scalesim_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def params():
    dataflow = os.environ.get("OUTRUN_P_DATAFLOW")
    if dataflow not in ("os", "ws", "is"):
        fail(f"OUTRUN_P_DATAFLOW must be os, ws or is (got {dataflow!r})")
    array = os.environ.get("OUTRUN_P_ARRAY")
    m = re.fullmatch(r"([1-9][0-9]*)x([1-9][0-9]*)", array or "")
    if not m:
        fail(f"OUTRUN_P_ARRAY must be ROWSxCOLS such as 32x32 (got {array!r})")
    rows, cols = int(m.group(1)), int(m.group(2))
    bandwidth = os.environ.get("OUTRUN_P_BANDWIDTH", "").strip()
    if bandwidth and not (bandwidth.isdigit() and int(bandwidth) > 0):
        fail(f"OUTRUN_P_BANDWIDTH must be a positive integer (words/cycle), got {bandwidth!r}")
    sram = os.environ.get("OUTRUN_P_SRAM_KB", "64").strip()
    sizes = sram.split(",") if "," in sram else [sram] * 3
    if len(sizes) != 3 or not all(x.strip().isdigit() and int(x) > 0 for x in sizes):
        fail(f"OUTRUN_P_SRAM_KB must be a positive integer or three (IFMAP,FILTER,OFMAP), "
             f"got {sram!r}")
    n = resnet50_shapes.env_batch(fail, default=1)
    layers = resnet50_shapes.env_layers(fail)
    out = resnet50_shapes.env_out(fail)
    return dataflow, rows, cols, n, layers, bandwidth, [int(x) for x in sizes], out


def simulate(workdir, name, topo_line, gemm, cfg_text):
    """Run SCALE-Sim on a one-layer topology; returns its compute report items."""
    from scalesim.scale_sim import scalesim

    os.makedirs(workdir, exist_ok=True)
    cfg = os.path.join(workdir, "scale.cfg")
    topo = os.path.join(workdir, "topology.csv")
    layout = os.path.join(workdir, "layout.csv")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    with open(topo, "w") as f:
        if gemm:
            f.write("Layer,M,N,K,\n")
        else:
            f.write("Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,"
                    "Channels,Num Filter,Strides,\n")
        f.write(topo_line)
    with open(layout, "w") as f:   # must exist; unused with the custom layouts off
        f.write("Layer name,\n")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):   # it prints even with verbose=False
        sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                       layout=layout, input_type_gemm=gemm)
        sim.run_scale(top_path=workdir)
    layer = sim.runner.single_layer_sim_object_list[0]
    sim_macs = sim.topo.get_layer_num_ofmap_px(0) * sim.topo.get_layer_window_size(0)
    return layer.get_compute_report_items(), sim_macs


def main():
    dataflow, rows, cols, n, layers, bandwidth, sram_kb, out = params()
    try:
        import scalesim  # noqa: F401
    except ImportError as e:
        fail(f"cannot import scalesim ({e}); pip install -r scripts/requirements-scalesim.txt")
    pes = rows * cols
    cfg_text = CONFIG.format(
        run_name="run", rows=rows, cols=cols, sram_kb=sram_kb, dataflow=dataflow,
        bandwidth=bandwidth or 10, mode="USER" if bandwidth else "CALC",
        # Banks only matter with a custom layout (off), but must divide the bandwidth.
        banks=1 if bandwidth else 10,
    )
    gemm = n > 1
    results = []
    for index, s in enumerate(layers):
        h_eff = (s.P - 1) * s.stride + s.R
        w_eff = (s.Q - 1) * s.stride + s.S
        if gemm:
            topo_line = f"{s.layer},{n * s.P * s.Q},{s.K},{s.C * s.R * s.S},\n"
        else:
            topo_line = f"{s.layer},{h_eff},{w_eff},{s.R},{s.S},{s.C},{s.K},{s.stride},\n"
        macs = resnet50_shapes.macs(s, n)
        start = time.monotonic()
        try:
            items, sim_macs = simulate(
                os.path.join(out, "scalesim", f"{index:02d}-{s.layer}"), s.layer, topo_line,
                gemm, cfg_text,
            )
        except Exception as e:  # noqa: BLE001 - report which layer broke, then fail the cell
            fail(f"SCALE-Sim failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        if sim_macs != macs:
            fail(f"{s.layer}: SCALE-Sim counts {sim_macs} MACs, expected {macs}")
        incl_prefetch, cycles, stalls, overall_util, mapping_eff, compute_util = items
        ideal = math.ceil(macs / pes)
        results.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            dataflow, rows, cols, pes, bandwidth or "calc", "/".join(map(str, sram_kb)),
            "gemm" if gemm else "conv", h_eff, w_eff,
            macs, ideal, int(cycles), int(incl_prefetch), int(stalls),
            f"{compute_util:.4f}", f"{overall_util:.4f}", f"{mapping_eff:.4f}",
            f"{cycles / ideal:.4f}", f"{seconds:.2f}",
        ])
        print(f"{s.layer}: {int(cycles)} cycles (ideal {ideal}), util {compute_util:.1f} %, "
              f"{seconds:.1f} s", flush=True)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(results)
    total = sum(int(r[1]) * r[COLUMNS.index("cycles")] for r in results)
    print(f"SCALE-Sim {dataflow} {rows}x{cols} N={n}: {len(results)} layers, "
          f"{total} cycles for all their convs (weighted by occurrences)")


if __name__ == "__main__":
    main()
