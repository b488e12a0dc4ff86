//! The dataset rules, through the binary: upsert by (cell, run), newest run per key in reports,
//! failed cells reported and never merged, long layout, numeric sort, atomic writes under a
//! kill -9, and no lost rows when two merges race.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{self, Project, WRITE_ROW, tiny_experiment};

pub(crate) type Row = BTreeMap<String, String>;

/// Parses a dataset strictly (every record as long as the header): (header, rows).
pub(crate) fn parse_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<Row>), csv::Error> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = r.headers()?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        rows.push(
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect(),
        );
    }
    Ok((header, rows))
}

pub(crate) fn dataset_path(p: &Project, name: &str) -> PathBuf {
    p.root().join(format!("data/evaluation/{name}.csv"))
}

pub(crate) fn dataset_bytes(p: &Project, name: &str) -> Vec<u8> {
    std::fs::read(dataset_path(p, name)).unwrap_or_else(|e| panic!("{name}.csv: {e}"))
}

pub(crate) fn dataset_rows(p: &Project, name: &str) -> (Vec<String>, Vec<Row>) {
    parse_csv(&dataset_bytes(p, name)).expect("the dataset parses")
}

/// `run NAME --local --json` with extra environment: (exit code, its JSON, stderr).
pub(crate) fn run_local(p: &Project, name: &str, env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = p.cmd();
    cmd.args(["run", name, "--local", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = common::run(&mut cmd);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v, err)
}

pub(crate) fn report_json(p: &Project, name: &str) -> Value {
    let (code, out, err) = common::run(p.cmd().args(["report", name, "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Like [`WRITE_ROW`], plus `$BUMP` (from the environment outrun passes on) in the value.
pub(crate) const WRITE_ROW_BUMPED: &str = r#"'printf "n,mode,value\n%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$((OUTRUN_P_N * 10 + ${BUMP:-0}))" > "$OUTRUN_OUT/results.csv"'"#;

#[test]
fn merge_is_idempotent_and_reports_use_the_newest_run() {
    // `history: all`: every run's rows stay (see tests/it/dataset_history.rs for `newest`).
    let p = Project::new();
    p.experiment(
        "tiny",
        &format!(
            "{}dataset:\n  history: all\n",
            tiny_experiment("tiny", WRITE_ROW_BUMPED)
        ),
    );
    let (code, first, err) = run_local(&p, "tiny", &[("BUMP", "0")]);
    assert_eq!(code, 0, "{err}");
    let run1 = first["run_id"].as_str().unwrap().to_string();
    let before = dataset_bytes(&p, "tiny");
    let (_, rows) = dataset_rows(&p, "tiny");
    assert_eq!(rows.len(), 6);

    // The same run again: not a byte changes, and it says so.
    let from = format!(".outrun/runs/tiny/{run1}");
    let (code, out, err) = common::run(p.cmd().args(["merge", "tiny", "--from", &from]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(unchanged)"), "{out}");
    assert!(out.contains("0 rows added, 6 replaced, 6 in all"), "{out}");
    assert_eq!(dataset_bytes(&p, "tiny"), before);
    let (code, out, _) = common::run(p.cmd().args(["merge", "tiny", "--from", &from, "--json"]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["changed"], false, "{v}");
    assert_eq!(dataset_bytes(&p, "tiny"), before);

    // A newer run adds rows next to the old ones; the old rows are untouched.
    let (code, second, err) = run_local(&p, "tiny", &[("BUMP", "5")]);
    assert_eq!(code, 0, "{err}");
    let run2 = second["run_id"].as_str().unwrap().to_string();
    assert_ne!(run1, run2);
    assert_eq!(second["merge"]["rows_added"], 6, "{second}");
    let (_, rows) = dataset_rows(&p, "tiny");
    assert_eq!(rows.len(), 12);
    let runs: BTreeSet<&str> = rows.iter().map(|r| r["outrun_run_id"].as_str()).collect();
    assert_eq!(runs, BTreeSet::from([run1.as_str(), run2.as_str()]));
    let after = String::from_utf8(dataset_bytes(&p, "tiny")).unwrap();
    for line in String::from_utf8(before.clone()).unwrap().lines() {
        assert!(after.lines().any(|l| l == line), "old row lost: {line}");
    }

    let newest = |p: &Project| {
        let rep = report_json(p, "tiny");
        let got: Vec<(String, String, String)> = rep["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["n"].as_str().unwrap().into(),
                    r["mode"].as_str().unwrap().into(),
                    r["value"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: Vec<(String, String, String)> = [1, 2, 3]
            .iter()
            .flat_map(|n| {
                ["a", "b"].map(|m| (n.to_string(), m.to_string(), (n * 10 + 5).to_string()))
            })
            .collect();
        assert_eq!(got, want, "{rep}");
    };
    newest(&p);

    // Merging the older run once more changes nothing, and "newest" still means run 2.
    let (code, out, _) = common::run(p.cmd().args(["merge", "tiny", "--from", &from]));
    assert_eq!(code, 0);
    assert!(out.contains("(unchanged)"), "{out}");
    assert_eq!(dataset_bytes(&p, "tiny"), after.as_bytes());
    newest(&p);
}

#[test]
fn dataset_file_has_an_ordinary_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, _, err) = run_local(&p, "tiny", &[]);
    assert_eq!(code, 0, "{err}");
    // What any other tool writing a new file here would get (0666 less the umask).
    let probe = p.write("data/evaluation/probe.txt", "x");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&dataset_path(&p, "tiny")),
        mode(&probe),
        "a dataset others cannot read"
    );
    // A mode the user chose survives a merge that rewrites the file.
    std::fs::set_permissions(
        dataset_path(&p, "tiny"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let (code, _, _) = run_local(&p, "tiny", &[]);
    assert_eq!(code, 0);
    assert_eq!(mode(&dataset_path(&p, "tiny")), 0o640);
}

/// A cell with n=2 misbehaves in the way `bad` says; the others write a good row. Checks the
/// run fails, the report names both n=2 cells with `reason`, and only good rows are merged.
fn failed_cells_are_reported_not_merged(bad: &str, reason: &str) {
    let p = Project::new();
    let command = format!(
        r#"'if [ "$OUTRUN_P_N" = 2 ]; then {bad}; else printf "step,value\n1,%s\n" "$((OUTRUN_P_N * 10))" > "$OUTRUN_OUT/results.csv"; fi'"#
    );
    let yaml =
        tiny_experiment("flaky", &command).replace("keys: [n, mode]", "keys: [n, mode, step]");
    p.experiment("flaky", &yaml);
    let (code, v, err) = run_local(&p, "flaky", &[]);
    assert_eq!(code, 1, "{v}\n{err}");

    let check_cells = |cells: &Value| {
        let cells = cells.as_array().unwrap();
        assert_eq!(cells.len(), 6);
        for c in cells {
            let n = c["params"]["n"].as_str().unwrap();
            if n == "2" {
                assert_eq!(c["status"], "failed", "{c}");
                assert!(
                    c["error"].as_str().is_some_and(|e| e.contains(reason)),
                    "`{reason}` not in {c}"
                );
            } else {
                assert_eq!(c["status"], "ok", "{c}");
            }
        }
    };
    check_cells(&v["report"]["cells"]);
    assert_eq!(v["report"]["summary"]["failed"], 2);
    assert_eq!(v["merge"]["cells_merged"], 4);
    assert_eq!(v["merge"]["cells_skipped"], 2);

    let rep = report_json(&p, "flaky");
    check_cells(&rep["cells"]);
    assert_eq!(
        rep["summary"],
        json!({"cells": 6, "ok": 4, "failed": 2, "timed_out": 0, "cancelled": 0, "refused": 0})
    );
    let (code, md, err) = common::run(p.cmd().args(["report", "flaky"]));
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("### Cells that did not succeed"), "{md}");
    let bad_lines: Vec<&str> = md.lines().filter(|l| l.contains("| failed |")).collect();
    assert_eq!(bad_lines.len(), 2, "{md}");
    for l in bad_lines {
        assert!(l.contains("n=2") && l.contains(reason), "{l}");
    }

    let (_, rows) = dataset_rows(&p, "flaky");
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["n"].as_str(), r["mode"].as_str()))
        .collect();
    assert_eq!(got, [("1", "a"), ("1", "b"), ("3", "a"), ("3", "b")]);

    // `merge` of that run says the same, and still exits 1.
    let (code, _, err) = common::run(p.cmd().args(["merge", "flaky"]));
    assert_eq!(code, 1);
    assert_eq!(err.matches("not merged: ").count(), 2, "{err}");
    assert!(err.contains(reason), "{err}");
}

#[test]
fn failed_cell_exit_status() {
    failed_cells_are_reported_not_merged("exit 3", "exit status 3");
}

#[test]
fn failed_cell_results_lack_a_key_column() {
    failed_cells_are_reported_not_merged(
        r#"printf "value\n5\n" > "$OUTRUN_OUT/results.csv""#,
        "results.csv lacks the key column(s) step",
    );
}

#[test]
fn failed_cell_malformed_csv() {
    failed_cells_are_reported_not_merged(
        r#"printf "step,value\n1,5\n2\n" > "$OUTRUN_OUT/results.csv""#,
        "found record with 1 fields, but the previous record has 2 fields",
    );
}

#[test]
fn failed_cell_writes_no_results() {
    failed_cells_are_reported_not_merged("echo done", "the command wrote no results.csv");
}

#[test]
fn long_layout_has_metric_and_value_rows() {
    let p = Project::new();
    let command = r#"'printf "n,mode,latency,energy\n%s,%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$((OUTRUN_P_N * 10))" "$((OUTRUN_P_N * 7))" > "$OUTRUN_OUT/results.csv"'"#;
    p.experiment(
        "long",
        &format!(
            "{}dataset:\n  layout: long\n",
            tiny_experiment("long", command)
        ),
    );
    let (code, _, err) = run_local(&p, "long", &[]);
    assert_eq!(code, 0, "{err}");
    let (header, rows) = dataset_rows(&p, "long");
    assert_eq!(&header[..4], ["n", "mode", "metric", "value"]);
    assert!(
        header[4..].iter().all(|h| h.starts_with("outrun_")),
        "{header:?}"
    );
    let got: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["n"].as_str(),
                r["mode"].as_str(),
                r["metric"].as_str(),
                r["value"].as_str(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for n in [1, 2, 3] {
        for m in ["a", "b"] {
            // Sorted by key, then metric.
            want.push((n.to_string(), m, "energy", (n * 7).to_string()));
            want.push((n.to_string(), m, "latency", (n * 10).to_string()));
        }
    }
    let want: Vec<(&str, &str, &str, &str)> = want
        .iter()
        .map(|(n, m, k, v)| (n.as_str(), *m, *k, v.as_str()))
        .collect();
    assert_eq!(got, want);
    // Reports pivot it back to one row per key.
    let rep = report_json(&p, "long");
    let results = rep["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(
        (
            &results[5]["n"],
            &results[5]["latency"],
            &results[5]["energy"]
        ),
        (&json!("3"), &json!("30"), &json!("21"))
    );
}

#[test]
fn rows_are_sorted_numerically_by_key() {
    let p = Project::new();
    let yaml = "name: sorted\nmatrix:\n  n: [10, 9, 100, 1, 2.5, 20]\ncommand: 'printf \"n,value\\n%s,1\\n\" \"$OUTRUN_P_N\" > \"$OUTRUN_OUT/results.csv\"'\ntimeout: 20s\nresults:\n  keys: [n]\ndataset:\n  history: all\n";
    p.experiment("sorted", yaml);
    let (code, _, err) = run_local(&p, "sorted", &[]);
    assert_eq!(code, 0, "{err}");
    let first = String::from_utf8(dataset_bytes(&p, "sorted")).unwrap();
    let (_, rows) = dataset_rows(&p, "sorted");
    let ns: Vec<&str> = rows.iter().map(|r| r["n"].as_str()).collect();
    assert_eq!(ns, ["1", "2.5", "9", "10", "20", "100"]);

    // A second run puts each new row next to its key's older row, so the diff is only additions
    // and the old lines keep their order.
    let (code, _, err) = run_local(&p, "sorted", &[]);
    assert_eq!(code, 0, "{err}");
    let (_, rows) = dataset_rows(&p, "sorted");
    let ns: Vec<&str> = rows.iter().map(|r| r["n"].as_str()).collect();
    assert_eq!(
        ns,
        [
            "1", "1", "2.5", "2.5", "9", "9", "10", "10", "20", "20", "100", "100"
        ]
    );
    let second = String::from_utf8(dataset_bytes(&p, "sorted")).unwrap();
    let mut new_lines = second.lines();
    for old in first.lines() {
        assert!(new_lines.any(|l| l == old), "old line moved or lost: {old}");
    }
}

// --- Cell outputs written directly, following src/contract.rs -------------------------------

/// An experiment with `cells` cells (n = 0.., mode = a) whose rows are keyed by (n, mode, i).
pub(crate) fn big_experiment(name: &str, cells: usize, history: &str) -> String {
    let ns: Vec<String> = (0..cells).map(|n| n.to_string()).collect();
    format!(
        "name: {name}\nmatrix:\n  n: [{}]\n  mode: [a]\ncommand: 'true'\ntimeout: 20s\nresults:\n  keys: [n, mode, i]\ndataset:\n  history: {history}\n",
        ns.join(", ")
    )
}

/// The cells of an experiment as `plan --json` lists them: (id, params).
pub(crate) fn plan_cells(p: &Project, name: &str) -> Vec<(String, Value)> {
    let (code, out, err) = common::run(p.cmd().args(["plan", name, "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["params"].clone()))
        .collect()
}

/// A run folder as a backend leaves it: one directory per cell with `cell.json` and
/// `results.csv` (`rows` rows; values depend on `salt`).
pub(crate) fn write_run(
    dir: &Path,
    experiment: &str,
    cells: &[(String, Value)],
    run_id: &str,
    day: u32,
    rows: usize,
    salt: usize,
) {
    for (k, (id, params)) in cells.iter().enumerate() {
        let cell = dir.join(id);
        std::fs::create_dir_all(&cell).unwrap();
        let record = json!({
            "schema": "outrun.cell/v1",
            "experiment": experiment,
            "cell": id,
            "params": params,
            "status": "ok",
            "exit_code": 0,
            "error": null,
            "started_at": format!("2026-01-{day:02}T00:00:00.000000Z"),
            "finished_at": format!("2026-01-{day:02}T00:{:02}:{:02}.000000Z", k / 60, k % 60),
            "duration_s": 1.0,
            "source": "github",
            "runner": "test-runner",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "run_id": run_id,
            "attempt": 1
        });
        std::fs::write(
            cell.join("cell.json"),
            serde_json::to_string_pretty(&record).unwrap(),
        )
        .unwrap();
        let mut csv = String::from("i,value,note\n");
        for i in 0..rows {
            csv.push_str(&format!(
                "{i},{},\"run {run_id}, row {i}\"\n",
                i * (k + 1) + salt
            ));
        }
        std::fs::write(cell.join("results.csv"), csv).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn spawn_merge(p: &Project, name: &str, from: &str) -> Child {
    p.cmd()
        .args(["merge", name, "--from", from])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("outrun starts")
}

pub(crate) fn merge_ok(p: &Project, name: &str, from: &str) {
    let (code, out, err) = common::run(p.cmd().args(["merge", name, "--from", from]));
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Whether the ledger beside `path` (the dataset) has an entry of run `run_id`.
fn ledger_has_run(path: &Path, run_id: &str) -> bool {
    let ledger = path.with_file_name(format!(
        "{}.runs.csv",
        path.file_stem().unwrap().to_str().unwrap()
    ));
    let Ok(bytes) = std::fs::read(&ledger) else {
        return false;
    };
    let (_, rows) = parse_csv(&bytes).expect("the ledger parses");
    rows.iter().any(|r| r["run_id"] == run_id)
}

/// A merge stopped at any moment — by SIGINT, SIGTERM or kill -9 — leaves the dataset and its
/// ledger as a pair: both old or both new (issue 21 item 5), once a reader has run (it
/// finishes the renames a killed merge left in its journal). 100 stops spread over the merge.
#[test]
fn signals_and_kill_9_mid_merge_leave_the_dataset_and_ledger_a_pair() {
    const CELLS: usize = 20;
    const ROWS: usize = 500;
    const TRIES: u32 = 100;
    let p = Project::new();
    p.experiment("big", &big_experiment("big", CELLS, "all"));
    let cells = plan_cells(&p, "big");
    assert_eq!(cells.len(), CELLS);
    write_run(
        &p.root().join("incoming/old"),
        "big",
        &cells,
        "1001",
        1,
        100,
        0,
    );
    write_run(
        &p.root().join("incoming/new"),
        "big",
        &cells,
        "1002",
        2,
        ROWS,
        7,
    );
    merge_ok(&p, "big", "incoming/old");
    let path = dataset_path(&p, "big");
    let ledger = path.with_file_name("big.runs.csv");
    let journal = path.with_file_name(".outrun-big.pair");
    let old = dataset_bytes(&p, "big");
    let old_ledger = std::fs::read(&ledger).unwrap();
    assert_eq!(parse_csv(&old).unwrap().1.len(), CELLS * 100);
    assert!(ledger_has_run(&path, "1001") && !ledger_has_run(&path, "1002"));

    // The result of an uninterrupted merge, in a copy; its duration sets the stop times.
    let copy = Project::new();
    copy_dir(p.root(), copy.root());
    let t0 = Instant::now();
    merge_ok(&copy, "big", "incoming/new");
    let full = t0.elapsed();
    let new = dataset_bytes(&copy, "big");
    let (_, rows) = parse_csv(&new).unwrap();
    assert_eq!(rows.len(), CELLS * (100 + ROWS));
    assert_ne!(old, new);

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut killed_running, mut left_tmp, mut mixed_then_settled) = (0, 0, 0);
    let tmp_files = || -> BTreeSet<String> {
        std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    };
    for i in 0..TRIES {
        // Spread over the whole merge and a little past it: golden-ratio steps, deterministic.
        let f = (f64::from(i) * 0.618_034).fract() * 1.1;
        let delay = full.mul_f64(f);
        let signal = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT][i as usize % 3];
        let tmp_before = tmp_files();
        let mut child = spawn_merge(&p, "big", "incoming/new");
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        // SAFETY: kill(2) on our own child (a zombie at worst: it is waited for below).
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        match signal {
            libc::SIGKILL => assert!(
                status.signal() == Some(libc::SIGKILL) || status.code() == Some(0),
                "iteration {i}: {status:?}"
            ),
            // Interrupted (2), done before the signal came (0), or killed by it before its
            // handler was installed (the first milliseconds, before any file is touched).
            _ => assert!(
                matches!(status.code(), Some(0 | 2)) || status.signal() == Some(signal),
                "iteration {i} (signal {signal} after {delay:?}): {status:?}"
            ),
        }
        if tmp_files().len() > tmp_before.len() {
            left_tmp += 1;
        }

        // What is on disk right after the stop: a pair, or (kill -9 between the renames) a
        // journal that names the rest.
        let raw = (
            std::fs::read(&path).unwrap() == new,
            ledger_has_run(&path, "1002"),
        );
        if raw.0 != raw.1 {
            assert!(
                journal.exists(),
                "iteration {i} (signal {signal} after {delay:?}): dataset new={} but ledger new={} and no journal",
                raw.0,
                raw.1
            );
            mixed_then_settled += 1;
        }
        // A reader finishes what the journal says before it reads.
        let (code, _, err) = common::run(p.cmd().args(["report", "big", "--format", "json"]));
        assert_eq!(code, 0, "{err}");

        let now = std::fs::read(&path).expect("the dataset still exists");
        let (header, _) = parse_csv(&now).unwrap_or_else(|e| {
            panic!("iteration {i} (after {delay:?}): the dataset does not parse: {e}")
        });
        assert!(header.iter().any(|h| h == "outrun_run_id"), "{header:?}");
        let ledger_new = ledger_has_run(&path, "1002");
        if now == old {
            assert!(
                !ledger_new,
                "iteration {i} (signal {signal} after {delay:?}): old dataset, new ledger"
            );
            *seen.entry("old").or_default() += 1;
        } else if now == new {
            assert!(
                ledger_new,
                "iteration {i} (signal {signal} after {delay:?}): new dataset, old ledger"
            );
            *seen.entry("new").or_default() += 1;
            // Back to the old pair, so that later stops land in a merge that writes.
            std::fs::write(&path, &old).unwrap();
            std::fs::write(&ledger, &old_ledger).unwrap();
        } else {
            panic!(
                "iteration {i} (stopped after {delay:?}): the dataset is neither the old nor the merged file ({} bytes)",
                now.len()
            );
        }
    }
    eprintln!(
        "stops: {seen:?}, {killed_running} while running, {left_tmp} left a temp file, {mixed_then_settled} left a half-renamed pair a reader finished; full merge {full:?}"
    );
    assert!(
        killed_running >= 30,
        "too few stops landed mid-merge: {killed_running}"
    );

    // What a kill leaves beside the dataset: hidden `.outrun-*.tmp` files and at most a
    // journal, none of which is named like a dataset (the lock is in .outrun/locks/).
    for e in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let ok = name == "big.csv"
            || name == "big.runs.csv"
            || name == ".outrun-big.pair"
            || (name.starts_with(".outrun-") && name.ends_with(".tmp"));
        assert!(ok, "unexpected file beside the dataset: {name}");
    }
    // No lock outlives a killed merge: the next one completes and gives the same result.
    merge_ok(&p, "big", "incoming/new");
    assert_eq!(std::fs::read(&path).unwrap(), new);
    assert!(ledger_has_run(&path, "1002"));
    assert!(!journal.exists());
}

#[test]
fn concurrent_merges_lose_no_rows() {
    const CELLS: usize = 8;
    const ROWS: usize = 500;
    let reference = Project::new();
    reference.experiment("race", &big_experiment("race", CELLS, "newest"));
    let cells = plan_cells(&reference, "race");
    let setup = |p: &Project| {
        p.experiment("race", &big_experiment("race", CELLS, "newest"));
        write_run(
            &p.root().join("incoming/a"),
            "race",
            &cells,
            "2001",
            3,
            ROWS,
            1,
        );
        write_run(
            &p.root().join("incoming/b"),
            "race",
            &cells[..CELLS - 2],
            "2002",
            4,
            ROWS,
            2,
        );
    };
    setup(&reference);
    merge_ok(&reference, "race", "incoming/a");
    merge_ok(&reference, "race", "incoming/b");
    let expected = dataset_bytes(&reference, "race");
    let (_, rows) = parse_csv(&expected).unwrap();
    // One row per key: run b (newer) for its cells, run a for the two b lacks.
    assert_eq!(rows.len(), CELLS * ROWS);
    // The order of merges does not matter: the older run merged last replaces nothing.
    let other = Project::new();
    setup(&other);
    merge_ok(&other, "race", "incoming/b");
    merge_ok(&other, "race", "incoming/a");
    assert_eq!(dataset_bytes(&other, "race"), expected);

    for round in 0..10 {
        let p = Project::new();
        setup(&p);
        let (first, second) = if round % 2 == 0 {
            ("incoming/a", "incoming/b")
        } else {
            ("incoming/b", "incoming/a")
        };
        let mut x = p
            .cmd()
            .args(["merge", "race", "--from", first])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut y = p
            .cmd()
            .args(["merge", "race", "--from", second])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for c in [&mut x, &mut y] {
            while c.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "a merge hangs");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert!(
            x.wait().unwrap().success() && y.wait().unwrap().success(),
            "round {round}: a merge failed"
        );
        let got = dataset_bytes(&p, "race");
        if got != expected {
            let (_, rows) = parse_csv(&got).unwrap();
            let per_run: BTreeMap<&str, usize> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
                *m.entry(r["outrun_run_id"].as_str()).or_default() += 1;
                m
            });
            panic!("round {round}: rows lost by concurrent merges: {per_run:?}");
        }
    }
}
