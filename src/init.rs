//! `outrun init`: the files a new repository needs to run its first experiment — a two-cell
//! example with a comparison against a small measured CSV, its script and the `.gitignore`
//! lines — written only when none of them exists yet, so running it twice changes nothing.

use std::path::{Path, PathBuf};

use crate::fsutil::FsError;

/// The example experiment's name (its workflow is `outrun-example.yml`).
pub const EXAMPLE: &str = "example";

const EXPERIMENT: &str = r#"name: example
description: |
  A first experiment, written by `outrun init`: a model predicts how long summing n numbers
  takes, each cell measures nothing but runs the model, and the report compares the prediction
  with measurements in data/measured/example.csv. Change it to run your own.
matrix:
  n: [1000, 1000000]
command: python3 scripts/example.py
timeout: 1m
results:
  file: results.csv
  keys: [n]
compare:
  measured: data/measured/example.csv
  on: [n]
  predicted: predicted_us
  actual: measured_us
"#;

const SCRIPT: &str = r#"#!/usr/bin/env python3
"""An outrun cell (see README "The cell contract"): its parameters arrive in the environment as
OUTRUN_P_<NAME>; it writes its rows to $OUTRUN_OUT/results.csv."""

import csv
import os

n = int(os.environ["OUTRUN_P_N"])
# The model: a fixed cost plus a cost per number (microseconds).
predicted_us = 2.0 + 0.0008 * n

with open(os.path.join(os.environ["OUTRUN_OUT"], "results.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["n", "predicted_us"])
    w.writerow([n, f"{predicted_us:.3f}"])
"#;

const MEASURED: &str = "n,measured_us\n1000,2.9\n1000000,812.5\n";

/// The lines outrun needs in `.gitignore` (its own folder ignores itself; these are the leftovers
/// a killed merge may leave beside a dataset, and Python's caches from the example).
pub const GITIGNORE_LINES: &[&str] = &[".outrun/", ".outrun-*.tmp", "__pycache__/"];

/// The files `init` creates, relative to the root, with their text.
pub fn files() -> Vec<(PathBuf, &'static str)> {
    vec![
        (
            Path::new(crate::experiment::EXPERIMENTS_DIR).join("example.yaml"),
            EXPERIMENT,
        ),
        (PathBuf::from("scripts/example.py"), SCRIPT),
        (PathBuf::from("data/measured/example.csv"), MEASURED),
    ]
}

/// Which of [`files`] and the example's workflow already exist under `root`.
pub fn existing(root: &Path) -> Vec<PathBuf> {
    files()
        .into_iter()
        .map(|(p, _)| p)
        .chain([
            crate::names::workflow_path(EXAMPLE),
            crate::names::cells_path(EXAMPLE),
        ])
        .filter(|p| root.join(p).symlink_metadata().is_ok())
        .collect()
}

/// Writes [`files`] (each atomically) and adds the missing [`GITIGNORE_LINES`] to
/// `.gitignore`, keeping what it holds. Call after [`existing`] found nothing. Returns the
/// `.gitignore` lines added.
pub fn write(root: &Path) -> Result<Vec<&'static str>, FsError> {
    for (path, text) in files() {
        crate::fsutil::write_atomic(&root.join(path), text.as_bytes())?;
    }
    let ignore = root.join(".gitignore");
    let old = std::fs::read_to_string(&ignore).unwrap_or_default();
    let have: Vec<&str> = old.lines().map(str::trim).collect();
    let added: Vec<&'static str> = GITIGNORE_LINES
        .iter()
        .copied()
        .filter(|l| !have.contains(l) && !have.contains(&format!("/{l}").as_str()))
        .collect();
    if !added.is_empty() {
        let mut new = old.clone();
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str("# outrun\n");
        for l in &added {
            new.push_str(l);
            new.push('\n');
        }
        crate::fsutil::write_atomic(&ignore, new.as_bytes())?;
    }
    Ok(added)
}
