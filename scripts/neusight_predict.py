"""Cells of experiments/neusight-h100.yaml and neusight-h200-resnet50.yaml: NeuSight's retrained
predictors (data/evaluation/neusight-train.csv, weights kept beside it) predict latencies on the CPU.

Before anything is loaded, every model.pth is checked against the SHA-256 its training row holds:
NeuSight silently predicts with random weights when model.pth is missing.

OUTRUN_P_CASES selects what is predicted:

  paper-inf  the paper's inference cases on OUTRUN_P_GPU (a device of scripts/asplos/label/) with
             NeuSight's own NeusightPredictor.predict (what scripts/pred.py calls), on the operator
             graphs the paper traced (scripts/asplos/results/opgraph_raw/, used as pred.py uses
             them when present); the row's measured latency is the label's e2e_latency
             (label/<GPU>/<case>.json), the paper's published errors come from
             summary/nvidia_inf.csv (NeuSight's and the roofline's).
  fp16mm     the paper's fp16 GEMM check (scripts/asplos/fp16mm_exp.py): 9 batched GEMMs measured
             in fp16 on the H100 (fp16mm.csv), predicted by the BMM predictor with the paper's
             tensor-core device configuration (NVIDIA_H100_80GB_HBM3_TP.json).
  resnet50   the 23 ResNet-50 conv shapes (scripts/resnet50_shapes.py) at OUTRUN_P_BATCH as
             implicit GEMMs on the H200 (scripts/neusight_devices/NVIDIA_H200_TP.json): rows N*P*Q,
             columns K, reduction C*R*S. NeuSight's LINEAR predictor (torch.nn.Linear: an input of
             M x N times a weight of N x K; N is NeuSight's reduction) with B=1, M=N*P*Q, N=C*R*S,
             K=K -- the operator class NeuSight itself uses for every matmul against a weight.

OUTRUN_P_LINEAR: `paper` (LINEAR trained at the paper's lr) or a learning rate whose LINEAR cell
exists (1e-4). OUTRUN_NEUSIGHT_WEIGHTS_CSV names another training dataset (the tests').
"""

import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neusight_common as nc  # noqa: E402
import neusight_train  # noqa: E402

TOLERANCE_PTS = 10.0  # the paper: predictions vary by about 10 % between trainings

MODEL_NAMES = {  # summary/nvidia_inf.csv's column names
    "bert_large": "BERT-Large",
    "gpt2_large": "GPT2-Large",
    "gpt3_xl": "GPT3-XL",
    "opt_13": "OPT-1.3B",
    "gpt3_27": "GPT3-2.7B",
    "switchxl4": "SwitchTrans",
}


def weights_rows(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assemble_predictors(linear: str, into: Path, weights_csv: Path) -> dict:
    """Copies the five checked predictors into NeuSight's layout (into/<OP>/model.pth)."""
    rows = weights_rows(weights_csv)
    used = {}
    for op in ["BMM", "LINEAR", "VEC", "LN", "SOFTMAX"]:
        lr = linear if op == "LINEAR" else "paper"
        match = [r for r in rows if r["predictor"] == op and r["lr"] == lr]
        if not match:
            sys.exit(f"{weights_csv}: no training row for predictor {op}, lr {lr}")
        row = match[-1]
        pth = nc.ROOT / row["weights_file"] if row["weights_file"] else None
        if os.environ.get("OUTRUN_NEUSIGHT_WEIGHTS_DIR") and row["weights_file"]:
            # the tests keep their weights outside the repository
            pth = Path(os.environ["OUTRUN_NEUSIGHT_WEIGHTS_DIR"]) / Path(row["weights_file"]).parent.name / "model.pth"
        if pth is None or not pth.is_file():
            sys.exit(f"{op} (lr {lr}): weights {row['weights_file'] or '(none saved)'} missing")
        have = nc.sha256_file(pth)
        if have != row["weights_sha256"]:
            sys.exit(f"{op} (lr {lr}): {pth} has SHA-256 {have}, the training row says {row['weights_sha256']}")
        dst = into / op
        dst.mkdir(parents=True)
        shutil.copy(pth, dst / "model.pth")
        shutil.copy(pth.parent / "config.json", dst / "config.json")
        used[op] = row
    return used


def paper_errors(ns_root: Path, gpu: str) -> dict:
    """{(model, batch): {predictor: err}} from summary/nvidia_inf.csv's block for `gpu`."""
    lines = (ns_root / "scripts/asplos/summary/nvidia_inf.csv").read_text().splitlines()
    out = {}
    i = lines.index(gpu) if gpu in lines else -1
    if i < 0:
        return out
    header = next(csv.reader([lines[i + 1]]))
    batches = next(csv.reader([lines[i + 2]]))
    models, last = [], ""
    for h in header[1:]:
        last = h or last
        models.append(last)
    for line in lines[i + 3 : i + 7]:
        cells = next(csv.reader([line]))
        for model, batch, v in zip(models, batches[1:], cells[1:]):
            if v:
                out.setdefault((model, batch), {})[cells[0]] = float(v)
    return out


def verdict(ours_ape: float, paper: float) -> str:
    if not math.isfinite(ours_ape):
        return "no prediction"
    d = ours_ape - paper
    if abs(d) <= TOLERANCE_PTS:
        return "held"
    return "not held (worse)" if d > 0 else "not held (better)"


def predict_paper_inf(ns, ns_root, gpu, predictors, scratch, tile_dir):
    asplos = ns_root / "scripts/asplos"
    results = scratch / "results"
    for sub in ["opgraph_raw", "opgraph"]:
        shutil.copytree(asplos / "results" / sub, results / sub)
    published = paper_errors(ns_root, gpu)
    predictor = ns.NeusightPredictor(
        predictor_name="neusight", predictor_path=str(predictors), tile_dataset_dir=str(tile_dir)
    )
    rows = []
    cases = sorted(p.stem for p in (asplos / "label" / gpu).glob("*-inf-*.json") if "fusion" not in p.stem)
    for case in cases:
        model, _, seqlen, batch = case.split("-")
        if not (asplos / "results/opgraph_raw" / f"{case}.csv").is_file():
            print(f"{case}: the paper's traced graph is not in the snapshot; not predicted", file=sys.stderr)
            continue
        label = json.loads((asplos / "label" / gpu / f"{case}.json").read_text())
        t0 = time.monotonic()
        predictor.predict(
            device_config_path=str(asplos / "data/device_configs" / f"{gpu}.json"),
            model_config_path=str(asplos / "data/DLmodel_configs" / f"{model}.json"),
            sequence_length=int(seqlen),
            batch_size=int(batch),
            result_dir=str(results),
            execution_type="inf",
        )
        device_name = json.loads((asplos / "data/device_configs" / f"{gpu}.json").read_text())["Device"]
        pred = json.loads(
            (results / "prediction" / device_name.replace(" ", "_") / "neusight" / f"{case}.json").read_text()
        )
        measured = float(label["e2e_latency"])
        predicted = float(pred["e2e_latency"])
        err = 100 * (predicted - measured) / measured
        paper = published.get((MODEL_NAMES.get(model, model), batch), {})
        pn = paper.get("NeuSight")
        rows.append(
            {
                "case": case,
                "model": MODEL_NAMES.get(model, model),
                "batch": int(batch),
                "seqlen": int(seqlen),
                "predicted_ms": round(predicted, 4),
                "measured_ms": round(measured, 4),
                "error_pct": round(err, 2),
                "ape_pct": round(abs(err), 2),
                "paper_neusight_ape_pct": pn if pn is not None else "",
                "paper_roofline_ape_pct": paper.get("Roofline", ""),
                "diff_pts": round(abs(err) - pn, 2) if pn is not None else "",
                "verdict": verdict(abs(err), pn) if pn is not None else "no published figure",
                "predict_s": round(time.monotonic() - t0, 1),
                "graph": "paper's opgraph_raw",
            }
        )
    return rows


def mlpredictor(ns_root, predictors, op, tile):
    from neusight.Prediction.predictor import MLPredictor

    return MLPredictor(Path(predictors) / op, meta_table_path=Path(tile))


def predict_fp16mm(ns_root, predictors, tile_dir):
    asplos = ns_root / "scripts/asplos"
    config = json.loads((asplos / "data/device_configs/NVIDIA_H100_80GB_HBM3_TP.json").read_text())
    bmm = mlpredictor(ns_root, predictors, "BMM", tile_dir / "bmm.csv")
    rows = []
    with open(asplos / "fp16mm.csv", newline="") as f:
        for r in csv.DictReader(f):
            B, M, N, K = (int(r[k]) for k in "BMNK")
            t0 = time.monotonic()
            pred = bmm.predict(["bmm"], {"B": B, "M": M, "N": N, "K": K}, device_config=dict(config)) * 1000
            measured = float(r["Latency"])
            err = 100 * (pred - measured) / measured
            paper = 100 * float(r["err"])
            rows.append(
                {
                    "case": f"fp16 bmm B{B} M{M} N{N} K{K}",
                    "model": "fp16 GEMM",
                    "batch": B,
                    "seqlen": "",
                    "predicted_ms": round(pred, 5),
                    "measured_ms": round(measured, 5),
                    "error_pct": round(err, 2),
                    "ape_pct": round(abs(err), 2),
                    "paper_neusight_ape_pct": round(paper, 2),
                    "paper_roofline_ape_pct": "",
                    "diff_pts": round(abs(err) - paper, 2),
                    "verdict": verdict(abs(err), paper),
                    "predict_s": round(time.monotonic() - t0, 2),
                    "graph": "",
                }
            )
    return rows


def predict_resnet50(ns_root, predictors, tile_dir, batch):
    import resnet50_shapes

    config_path = nc.ROOT / "scripts/neusight_devices/NVIDIA_H200_TP.json"
    config = json.loads(config_path.read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    linear = mlpredictor(ns_root, predictors, "LINEAR", tile_dir / "linear.csv")
    rows = []
    for s in resnet50_shapes.distinct_shapes():
        m, n, k = batch * s.P * s.Q, s.C * s.R * s.S, s.K
        pred = linear.predict(["linear"], {"B": 1, "M": m, "N": n, "K": k}, device_config=dict(config))
        rows.append(
            {
                "layer": s.layer,
                "N": batch,
                "dtype": "float16",
                "gemm_m": m,
                "gemm_n": n,
                "gemm_k": k,
                "macs": resnet50_shapes.macs(s, batch),
                "latency_us": round(pred * 1e6, 3),
                "device_config": "scripts/neusight_devices/NVIDIA_H200_TP.json",
                "operator": "LINEAR (B=1, M=N*P*Q, N=C*R*S, K=K)",
            }
        )
    return rows


def main():
    out = Path(os.environ["OUTRUN_OUT"])
    cases = os.environ.get("OUTRUN_P_CASES", "paper-inf")
    linear = os.environ.get("OUTRUN_P_LINEAR", "paper")
    weights_csv = Path(
        os.environ.get("OUTRUN_NEUSIGHT_WEIGHTS_CSV") or nc.ROOT / "data/evaluation/neusight-train.csv"
    )
    ns_root = nc.neusight_root()
    scratch = Path(tempfile.mkdtemp(prefix="outrun-neusight-pred-"))
    try:
        predictors = scratch / "predictor"
        used = assemble_predictors(linear, predictors, weights_csv)
        ns = nc.import_neusight(ns_root, scratch / "home")
        # the tile datasets (NeuSight's meta tables): run_dataset.py's processing, as in training;
        # the whole-model cases need all of them, the GEMM cases only their operator's
        tile_dir = scratch / "tiles"
        tile_dir.mkdir()
        need = {"fp16mm": ["BMM"], "resnet50": ["LINEAR"]}.get(cases, ["BMM", "LINEAR", "VEC", "LN", "SOFTMAX"])
        for op in need:
            f = neusight_train.process(ns_root, op, scratch / f"work-{op}")
            shutil.copy(f, tile_dir / f.name)
        if not (tile_dir / "device_configs").exists():
            shutil.copytree(scratch / f"work-{need[0]}/train/device_configs", tile_dir / "device_configs")
        if "VEC" in need:
            # vec.csv = ln + softmax + elem, as run_dataset.py writes it
            import pandas as pd

            pd.concat(
                [pd.read_csv(tile_dir / n) for n in ["ln.csv", "softmax.csv", "elem.csv"]]
            ).to_csv(tile_dir / "vec.csv", index=False)

        if cases == "paper-inf":
            rows = predict_paper_inf(ns, ns_root, os.environ["OUTRUN_P_GPU"], predictors, scratch, tile_dir)
        elif cases == "fp16mm":
            rows = predict_fp16mm(ns_root, predictors, tile_dir)
        elif cases == "resnet50":
            rows = predict_resnet50(ns_root, predictors, tile_dir, int(os.environ["OUTRUN_P_BATCH"]))
        else:
            sys.exit(f"OUTRUN_P_CASES: paper-inf, fp16mm or resnet50, not {cases!r}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not rows:
        sys.exit("nothing predicted")
    for r in rows:
        r["weights_sha256"] = " ".join(f"{op}:{used[op]['weights_sha256'][:12]}" for op in used)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(", ".join(f"{k}={v}" for k, v in r.items() if k != "weights_sha256"))


if __name__ == "__main__":
    main()
