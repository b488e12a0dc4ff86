"""The one 32x32 machine that Timeloop, ZigZag and SCALE-Sim all model (issue 22 §2).

Standard library and resnet50_shapes only; scripts/timeloop_resnet50.py,
scripts/zigzag_resnet50.py and scripts/scalesim_resnet50.py import it, and the comments at the top of
scripts/timeloop_arch/array32.yaml and scripts/zigzag_arch/array32.yaml repeat its numbers
(docs/research.md, "The common 32x32 machine", explains the choices):

    array         32 x 32 int8 PEs at 1 GHz: 1,024 MACs a cycle; columns take output
                  channels K, rows C*R*S (weight-stationary) or output pixels Q*P*N
                  (output-stationary)
    per PE        one weight register (WS keeps the weight in it) or one accumulator (OS keeps
                  the output in it)
    global buffer 1 MiB: ifmap 256 KiB + filter 512 KiB + ofmap 256 KiB
    buffer->array 32 words a cycle per operand (what one systolic edge takes)
    DRAM<->buffer 32 B (words) a cycle, one channel shared by the three tensors

Where a tool cannot express a number, its driver and docs/research.md say what differs.
"""

import resnet50_shapes

ROWS = COLS = 32
PES = ROWS * COLS
CLOCK_HZ = 1e9
WORD_BITS = 8
IFMAP_KIB, FILTER_KIB, OFMAP_KIB = 256, 512, 256    # 1 MiB in all
BUFFER_KIB = IFMAP_KIB + FILTER_KIB + OFMAP_KIB
EDGE_WORDS = 32                                      # buffer -> array, a cycle per operand
DRAM_WORDS = 32                                      # DRAM <-> buffer, a cycle, shared

DATAFLOWS = ("ws", "os")

divisors = resnet50_shapes.divisors


def fill_axis(dims, names, cap):
    """{dim: factor} for the dims on one mesh axis: exact divisors (Timeloop's and ZigZag's
    factors divide the dimension), product <= cap, as large as possible; ties go to the
    earlier dims."""
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


def unrolling(dataflow, dims):
    """(columns, rows): {dim: factor} of Timeloop's dims (C K N P Q R S, and stride) on the 32
    columns (output channels K) and the 32 rows (WS: C, R, S; OS: Q, P, N). OS rows take images
    (N) only as far as their inputs fit the ifmap buffer (256 KiB) together."""
    cols = fill_axis(dims, ["K"], COLS)
    if dataflow == "ws":
        return cols, fill_axis(dims, ["C", "R", "S"], ROWS)
    image = dims["C"] * ((dims["P"] - 1) * dims["stride"] + dims["R"]) \
        * ((dims["Q"] - 1) * dims["stride"] + dims["S"])
    n = max(x for x in divisors(dims["N"]) if x == 1 or x * image <= IFMAP_KIB * 1024)
    return cols, fill_axis({**dims, "N": n}, ["Q", "P", "N"], ROWS)


def label(cols, rows):
    """'K32 C32' / 'K32 Q8 P4': the factors > 1, columns first."""
    return " ".join(f"{d}{f}" for d, f in list(cols.items()) + list(rows.items()) if f > 1) or "1"
