#!/usr/bin/env python3
"""Read cycles and energy from Timeloop's `timeloop-mapper.stats.txt` (or timeloop-model's).

Timeloop 3 (v3.0.3, built by scripts/install-test-tools.sh) and 4 (with Accelergy) alike; also
Sparseloop's summary, whose dense MAC count is "Algorithmic Computes".

Standard library only. Used by scripts/timeloop_resnet50.py; also a small command line:

    python3 scripts/timeloop_parse.py FILE...       one CSV row per file on stdout
    python3 scripts/timeloop_parse.py --json FILE   everything parsed, as JSON
    python3 scripts/timeloop_parse.py --check DIR   parse every *.stats.txt in DIR and check
                                                    each file's numbers against each other (and,
                                                    for the files named in KNOWN, against the
                                                    values read off them by hand)

Tests (tests/it/research.rs) run --check on scripts/testdata/timeloop/ (a SYNTHETIC file written
by hand from the format, see its README) and, when present, on ../shared/data/timeloop/ (real
Timeloop output, which cannot be committed here: it comes from a public repository).

What a stats file holds (Timeloop 3/4 with Accelergy; the format has been stable since 2020):
per level ("Level N" / "=== name ===") its SPECS, MAPPING and STATS, each level's STATS
starting with `Cycles : N` and `Bandwidth throttling : X`; then "Summary Stats":

    GFLOPs (@1GHz): 247.33
    Utilization: 75.00%
    Cycles: 86016
    Energy: 59.28 uJ
    EDP(J*cycle): 5.10e+00
    Area: 0.00 mm^2

    Computes = 10838016
    fJ/Compute                      (pJ/Compute in some older versions)
        mac           = 207.69
        ...
        Total         = 5469.65

parse_stats(text) returns a dict with
    cycles               the layer's latency in cycles (Summary "Cycles")
    energy_uj            Summary "Energy" in microjoules (printed with 2 decimals only)
    energy_pj            Total per-compute energy x Computes, in pJ: more digits than energy_uj
    computes             MACs the mapping performs (= N*K*P*Q*C*R*S for a conv)
    utilization_pct, gflops_at_1ghz, edp_j_cycle, area_mm2
    energy_per_compute_fj   {level name: fJ per compute, ..., "Total": ...}
    levels               [{"level": N, "name": ..., "cycles": ..., "bandwidth_throttling": ...}]
A file without "Summary Stats" (a mapper that found no valid mapping leaves none, or an
interrupted run) raises ValueError.
"""

import json
import os
import re
import sys

_SUMMARY_FIELDS = {
    "GFLOPs (@1GHz)": ("gflops_at_1ghz", float),
    "Utilization": ("utilization_pct", float),
    "Cycles": ("cycles", int),
    "Energy": ("energy_uj", float),
    "EDP(J*cycle)": ("edp_j_cycle", float),
    "Area": ("area_mm2", float),
}

CSV_COLUMNS = [
    "file", "cycles", "energy_uj", "energy_pj", "computes", "utilization_pct",
    "gflops_at_1ghz", "edp_j_cycle",
]


def _number(text):
    """The leading number of '75.00%', '59.28 uJ', '5.10e+00', '86016'."""
    m = re.match(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", text)
    if not m:
        raise ValueError(f"not a number: {text!r}")
    return m.group(1)


def parse_stats(text):
    """Parse the text of a timeloop-mapper.stats.txt / timeloop-model.stats.txt."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Summary Stats")
    except StopIteration:
        raise ValueError("no 'Summary Stats' section (did the mapper find a valid mapping?)")
    result = {"energy_per_compute_fj": {}, "levels": []}

    # Per-level cycles and throttling, before the summary.
    level = None
    for line in lines[:start]:
        m = re.match(r"^Level (\d+)\s*$", line)
        if m:
            level = {"level": int(m.group(1)), "name": None, "cycles": None,
                     "bandwidth_throttling": None}
            result["levels"].append(level)
            continue
        if level is None:
            continue
        m = re.match(r"^=== (.+) ===\s*$", line)
        if m and level["name"] is None:
            level["name"] = m.group(1).strip()
            continue
        m = re.match(r"^\s+Cycles\s*:\s*(\d+)\s*$", line)
        if m and level["cycles"] is None:
            level["cycles"] = int(m.group(1))
            continue
        m = re.match(r"^\s+Bandwidth throttling\s*:\s*(\S+)\s*$", line)
        if m and level["bandwidth_throttling"] is None:
            level["bandwidth_throttling"] = float(_number(m.group(1)))

    # The summary.
    unit = None
    for line in lines[start + 1:]:
        stripped = line.strip()
        if not stripped or set(stripped) == {"-"}:
            continue
        m = re.match(r"^([^:=]+?):\s*(.+)$", stripped)
        if m and m.group(1) in _SUMMARY_FIELDS:
            key, cast = _SUMMARY_FIELDS[m.group(1)]
            value = float(_number(m.group(2)))
            # Timeloop 4 prints "75.00%", Timeloop 3 the fraction "0.75".
            if key == "utilization_pct" and not m.group(2).strip().endswith("%"):
                value *= 100.0
            result[key] = int(value) if cast is int else value
            if key == "energy_uj" and not m.group(2).strip().endswith("uJ"):
                raise ValueError(f"unexpected energy unit in {stripped!r}")
            continue
        # Dense designs print "Computes = N"; sparse ones (Sparseloop) print the dense count as
        # "Algorithmic Computes" (per-compute energy "fJ/Algorithmic-Compute") and what the
        # hardware performed as "Actual Computes" ("fJ/Compute"). computes is always the dense
        # count (the layer's MACs); actual_computes is the sparse one.
        m = re.match(r"^(Algorithmic |Actual )?Computes\s*=\s*(\d+)$", stripped)
        if m:
            kind = {"Algorithmic ": "computes", "Actual ": "actual_computes"}
            result[kind.get(m.group(1), "computes")] = int(m.group(2))
            continue
        if stripped in ("fJ/Compute", "pJ/Compute"):
            unit = stripped
            result["energy_per_compute_fj"] = {}   # the sparse file's second table wins
            continue
        if stripped == "fJ/Algorithmic-Compute":
            unit = None   # per dense compute; the fJ/Compute table follows
            continue
        m = re.match(r"^(\S+)\s*=\s*(\S+)$", stripped)
        if m and unit:
            value = float(_number(m.group(2)))
            if unit == "pJ/Compute":
                value *= 1000.0
            result["energy_per_compute_fj"][m.group(1)] = value

    for key in ("cycles", "energy_uj"):
        if key not in result:
            raise ValueError(f"Summary Stats has no {key}")
    total = result["energy_per_compute_fj"].get("Total")
    performed = result.get("actual_computes", result.get("computes"))
    if total is not None and performed is not None:
        result["energy_pj"] = total * performed / 1000.0
    else:
        result["energy_pj"] = result["energy_uj"] * 1e6
    return result


def parse_file(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_stats(f.read())


# Real files (Accelergy-Project/timeloop-accelergy-exercises, MIT) and their values, read off
# by hand: (cycles, energy_uj, computes, utilization_pct, levels, fJ/compute Total).
KNOWN = {
    "eyeriss_like.timeloop-mapper.stats.txt": (86016, 59.28, 10838016, 75.0, 6, 5469.65),
    "simple_weight_stationary.timeloop-mapper.stats.txt":
        (903168, 151.67, 10838016, 4.69, 7, 13994.23),
    "ispass2020_fpmac.timeloop-mapper.stats.txt":
        (5505024, 62245.49, 924844032, 100.0, 6, 67303.77),
    "synthetic-array32.timeloop-mapper.stats.txt": (12544, 3.94, 12845056, 100.0, 4, 306.73),
}


def check_file(path):
    """[failure messages] for one stats file: its numbers agree with each other, and with KNOWN."""
    name = os.path.basename(path)
    try:
        r = parse_file(path)
    except ValueError as e:
        return [f"{name}: {e}"]
    got = []
    total = r["energy_per_compute_fj"].get("Total")
    checks = [
        ("cycles > 0", r["cycles"] > 0, True),
        ("computes > 0", r.get("computes", 0) > 0, True),
        ("0 < utilization <= 100", 0 < r.get("utilization_pct", 0) <= 100, True),
        ("has levels", len(r["levels"]) > 0, True),
        # the summary's 2-decimal energy agrees with fJ/Compute Total x Computes
        ("energy_pj ~ energy_uj", abs(r["energy_pj"] / 1e6 - r["energy_uj"])
         <= 0.005 + 1e-4 * r["energy_uj"], True),
        ("level cycles <= cycles",
         max(lv["cycles"] or 0 for lv in r["levels"]) <= r["cycles"], True),
    ]
    if name in KNOWN:
        cycles, energy, computes, util, nlevels, ftotal = KNOWN[name]
        checks += [
            ("cycles", r["cycles"], cycles),
            ("energy_uj", r["energy_uj"], energy),
            ("computes", r["computes"], computes),
            ("utilization_pct", r["utilization_pct"], util),
            ("levels", len(r["levels"]), nlevels),
            ("fJ Total", total, ftotal),
        ]
    for what, value, want in checks:
        ok = (abs(value - want) <= 1e-9 * max(1, abs(want)) if isinstance(want, float)
              else value == want)
        if not ok:
            got.append(f"{name}: {what} = {value!r}, expected {want!r}")
    return got


def check_dir(directory):
    """Check every *.stats.txt in directory; print a summary; True when all pass."""
    files = sorted(f for f in os.listdir(directory) if f.endswith(".stats.txt"))
    if not files:
        print(f"no *.stats.txt in {directory}")
        return False
    failures = []
    for f in files:
        failures += check_file(os.path.join(directory, f))
    try:
        parse_stats("Buffer and Arithmetic Levels\n")
        failures.append("a file without Summary Stats was accepted")
    except ValueError:
        pass
    for line in failures:
        print(f"FAIL {line}")
    print(f"{len(files)} files checked ({sum(f in KNOWN for f in files)} with known values), "
          f"{len(failures)} failures")
    return not failures


def main(argv):
    if argv[:1] == ["--check"]:
        if len(argv) != 2:
            sys.exit("usage: timeloop_parse.py --check DIR")
        sys.exit(0 if check_dir(argv[1]) else 1)
    if argv[:1] == ["--json"]:
        if len(argv) != 2:
            sys.exit("usage: timeloop_parse.py --json FILE")
        print(json.dumps(parse_file(argv[1]), indent=1))
        return
    if not argv:
        sys.exit("usage: timeloop_parse.py [--json] FILE... | --check DIR")
    import csv
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for path in argv:
        r = parse_file(path)
        w.writerow([path] + [r.get(c, "") for c in CSV_COLUMNS[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
