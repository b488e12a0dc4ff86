#!/usr/bin/env python3
"""ZigZag latency and energy of every ResNet-50 convolution on a 32x32 MAC array.

One outrun cell: one dataflow and one batch size (optionally a layer subset), all taken from
the environment.

    OUTRUN_P_DATAFLOW  os | ws   output-stationary or weight-stationary (the spatial mapping)
    OUTRUN_P_BATCH     optional, default 1: batch size N (ZigZag's B loop; run time does not
                       depend on it, so 1, 8, 32, 128 all take the same ~3 s a layer)
    OUTRUN_P_LAYERS    optional, default all 23: comma-separated layer names (conv1,
                       layer1.0.conv2, ...) or 0-based indices into the distinct shapes
    OUTRUN_P_BITS      optional, default 8: operand precision of inputs, weights and final
                       outputs in bits (partial sums are 32 bits)
    OUTRUN_OUT         an empty directory owned by this script; results.csv is written there,
                       ZigZag's own dumps (per-layer JSON, loop ordering) under zigzag/

Requires the PyPI packages `zigzag-dse` 3.9.1 and `six` (imported by 3.9.1 but not declared;
scripts/requirements-zigzag.txt). Driven through zigzag.api.get_hardware_performance_zigzag
(its `python -m zigzag` command line is broken in 3.9.1), one call per layer, with the
LOMA temporal-mapping search optimising latency (opt="latency").

Accelerator: scripts/zigzag_arch/array32.yaml, the common 32x32 machine of issue 22 §2
(scripts/array32_machine.py; the same numbers as Timeloop's array32 and the SCALE-Sim config):
32 x 32 int8 PEs at 1 GHz, per PE one weight register and one accumulator, a 1 MiB global
buffer split per operand (ifmap 256 KiB, filter 512 KiB, ofmap 256 KiB) feeding the array 32
words a cycle per operand, and DRAM <-> buffer at 32 B a cycle on one shared port; energies
from ZigZag's tpu_like example. The dataflow is the spatial mapping, written per layer into
the layer's dump folder (mapping.yaml) with the same exact-divisor unrolling Timeloop's array32
uses (array32_machine.unrolling): columns (D1) output channels K; rows (D2) C, FY, FX
(ws: SCALE-Sim's weight-stationary rows C*R*S) or OX, OY, B (os: output pixels). ZigZag
searches the temporal loop order itself.

Shapes. The 23 distinct Conv2d shapes of torchvision's ResNet-50, named and derived as in
scripts/roofline.py (shared module scripts/resnet50_shapes.py); ZigZag takes the padding
explicitly, so rows join with data/measured/h200/resnet50_conv_latency.csv on `layer`, `N`.

Outputs, one row per layer:

    latency_cycles      ZigZag's latency_total2: compute, memory stalls, on/off-loading
    ideal_cycles        MACs / 1024 (ZigZag's ideal_cycle; the floor for this array)
    ideal_temporal_cycles  cycles with the chosen spatial mapping and no memory stalls
    spatial_util        fraction of the 1024 PEs the spatial mapping uses
    mac_util            ideal_cycles / latency_cycles (ZigZag's mac_utilization2)
    energy_pj           total energy (MACs + every memory level) in pJ
    mac_energy_pj, mem_energy_pj   its two parts
    spatial_mapping     the unrolling ZigZag used, e.g. "K32 OX28"
    sim_seconds         wall time ZigZag took for the layer
"""

import csv
import logging
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import array32_machine  # noqa: E402
import resnet50_shapes  # noqa: E402

ACCELERATOR = os.path.join(HERE, "zigzag_arch", "array32.yaml")
PES = array32_machine.PES
# Timeloop's dims (array32_machine.unrolling) -> ZigZag's loop dims.
ZIGZAG_DIMS = {"C": "C", "K": "K", "N": "B", "P": "OY", "Q": "OX", "R": "FY", "S": "FX"}

COLUMNS = resnet50_shapes.SHAPE_COLUMNS + [
    "dataflow", "bits", "pes", "macs", "ideal_cycles", "ideal_temporal_cycles",
    "latency_cycles", "cycles_over_ideal", "spatial_util", "mac_util", "energy_pj",
    "mac_energy_pj", "mem_energy_pj", "spatial_mapping", "sim_seconds",
]


def fail(message):
    print(f"zigzag_resnet50.py: {message}", file=sys.stderr)
    sys.exit(2)


def params():
    dataflow = os.environ.get("OUTRUN_P_DATAFLOW")
    if dataflow not in array32_machine.DATAFLOWS:
        fail(f"OUTRUN_P_DATAFLOW must be os or ws (got {dataflow!r})")
    bits = os.environ.get("OUTRUN_P_BITS", "8").strip()
    if bits not in ("4", "8", "16", "32"):
        fail(f"OUTRUN_P_BITS must be 4, 8, 16 or 32 (got {bits!r})")
    n = resnet50_shapes.env_batch(fail, default=1)
    layers = resnet50_shapes.env_layers(fail)
    out = resnet50_shapes.env_out(fail)
    return dataflow, n, layers, int(bits), out


def workload(s, n, bits):
    """One ZigZag workload layer (user format) for shape s at batch n."""
    return [{
        "id": 0,
        "name": s.layer,
        "operator_type": "Conv",
        "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
        "dimension_relations": [f"ix={s.stride}*ox+1*fx", f"iy={s.stride}*oy+1*fy"],
        "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
        "loop_sizes": [n, s.K, s.C, s.P, s.Q, s.R, s.S],
        "operand_precision": {"W": bits, "I": bits, "O": 32, "O_final": bits},
        "operand_source": {"I": 0},
        "pr_loop_dims": ["IX", "IY"],
        "pr_loop_sizes": [s.W, s.H],
        "padding": [[s.pad, s.pad], [s.pad, s.pad]],
    }]


def mapping_file(s, n, dataflow, folder):
    """Write the layer's spatial mapping (ZigZag's mapping format) and return its path."""
    dims = dict(C=s.C, K=s.K, N=n, P=s.P, Q=s.Q, R=s.R, S=s.S, stride=s.stride)
    cols, rows = array32_machine.unrolling(dataflow, dims)

    def axis(factors):
        return "".join(f"      - {ZIGZAG_DIMS[d]}, {f}\n" for d, f in factors.items()
                       if f > 1) or f"      - {ZIGZAG_DIMS[next(iter(factors))]}, 1\n"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "mapping.yaml")
    with open(path, "w") as f:
        f.write("- name: default\n  spatial_mapping:\n    D1:\n" + axis(cols)
                + "    D2:\n" + axis(rows)
                + "  memory_operand_links:\n    O: O\n    W: I2\n    I: I1\n")
    return path


def describe_mapping(cme):
    """'K32 OX28': the unrolling ZigZag used (the output operand's, all levels), which can be
    smaller than the mapping file's when a loop is shorter or has no matching factor."""
    try:
        loops = []
        for op, levels in cme.spatial_mapping_int.mapping_dict_origin.items():
            if str(op) == "O":
                loops = [f"{dim}{int(size)}" for level in levels for dim, size in level]
        if loops:
            return " ".join(loops)
    except Exception:  # noqa: BLE001 - a description only; fall back to ZigZag's repr
        pass
    return " ".join(str(cme.spatial_mapping).split())


def main():
    dataflow, n, layers, bits, out = params()
    # Before zigzag: its api calls logging.basicConfig(level=INFO), a no-op once configured.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from zigzag.api import get_hardware_performance_zigzag
    except ImportError as e:
        fail(f"cannot import zigzag ({e}); pip install -r scripts/requirements-zigzag.txt")

    rows = []
    for index, s in enumerate(layers):
        macs = resnet50_shapes.macs(s, n)
        start = time.monotonic()
        folder = os.path.join(out, "zigzag", f"{index:02d}-{s.layer}")
        try:
            _, _, cmes = get_hardware_performance_zigzag(
                workload(s, n, bits), ACCELERATOR, mapping_file(s, n, dataflow, folder),
                opt="latency",
                dump_folder=folder,
                loma_show_progress_bar=False,
            )
        except Exception as e:  # noqa: BLE001 - name the layer, then fail the cell
            fail(f"ZigZag failed on {s.layer}: {type(e).__name__}: {e}")
        seconds = time.monotonic() - start
        cme = cmes[0][1][0][0]          # (summed CME, [(layer CME, extra)]) of the one layer
        if cme.layer.total_mac_count != macs:
            fail(f"{s.layer}: ZigZag counts {cme.layer.total_mac_count} MACs, expected {macs}")
        latency = float(cme.latency_total2)
        ideal = math.ceil(macs / PES)
        rows.append([
            s.layer, s.occurrences, n, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q,
            dataflow, bits, PES, macs, ideal, f"{float(cme.ideal_temporal_cycle):.0f}",
            f"{latency:.0f}", f"{latency / ideal:.4f}",
            f"{float(cme.mac_spatial_utilization):.4f}", f"{float(cme.mac_utilization2):.4f}",
            f"{float(cme.energy_total):.1f}", f"{float(cme.mac_energy):.1f}",
            f"{float(cme.mem_energy):.1f}", describe_mapping(cme), f"{seconds:.2f}",
        ])
        print(f"{s.layer}: {latency:.0f} cycles (ideal {ideal}), "
              f"{float(cme.energy_total) / 1e6:.2f} uJ, {seconds:.1f} s", flush=True)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    total = sum(int(r[1]) * float(r[COLUMNS.index("latency_cycles")]) for r in rows)
    print(f"ZigZag {dataflow} 32x32 N={n} {bits}-bit: {len(rows)} layers, "
          f"{total:.0f} cycles for all their convs (weighted by occurrences)")


if __name__ == "__main__":
    main()
