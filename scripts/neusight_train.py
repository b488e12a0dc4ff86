"""One cell of experiments/neusight-train.yaml: process and train one NeuSight predictor on CPU.

NeuSight's own train.py calls torch.cuda.set_device; this driver does what it and the paper's
scripts/asplos/run_dataset.py do, on the CPU, with NeuSight's own functions:

  1. processing: the `collect/` measurements of this operator (A100, P100, P4, T4, V100, PyTorch
     2.1.0) are merged by run_dataset.py's steps (dataset_merge, then ln_merge / softmax_merge /
     elem_merge) into the training set, in a scratch folder (never in the NeuSight source);
  2. training: neusight.model_provider(the paper's MLP_WAVE_<OP>.json) and neusight.Trainer, seeded
     as train.py is (torch, random, numpy: 0), for the paper's 100 epochs, keeping the epoch of the
     best validation error (NeuSight's rule); the learning rate is the paper's (lr=paper) or the
     given one (the LINEAR fix).

Parameters (environment): OUTRUN_P_PREDICTOR (BMM, LINEAR, VEC, LN, SOFTMAX), OUTRUN_P_LR (`paper`
or a number), OUTRUN_P_EPOCHS (default 100). OUTRUN_NEUSIGHT_SAMPLE=N trains on N rows of the
processed set (the tests' small sample); OUTRUN_NEUSIGHT_THREADS sets torch's CPU threads;
OUTRUN_NEUSIGHT_BUDGET_S stops the training between two epochs once that many seconds have
passed (the best epoch so far is kept, as NeuSight keeps it; the row's epochs_run and stopped
say so) -- for a machine too busy to run the paper's 100 epochs in time, never set on GitHub.

Writes to $OUTRUN_OUT: results.csv (one row: the training's figures, the weights' SHA-256 and the
path where they are kept in the repository), weights/model.pth + weights/config.json (NeuSight's
layout), epochs.csv (loss and validation error per epoch), train.log (NeuSight's own output).
scripts/neusight_keep_weights.py copies the weights of a run beside the dataset
(data/evaluation/neusight-train/<label>/) after checking their SHA-256 against the row.
"""

import csv
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neusight_common as nc  # noqa: E402

# predictor -> (collect folders to merge, training set file, the paper's config)
PREDICTORS = {
    "BMM": (["bmm"], "bmm.csv", "MLP_WAVE_BMM.json"),
    "LINEAR": (["linear"], "linear.csv", "MLP_WAVE_LINEAR.json"),
    # run_train_nvidia_neusight.py trains VEC on train/elem.csv (the elementwise ops)
    "VEC": (
        ["add", "mul", "pow", "div", "addu", "mulu", "powu", "divu", "relu", "gelu", "tanh"],
        "elem.csv",
        "MLP_WAVE_VEC.json",
    ),
    "LN": (["ln"], "ln.csv", "MLP_WAVE_LN.json"),
    "SOFTMAX": (["softmax"], "softmax.csv", "MLP_WAVE_SOFTMAX.json"),
}

EPOCH_RE = re.compile(
    r"epoch\s+(\d+)\tloss: (\S+)\tval avg: (\S+), max: (\S+)\t(\t\(new best)?"
)


def label(predictor: str, lr: str) -> str:
    """The folder name the weights are kept under: BMM, LINEAR, LINEAR_lr0.0001, ..."""
    return predictor if lr == "paper" else f"{predictor}_lr{lr}"


class OutOfTime(Exception):
    """Raised between two epochs when OUTRUN_NEUSIGHT_BUDGET_S is spent."""


class Tee:
    """Copies what NeuSight prints to a log file and keeps it for parsing.

    With a time budget it also stops the training between two epochs: Trainer.train prints
    "epoch N" after epoch N's training pass and before its validation, by which time the best
    earlier epoch has been saved; raising there loses only epoch N (never a saved model).
    """

    def __init__(self, stream, path, deadline=None):
        self.stream, self.file, self.text = stream, open(path, "w"), []
        self.deadline = deadline

    def write(self, s):
        if self.deadline is not None and s.startswith("epoch") and time.monotonic() > self.deadline:
            raise OutOfTime()
        self.stream.write(s)
        self.file.write(s)
        self.file.flush()
        self.text.append(s)
        return len(s)

    def flush(self):
        self.stream.flush()
        self.file.flush()


def process(ns_root: Path, predictor: str, work: Path) -> Path:
    """run_dataset.py's steps for this predictor, in `work`; returns the training set."""
    from neusight.Dataset import collect as nsc

    src = ns_root / "scripts/asplos/data/dataset/train"
    train = work / "train"
    (train / "collect").mkdir(parents=True)
    shutil.copytree(src / "device_configs", train / "device_configs")
    ops, trainset, _ = PREDICTORS[predictor]
    for op in ops:
        shutil.copytree(src / "collect" / op, train / "collect" / op)
    if predictor in ("BMM", "LINEAR"):
        nsc.dataset_merge(train / "collect" / ops[0], train / trainset)
    else:
        for op in ops:
            nsc.dataset_merge(train / "collect" / op, train / "collect" / f"{op}.csv")
        merge = {"VEC": nsc.elem_merge, "LN": nsc.ln_merge, "SOFTMAX": nsc.softmax_merge}
        merge[predictor](train / "collect", train / trainset)
    return train / trainset


def main():
    out = Path(os.environ["OUTRUN_OUT"])
    predictor = os.environ.get("OUTRUN_P_PREDICTOR", "")
    if predictor not in PREDICTORS:
        sys.exit(f"OUTRUN_P_PREDICTOR must be one of {', '.join(PREDICTORS)}, not {predictor!r}")
    lr_param = os.environ.get("OUTRUN_P_LR", "paper")
    epochs = int(os.environ.get("OUTRUN_P_EPOCHS", "100"))
    sample = int(os.environ.get("OUTRUN_NEUSIGHT_SAMPLE", "0") or 0)

    ns_root = nc.neusight_root()
    source = nc.source_label(ns_root)
    scratch = Path(tempfile.mkdtemp(prefix="outrun-neusight-"))
    try:
        neusight = nc.import_neusight(ns_root, scratch / "home")
        import numpy as np
        import pandas as pd
        import torch

        if os.environ.get("OUTRUN_NEUSIGHT_THREADS"):
            torch.set_num_threads(int(os.environ["OUTRUN_NEUSIGHT_THREADS"]))

        t0 = time.monotonic()
        trainset = process(ns_root, predictor, scratch)
        df = pd.read_csv(trainset)
        rows_processed = len(df)
        if sample and sample < rows_processed:
            df.sample(n=sample, random_state=0).to_csv(trainset, index=False)
        process_s = time.monotonic() - t0

        config = json.loads(
            (ns_root / "scripts/asplos/data/predictor/configs" / PREDICTORS[predictor][2]).read_text()
        )
        paper_lr = config["lr"]
        lr = paper_lr if lr_param == "paper" else float(lr_param)
        config["lr"] = lr
        config_path = scratch / "config.json"
        config_path.write_text(json.dumps(config, indent=4))

        # train.py's seeds
        torch.manual_seed(0)
        random.seed(0)
        np.random.seed(0)
        model = neusight.model_provider(str(config_path), device="cpu")
        params = sum(p.numel() for p in model.parameters())
        weights = out / "weights"
        trainer = neusight.Trainer(model, save_path=str(weights), log_dir=str(scratch / "logs"))

        budget = float(os.environ.get("OUTRUN_NEUSIGHT_BUDGET_S", "0") or 0)
        t1 = time.monotonic()
        tee = Tee(sys.stdout, out / "train.log", t1 + budget if budget > 0 else None)
        sys.stdout = tee
        stopped = ""
        try:
            trainer.train(trainset_path=str(trainset), epochs=epochs)
        except OutOfTime:
            stopped = f"time budget {budget:.0f} s"
        finally:
            sys.stdout = tee.stream
            tee.file.close()
        train_s = time.monotonic() - t1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    curve = []
    best = None
    for m in EPOCH_RE.finditer("".join(tee.text)):
        e = {
            "epoch": int(m.group(1)),
            "train_loss": float(m.group(2)),
            "val_ape_mean": float(m.group(3)),
            "val_ape_max": float(m.group(4)),
            "saved": int(bool(m.group(5))),
        }
        curve.append(e)
        if e["saved"]:
            best = e
    if not curve or (len(curve) != epochs and not stopped):
        sys.exit(f"parsed {len(curve)} epochs of NeuSight's output, expected {epochs}")
    with open(out / "epochs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(curve[0]))
        w.writeheader()
        w.writerows(curve)

    pth = weights / "model.pth"
    name = label(predictor, lr_param)
    row = {
        "predictor": predictor,
        "lr": lr_param,
        "epochs": epochs,
        "epochs_run": len(curve),
        "stopped": stopped,
        "lr_value": lr,
        "paper_lr": paper_lr,
        "seed": 0,
        "train_rows": rows_processed if not sample else min(sample, rows_processed),
        "rows_processed": rows_processed,
        "params": params,
        "best_epoch": best["epoch"] if best else "",
        "best_val_ape_mean_pct": round(100 * best["val_ape_mean"], 3) if best else "",
        "best_val_ape_max_pct": round(100 * best["val_ape_max"], 3) if best else "",
        "last_val_ape_mean_pct": round(100 * curve[-1]["val_ape_mean"], 3),
        "nan_epochs": sum(1 for e in curve if math.isnan(e["train_loss"])),
        "process_s": round(process_s, 1),
        "train_s": round(train_s, 1),
        "peak_rss_mib": round(nc.peak_rss_mib(), 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "neusight_commit": nc.NEUSIGHT_COMMIT,
        "neusight_source": source,
        "weights_file": f"data/evaluation/neusight-train/{name}/model.pth" if pth.is_file() else "",
        "weights_sha256": nc.sha256_file(pth) if pth.is_file() else "",
        "weights_bytes": pth.stat().st_size if pth.is_file() else 0,
    }
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
