"""Keeps the weights of a neusight-train run beside its dataset.

    python3 scripts/neusight_keep_weights.py RUN_DIR [DATASET]

RUN_DIR: the run's cell outputs (.outrun/runs/neusight-train/<run>/, or unpacked GitHub
artifacts: one folder per cell, each with results.csv and weights/). For every row of DATASET
(default data/evaluation/neusight-train.csv) whose outrun_cell is in RUN_DIR, the cell's
weights/model.pth is checked against the row's weights_sha256 and copied, with NeuSight's
config.json and the cell's epochs.csv (the learning curve), to the row's weights_file folder
(data/evaluation/neusight-train/<label>/). A digest that does not match stops it before
anything is copied.
"""

import csv
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neusight_common as nc  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run = Path(sys.argv[1])
    dataset = Path(sys.argv[2]) if len(sys.argv) > 2 else nc.ROOT / "data/evaluation/neusight-train.csv"
    with open(dataset, newline="") as f:
        rows = list(csv.DictReader(f))
    plan = []
    for row in rows:
        cell = run / row["outrun_cell"]
        if not cell.is_dir() or not row["weights_file"]:
            continue
        pth = cell / "weights" / "model.pth"
        have = nc.sha256_file(pth)
        if have != row["weights_sha256"]:
            sys.exit(f"{pth}: SHA-256 {have}, the dataset row says {row['weights_sha256']}")
        plan.append((cell, nc.ROOT / row["weights_file"]))
    if not plan:
        sys.exit(f"no cell of {dataset} found in {run}")
    for cell, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cell / "weights" / "model.pth", dst)
        shutil.copy(cell / "weights" / "config.json", dst.parent / "config.json")
        shutil.copy(cell / "epochs.csv", dst.parent / "epochs.csv")
        print(f"{cell.name} -> {dst.relative_to(nc.ROOT)}")


if __name__ == "__main__":
    main()
