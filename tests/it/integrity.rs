//! Data integrity under hostile input (issue 21): ids that cannot collide, parameter names
//! that clash as environment variables, results files of any size, reserved columns, a JSONL
//! byte-order mark.

use serde_json::Value;

use crate::common::{self, Project};
use crate::dataset::{dataset_rows, run_local};

/// Two cells with `n` 1 and 2; cell 1 runs `bad` (writing its results however it likes),
/// cell 2 writes a good row.
fn one_bad_cell(p: &Project, name: &str, bad: &str, extra_results: &str) {
    let command = format!(
        r#"'if [ "$OUTRUN_P_N" = 1 ]; then {bad}; else printf "n,v\n2,20\n" > "$OUTRUN_OUT/results.csv"; fi'"#
    );
    p.experiment(
        name,
        &format!(
            "name: {name}\nmatrix:\n  n: [1, 2]\ncommand: {command}\ntimeout: 20s\nresults:\n  keys: [n]\n{extra_results}"
        ),
    );
}

/// The cell `n` of a `run --json` report.
fn cell<'a>(v: &'a Value, n: &str) -> &'a Value {
    v["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["params"]["n"] == n)
        .unwrap_or_else(|| panic!("no cell n={n} in {v}"))
}

/// The issue's reproducer: a 100 GB results file (sparse: a header, a row, then holes) made the
/// merge reserve 100 GB and abort (exit 134, nothing merged). Now that cell fails alone, with
/// the reason, and the other merges — under an address-space limit of 4 GB, so a reservation
/// by the file's size could not even be attempted.
#[test]
fn a_100_gb_results_file_fails_its_cell_alone_in_bounded_memory() {
    let p = Project::new();
    one_bad_cell(
        &p,
        "huge",
        r#"printf "n,v\n1,1\n" > "$OUTRUN_OUT/results.csv"; truncate -s 100G "$OUTRUN_OUT/results.csv""#,
        "",
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -v 4194304 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_outrun"))
        .args(["--root"])
        .arg(p.root())
        .args(["run", "huge", "--local", "--json"])
        .current_dir(p.root())
        .env("NO_COLOR", "1");
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let bad = cell(&v, "1");
    assert_eq!(bad["status"], "failed", "{bad}");
    assert_eq!(
        bad["error"],
        "results.csv is 107374182400 bytes: more than the 1073741824 bytes a cell's results may have (results.max-size)"
    );
    assert_eq!(cell(&v, "2")["status"], "ok");
    let (_, rows) = dataset_rows(&p, "huge");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["n"], "2");
}

/// `results.max-size` sets the limit (here 1 KiB: a 2 KiB file fails its cell); a bad value is
/// refused by `validate` at its position.
#[test]
fn results_max_size_is_configurable_and_validated() {
    let p = Project::new();
    one_bad_cell(
        &p,
        "capped",
        r#"{ printf "n,v\n"; for i in $(seq 1 300); do printf "1,%04d\n" $i; done; } > "$OUTRUN_OUT/results.csv""#,
        "  max-size: 1KiB\n",
    );
    let (code, v, err) = run_local(&p, "capped", &[]);
    assert_eq!(code, 1, "{v}\n{err}");
    let bad = cell(&v, "1");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("more than the 1024 bytes a cell's results may have"),
        "{bad}"
    );
    assert_eq!(cell(&v, "2")["status"], "ok");

    for (value, what) in [
        ("lots", "must be a size such as"),
        ("0", "between 1 byte and 64GiB"),
        ("65GiB", "between 1 byte and 64GiB"),
    ] {
        p.experiment(
            "bad",
            &format!("name: bad\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  keys: [n]\n  max-size: {value}\n"),
        );
        let (code, _, err) = common::run(p.cmd().args(["validate", "bad"]));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("experiments/bad.yaml:7:13"), "{err}");
        assert!(err.contains(what), "{value}: {err}");
    }
    for ok in ["1GiB", "500 MB", "4096", "64GiB"] {
        p.experiment(
            "bad",
            &format!("name: bad\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  keys: [n]\n  max-size: {ok}\n"),
        );
        let (code, _, err) = common::run(p.cmd().args(["validate", "bad"]));
        assert_eq!(code, 0, "{ok}: {err}");
    }
}

/// A result column named `outrun_*` fails its cell with the reason (it was dropped without a
/// word); the other cell merges.
#[test]
fn a_reserved_result_column_fails_its_cell_with_a_message() {
    let p = Project::new();
    one_bad_cell(
        &p,
        "reserved",
        r#"printf "n,v,outrun_cell\n1,10,forged\n" > "$OUTRUN_OUT/results.csv""#,
        "",
    );
    let (code, v, err) = run_local(&p, "reserved", &[]);
    assert_eq!(code, 1, "{v}\n{err}");
    let bad = cell(&v, "1");
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("has a column `outrun_cell`: names starting with `outrun_` are reserved"),
        "{bad}"
    );
    let (_, rows) = dataset_rows(&p, "reserved");
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0]["outrun_cell"], "forged");
}

/// A JSONL results file that starts with a byte-order mark is read like a CSV one.
#[test]
fn a_jsonl_results_file_with_a_byte_order_mark_is_accepted() {
    let p = Project::new();
    p.experiment(
        "bom",
        "name: bom\nmatrix:\n  n: [1, 2]\ncommand: 'printf \"\\357\\273\\277{\\\"n\\\": %s, \\\"v\\\": 1}\\n\" \"$OUTRUN_P_N\" > \"$OUTRUN_OUT/results.jsonl\"'\ntimeout: 20s\nresults:\n  file: results.jsonl\n  keys: [n]\n",
    );
    let (code, v, err) = run_local(&p, "bom", &[]);
    assert_eq!(code, 0, "{v}\n{err}");
    let (header, rows) = dataset_rows(&p, "bom");
    assert_eq!(&header[..2], ["n", "v"]);
    assert_eq!(rows.len(), 2);
}

/// The issue's pair (`c-b7315ddd` twice under 32-bit ids) gets two ids; a key that differs only
/// in case from a parameter is refused where it is written.
#[test]
fn ids_do_not_collide_and_case_clashes_are_refused() {
    let p = Project::new();
    p.experiment(
        "pair",
        "name: pair\nmatrix:\n  x: [\";&+&\", \";?#>\"]\ncommand: 'true'\nresults:\n  keys: [x]\n",
    );
    let cells = crate::dataset::plan_cells(&p, "pair");
    let ids: Vec<&str> = cells.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.len() == "c-".len() + 16), "{ids:?}");

    p.experiment(
        "case",
        "name: case\nmatrix:\n  a: [one]\n  include:\n    - {a: one, A: two}\ncommand: 'true'\nresults:\n  keys: [a]\n",
    );
    let (code, _, err) = common::run(p.cmd().args(["validate", "case"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("experiments/case.yaml:5:16"), "{err}");
    assert!(
        err.contains("parameters `a` and `A` would share the variable OUTRUN_P_A"),
        "{err}"
    );
}

/// A cell that replaces its output folder with a link (`rm -rf "$OUTRUN_OUT"; ln -s DIR
/// "$OUTRUN_OUT"`) fails alone: outrun writes no `cell.json` into DIR and reads no results
/// from it; the other cell merges. The same for a link on the way to `results.file`.
#[test]
fn a_cell_folder_replaced_by_a_link_fails_alone_and_nothing_is_written_through_it() {
    let p = Project::new();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("results.csv"), "n,v\n1,666\n").unwrap();
    let bad = format!(
        r#"rm -rf "$OUTRUN_OUT"; ln -s {} "$OUTRUN_OUT""#,
        elsewhere.path().display()
    );
    one_bad_cell(&p, "linked", &bad, "");
    let (code, v, err) = run_local(&p, "linked", &[]);
    assert_eq!(code, 1, "{v}\n{err}");
    let c = cell(&v, "1");
    assert_eq!(c["status"], "failed", "{c}");
    assert_eq!(cell(&v, "2")["status"], "ok");
    let mut left: Vec<String> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["results.csv"], "outrun wrote through the link");
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("results.csv")).unwrap(),
        "n,v\n1,666\n"
    );
    let (_, rows) = dataset_rows(&p, "linked");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["n"], "2");

    // A link in place of a folder on the way to the results file.
    let p = Project::new();
    let command = format!(
        r#"'if [ "$OUTRUN_P_N" = 1 ]; then ln -s {} "$OUTRUN_OUT/out"; else mkdir "$OUTRUN_OUT/out"; printf "n,v\n2,20\n" > "$OUTRUN_OUT/out/results.csv"; fi'"#,
        elsewhere.path().display()
    );
    p.experiment(
        "deep",
        &format!("name: deep\nmatrix:\n  n: [1, 2]\ncommand: {command}\ntimeout: 20s\nresults:\n  file: out/results.csv\n  keys: [n]\n"),
    );
    let (code, v, err) = run_local(&p, "deep", &[]);
    assert_eq!(code, 1, "{v}\n{err}");
    let c = cell(&v, "1");
    assert_eq!(c["status"], "failed", "{c}");
    assert!(
        c["error"]
            .as_str()
            .unwrap()
            .contains("out/results.csv is not a regular file (a link on its way is not followed)"),
        "{c}"
    );
    assert_eq!(cell(&v, "2")["status"], "ok");
}

/// Four cells, one at a time, each taking a moment and leaving its pid: progress lines come
/// while the cells run, after the reader of the output may have gone.
fn slow_cells(p: &Project, name: &str) {
    p.experiment(
        name,
        &format!(
            "name: {name}\nmatrix:\n  n: [1, 2, 3, 4]\ncommand: 'echo $$ > \"$OUTRUN_OUT/../pid-$OUTRUN_P_N\"; sleep 0.3; printf \"n,v\\n%s,1\\n\" \"$OUTRUN_P_N\" > \"$OUTRUN_OUT/results.csv\"'\ntimeout: 20s\nresults:\n  keys: [n]\n"
        ),
    );
}

/// Every cell merged, and no cell's process alive after outrun exited.
fn all_merged_none_left(p: &Project, name: &str) {
    let (_, rows) = dataset_rows(p, name);
    let mut ns: Vec<&str> = rows.iter().map(|r| r["n"].as_str()).collect();
    ns.sort();
    assert_eq!(ns, ["1", "2", "3", "4"]);
    let runs = p.root().join(format!(".outrun/runs/{name}"));
    for run in std::fs::read_dir(runs).unwrap() {
        for n in 1..=4 {
            let pid: i32 =
                std::fs::read_to_string(run.as_ref().unwrap().path().join(format!("pid-{n}")))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
            // SAFETY: signal 0 only asks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            assert!(!alive, "cell {n} (pid {pid}) is still running");
        }
    }
}

/// `outrun run NAME --local 2>&1 | head -n 1`: the reader leaves after one line. The run went
/// on to exit 141 at the next progress line, nothing merged; now the progress is dropped, every
/// cell runs and merges, and the exit status is 5 (output lost).
#[test]
fn a_closed_pipe_drops_the_output_and_the_run_still_merges() {
    use std::io::BufRead as _;
    let p = Project::new();
    slow_cells(&p, "piped");
    let (r, w) = std::io::pipe().unwrap();
    let mut child = p
        .cmd()
        .args(["run", "piped", "--local", "--jobs", "1"])
        .stdout(w.try_clone().unwrap())
        .stderr(w)
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(r).read_line(&mut first).unwrap();
    // The reader (and its buffer) is gone here: like `head -n 1` exiting.
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{status:?} (first line: {first})");
    all_merged_none_left(&p, "piped");
}

/// stderr closed from the start (`2>&-`), and stdout too (`>&-`): every cell runs and merges,
/// no cell is left running, and nothing meant for stderr lands in a file outrun opened. (The
/// Rust runtime opens a closed descriptor 0-2 on /dev/null before `main`, so this is
/// `2>/dev/null` to outrun: nothing is lost that it could tell, exit 0.)
#[test]
fn closed_std_streams_from_the_start_lose_output_not_cells() {
    // A closed stderr is reopened on /dev/null by Rust's runtime before outrun runs (nothing to
    // tell it from `2>/dev/null`: status 0); a closed stdout is seen before that, and its text
    // is output lost (status 5), as with a pipe whose reader left.
    for (name, redirect, want) in [("noerr", "2>&-", 0), ("noout", ">&-", 5)] {
        let p = Project::new();
        slow_cells(&p, name);
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(r#"exec "$0" "$@" {redirect}"#))
            .arg(env!("CARGO_BIN_EXE_outrun"))
            .arg("--root")
            .arg(p.root())
            .args(["run", name, "--local", "--jobs", "1"])
            .current_dir(p.root())
            .env("NO_COLOR", "1");
        let (code, out, err) = common::run(&mut cmd);
        assert_eq!(code, want, "{redirect}: {out}\n{err}");
        all_merged_none_left(&p, name);
        let (header, _) = dataset_rows(&p, name);
        assert_eq!(header[0], "n", "{redirect}");
    }
}

/// A run folder written before ids carried 64 bits (folders and `cell.json` named by the older
/// 32-bit ids — the first 8 hex digits of the same hash) still merges, under the cells'
/// current ids; an older id two cells shared (the issue's pair) is taken by neither.
#[test]
fn a_run_folder_with_the_older_ids_still_merges() {
    let p = Project::new();
    p.experiment("old", &crate::dataset::big_experiment("old", 3, "all"));
    let cells = crate::dataset::plan_cells(&p, "old");
    let older: Vec<(String, Value)> = cells
        .iter()
        .map(|(id, params)| (id[..id.len() - 8].to_string(), params.clone()))
        .collect();
    crate::dataset::write_run(&p.root().join("incoming"), "old", &older, "77", 1, 2, 0);
    crate::dataset::merge_ok(&p, "old", "incoming");
    let (_, rows) = dataset_rows(&p, "old");
    assert_eq!(rows.len(), 6);
    let mut merged: Vec<&str> = rows.iter().map(|r| r["outrun_cell"].as_str()).collect();
    merged.dedup();
    let current: Vec<&str> = cells.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(merged, current);

    // The issue's pair: both cells had `c-b7315ddd`; a folder of that name is neither's.
    let p = Project::new();
    p.experiment(
        "pair",
        "name: pair\nmatrix:\n  x: [\";&+&\", \";?#>\"]\ncommand: 'true'\nresults:\n  keys: [x, i]\n",
    );
    let cells = crate::dataset::plan_cells(&p, "pair");
    let shared = vec![("c-b7315ddd".to_string(), cells[0].1.clone())];
    crate::dataset::write_run(&p.root().join("incoming"), "pair", &shared, "78", 1, 1, 0);
    let (code, _, err) = common::run(p.cmd().args(["merge", "pair", "--from", "incoming"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no cell outputs"), "{err}");
}
