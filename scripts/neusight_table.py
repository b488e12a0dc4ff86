"""Prints docs/research.md's NeuSight table from data/evaluation/neusight-h100.csv.

    python3 scripts/neusight_table.py [DATASET]

One line per GPU and case: the measured latency, our signed error and verdict with LINEAR
trained at the paper's lr and at 1e-4, the paper's published NeuSight and roofline errors
(absolute). tests/it/research.rs holds the docs' table equal to the dataset.
"""

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(v):
    return "–" if v == "" else f"{float(v):.1f} %"


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data/evaluation/neusight-h100.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by = {(r["gpu"], r["case"], r["linear"]): r for r in rows}
    order = ["NVIDIA_H100_80GB_HBM3", "NVIDIA_L4", "NVIDIA_A100-PCIE-40GB", "NVIDIA_H100_80GB_HBM3_TP"]
    keys = sorted({(r["gpu"], r["case"]) for r in rows},
                  key=lambda k: (order.index(k[0]) if k[0] in order else 9, rows_order(k[1], rows)))
    print("| GPU | case | measured ms | ours, LINEAR paper lr | verdict | ours, LINEAR lr 1e-4 | verdict | paper NeuSight | paper roofline |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for gpu, case in keys:
        p = by[(gpu, case, "paper")]
        f = by.get((gpu, case, "1e-4"))
        print(
            f"| {gpu} | `{case}` | {float(p['measured_ms']):.2f} | {pct(p['error_pct'])} | {p['verdict']} | "
            f"{pct(f['error_pct']) if f else '–'} | {f['verdict'] if f else '–'} | "
            f"{pct(p['paper_neusight_ape_pct'])} | {pct(p['paper_roofline_ape_pct'])} |"
        )


def rows_order(case, rows):
    models = ["BERT-Large", "GPT2-Large", "GPT3-XL", "OPT-1.3B", "GPT3-2.7B", "SwitchTrans", "fp16 GEMM"]
    r = next(r for r in rows if r["case"] == case)
    return (models.index(r["model"]) if r["model"] in models else 9, int(r["batch"]), case)


if __name__ == "__main__":
    main()
