"""The 23 distinct Conv2d shapes of torchvision's ResNet-50, shared by the payload scripts.

Standard library only; import it from a script in this folder with

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import resnet50_shapes

scripts/roofline.py takes its shapes from here too. The enumeration follows torchvision's
resnet50 (v1.5: the stride sits on the 3x3 conv of each bottleneck, the downsample branch is a
strided 1x1 conv), 224x224 input. Every Conv2d module is enumerated in named_modules() order
with its torchvision name (conv1, layer1.0.conv1, ..., layer1.0.downsample.0, ...); output size
P = (H + 2*pad - R) // stride + 1 (likewise Q). Modules with the same
(C, H, W, K, R, S, stride, pad) are merged: `layer` is the first module's name and
`occurrences` counts the modules sharing the shape. These `layer` names and shapes are exactly
those of data/measured/h200/resnet50_conv_latency.csv, so results join with it on `layer`
(and `N`, `dtype`).

Run as a script it prints the shapes as CSV (a quick check against the measured file).
"""

import collections
import sys

Shape = collections.namedtuple(
    "Shape", "layer occurrences C H W K R S stride pad P Q"
)

# The key columns every payload writes first, in the order of the measured CSV.
SHAPE_COLUMNS = ["layer", "occurrences", "N", "C", "H", "W", "K", "R", "S", "stride", "pad", "P", "Q"]


def resnet50_convs(image=224):
    """Yield (name, C, H, W, K, R, S, stride, pad) for every Conv2d of torchvision's resnet50."""
    size = image
    yield ("conv1", 3, size, size, 64, 7, 7, 2, 3)
    size = (size + 2 * 3 - 7) // 2 + 1    # conv1: 224 -> 112
    size = (size + 2 * 1 - 3) // 2 + 1    # maxpool 3x3/2 pad 1: 112 -> 56
    inplanes, expansion = 64, 4
    for stage, (planes, blocks, first_stride) in enumerate(
        [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1
    ):
        for block in range(blocks):
            stride = first_stride if block == 0 else 1
            prefix = f"layer{stage}.{block}"
            out_size = (size + 2 * 1 - 3) // stride + 1
            # Module order matches named_modules(): conv1, conv2, conv3, downsample.0.
            yield (f"{prefix}.conv1", inplanes, size, size, planes, 1, 1, 1, 0)
            yield (f"{prefix}.conv2", planes, size, size, planes, 3, 3, stride, 1)
            yield (f"{prefix}.conv3", planes, out_size, out_size, planes * expansion, 1, 1, 1, 0)
            if stride != 1 or inplanes != planes * expansion:
                yield (f"{prefix}.downsample.0", inplanes, size, size, planes * expansion, 1, 1, stride, 0)
            inplanes, size = planes * expansion, out_size


def distinct_shapes():
    """[Shape] for the 23 distinct shapes, in first-occurrence order."""
    shapes = {}
    for name, c, h, w, k, r, s, stride, pad in resnet50_convs():
        p = (h + 2 * pad - r) // stride + 1
        q = (w + 2 * pad - s) // stride + 1
        key = (c, h, w, k, r, s, stride, pad)
        if key in shapes:
            shapes[key][1] += 1
        else:
            shapes[key] = [name, 1, c, h, w, k, r, s, stride, pad, p, q]
    return [Shape(*v) for v in shapes.values()]


def macs(shape, n=1):
    """Multiply-accumulates of one conv of this shape at batch n: N*K*P*Q*C*R*S."""
    return n * shape.K * shape.P * shape.Q * shape.C * shape.R * shape.S


def subsampled(shape):
    """The shape a model is given: a 1x1 conv with stride > 1 as a stride-1 1x1 conv on the
    subsampled input (P x Q pixels; exact in the channels-last layout measured, where the kernel
    reads C contiguous values at each used pixel and never the others); any other shape as it is."""
    if shape.R == 1 and shape.S == 1 and shape.stride > 1:
        return shape._replace(H=shape.P, W=shape.Q, stride=1)
    return shape


def divisors(x, limit=None):
    """The divisors of x (up to limit, when given), ascending."""
    top = x if limit is None else min(x, limit)
    return [d for d in range(1, top + 1) if x % d == 0]


def tile_values(shape, tn, tk, tp, tq):
    """Values one tile of tn x tk x tp x tq outputs reads and writes once: its input window
    (all of C), its weights (tk filters) and its outputs."""
    s = shape
    rows, cols = (tp - 1) * s.stride + s.R, (tq - 1) * s.stride + s.S
    return tn * s.C * rows * cols + s.C * tk * s.R * s.S + tn * tk * tp * tq


def split_over(shape, n, parts):
    """How to cut one conv (batch n) into at most `parts` equal tiles for `parts` identical cores
    (the SMs of a GPU): (a, b, c, d) splits N into a, K into b, P into c and Q into d pieces, each
    a divisor of its loop (issue 22: a ceiling split leaves prime tile sizes such as 43 or 47,
    which give a mapper's exact-divisor tiling almost no choice), a*b*c*d <= parts, chosen for
    the fewest MACs per tile, then the fewest values (input + weight + output) per tile. A tile
    is n/a x K/b x P/c x Q/d outputs with all of C, R, S; give it subsampled(shape)."""
    s, best = shape, None
    for a in divisors(n, parts):
        for b in divisors(s.K, parts // a):
            for c in divisors(s.P, parts // (a * b)):
                for d in divisors(s.Q, parts // (a * b * c)):
                    tn, tk, tp, tq = n // a, s.K // b, s.P // c, s.Q // d
                    key = (tn * tk * tp * tq, tile_values(s, tn, tk, tp, tq), a * b * c * d,
                           (a, b, c, d))
                    if best is None or key < best:
                        best = key
    return best[3]


def tile(shape, n, split):
    """(tile_n, tile_k, tile_p, tile_q) of split_over()'s split."""
    a, b, c, d = split
    return n // a, shape.K // b, shape.P // c, shape.Q // d


def l2_reuse(shape, n, split):
    """How many times over the tiles of `split` read the layer's values, all tiles together
    against each value once (>= 1): the factor by which an L2 that keeps what one SM fetched
    for the others cuts the HBM traffic of a tile model (K splits share an input, N/P/Q splits
    share the weights, neighbouring P/Q tiles the halo of a window)."""
    s = shape
    tn, tk, tp, tq = tile(s, n, split)
    tiles = split[0] * split[1] * split[2] * split[3]
    once = tile_values(s, n, s.K, s.P, s.Q)
    return tiles * tile_values(s, tn, tk, tp, tq) / once


def select(spec):
    """The shapes named by spec: '' or 'all' for every shape, else comma-separated layer names
    (whitespace ignored), 0-based indices into distinct_shapes() or index ranges `A-B`
    (inclusive: `0-5`). Raises ValueError naming anything unknown."""
    shapes = distinct_shapes()
    spec = (spec or "").strip()
    if spec in ("", "all"):
        return shapes
    by_name = {s.layer: s for s in shapes}
    chosen, unknown = [], []
    items = []
    for item in (x.strip() for x in spec.split(",")):
        first, dash, last = item.partition("-")
        if dash and first.isdigit() and last.isdigit() and int(first) <= int(last):
            items.extend(str(i) for i in range(int(first), int(last) + 1))
        else:
            items.append(item)
    for item in items:
        if not item:
            continue
        if item in by_name:
            shape = by_name[item]
        elif item.isdigit() and int(item) < len(shapes):
            shape = shapes[int(item)]
        else:
            unknown.append(item)
            continue
        if shape not in chosen:
            chosen.append(shape)
    if unknown:
        raise ValueError(
            f"unknown layer(s) {', '.join(map(repr, unknown))}; known: {', '.join(by_name)}"
        )
    if not chosen:
        raise ValueError("the layer list selects no layer")
    return chosen


def env_layers(fail):
    """select() applied to OUTRUN_P_LAYERS (optional); fail(message) on a bad list."""
    import os
    try:
        return select(os.environ.get("OUTRUN_P_LAYERS", ""))
    except ValueError as e:
        fail(f"invalid OUTRUN_P_LAYERS: {e}")


def env_batch(fail, default=None):
    """OUTRUN_P_BATCH as a positive int (default when unset and default is not None)."""
    import os
    batch = os.environ.get("OUTRUN_P_BATCH")
    if batch is None:
        if default is not None:
            return default
        fail("missing parameter: OUTRUN_P_BATCH (a positive integer)")
    try:
        n = int(batch)
    except ValueError:
        n = 0
    if n < 1 or batch.strip() != str(n):
        fail(f"invalid OUTRUN_P_BATCH={batch!r}: expected a positive integer")
    return n


def env_out(fail):
    """OUTRUN_OUT, checked to be a directory."""
    import os
    out = os.environ.get("OUTRUN_OUT")
    if not out:
        fail("missing OUTRUN_OUT (the directory to write results.csv into)")
    if not os.path.isdir(out):
        fail(f"OUTRUN_OUT={out!r} is not a directory")
    return out


if __name__ == "__main__":
    import csv
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["layer", "occurrences", "C", "H", "W", "K", "R", "S", "stride", "pad", "P", "Q", "macs_n1"])
    for s in distinct_shapes():
        w.writerow(list(s) + [macs(s)])
