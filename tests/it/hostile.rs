//! Issue 16: hostile input and broken surroundings. Each test fails without its fix.

use std::process::Stdio;

use crate::common::{self, Project, WRITE_ROW, tiny_experiment};

/// Runs `args` with stdout (or stderr) on `/dev/full`: every write fails with ENOSPC.
fn to_full(p: &Project, args: &[&str], stderr: bool) -> (i32, String) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut cmd = p.cmd();
    cmd.args(args);
    if stderr {
        cmd.stderr(Stdio::from(full)).stdout(Stdio::null());
    } else {
        cmd.stdout(Stdio::from(full)).stderr(Stdio::piped());
    }
    let out = cmd.output().expect("outrun starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_or_closed_output_is_an_error_never_a_panic() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    // A run to report on and merge from, with its output on a full disk: the merge happens,
    // printing the report fails, and the run says so and exits 5, output lost (issue 21).
    let (code, err) = to_full(&p, &["run", "tiny", "--local"], false);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(p.read("data/evaluation/tiny.csv").lines().count(), 7);
    let (code, err) = to_full(&p, &["run", "tiny", "--local"], true);
    assert_eq!(code, 5, "{err}");
    let (code, err) = to_full(&p, &["merge", "tiny"], false);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let printing: &[&[&str]] = &[
        &["list"],
        &["plan", "tiny"],
        &["--json", "plan", "tiny"],
        &["validate"],
        &["report", "tiny"],
        &["--json", "report", "tiny"],
        &["generate"],
        &["generate", "--check"],
        &["completions", "bash"],
        &["man"],
    ];
    for args in printing {
        let (code, err) = to_full(&p, args, false);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// The report's cells from `run --json`, by their `n` and `mode`.
fn cell_verdicts(run_json: &str) -> Vec<(String, String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(run_json).expect("run --json");
    v["report"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                format!(
                    "{}{}",
                    c["params"]["n"].as_str().unwrap(),
                    c["params"]["mode"].as_str().unwrap()
                ),
                c["status"].as_str().unwrap().to_string(),
                c["error"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn one_cells_io_error_fails_that_cell_and_the_others_merge() {
    let p = Project::new();
    p.write("victim.txt", "precious\n");
    let victim = p.root().join("victim.txt");
    // 1a deletes its own output folder; 2a plants `cell.json` as a link to a file outside;
    // 3a leaves a folder where the record goes (writing it fails, as on a full disk); the
    // others write their row, 3b after a while (it must still be merged, not orphaned).
    p.write(
        "cell.sh",
        &format!(
            r#"case "$OUTRUN_P_N$OUTRUN_P_MODE" in
  1a) rm -rf "$OUTRUN_OUT";;
  2a) ln -s {victim} "$OUTRUN_OUT/cell.json";;
  3a) mkdir "$OUTRUN_OUT/cell.json";;
  3b) sleep 1;;
esac
if [ -d "$OUTRUN_OUT" ]; then
  printf "n,mode,value\n%s,%s,1\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"
fi
"#,
            victim = victim.display()
        ),
    );
    let cmd = "bash cell.sh";
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    let (code, out, err) = common::run(
        p.cmd()
            .args(["--json", "run", "tiny", "--local", "-j", "6"]),
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        p.read("victim.txt"),
        "precious\n",
        "cell.json was written through a link"
    );
    let cells = cell_verdicts(&out);
    assert_eq!(cells.len(), 6, "{out}");
    for (cell, status, error) in &cells {
        let failed = ["1a", "2a", "3a"].contains(&cell.as_str());
        assert_eq!(
            status,
            if failed { "failed" } else { "ok" },
            "{cell}: {out}"
        );
        if failed {
            let error = error.as_deref().unwrap_or_default();
            assert!(error.contains("cell.json"), "{cell} says why: {error}");
        }
    }
    let data = p.read("data/evaluation/tiny.csv");
    let merged: Vec<&str> = data.lines().skip(1).map(|l| &l[..3]).collect();
    assert_eq!(merged, ["1,b", "2,b", "3,b"], "{data}");
}

/// The GitHub wrapper: a cell that removes its own folder or plants a `cell.json` link fails
/// alone, the job's other cells run, and the job summary survives a field longer than
/// Python's csv limit (131,072 characters).
#[test]
fn the_workflow_wrapper_fails_one_cell_and_summarises_the_rest() {
    use crate::workflow::{generate, job_names, plan_output, wrapper};
    let p = Project::new();
    p.write("victim.txt", "precious\n");
    p.write(
        "cell.sh",
        &format!(
            r#"case "$OUTRUN_P_N" in
  1) rm -rf "$OUTRUN_OUT"; exit 0;;
  2) ln -s {victim} "$OUTRUN_OUT/cell.json";;
  3) python3 -c 'print("n,big"); print("3," + "x" * 200000)' > "$OUTRUN_OUT/results.csv"; exit 0;;
esac
printf "n,big\n%s,sm\xe2\x80\xaeall\n" "$OUTRUN_P_N" > "$OUTRUN_OUT/results.csv"
"#,
            victim = p.root().join("victim.txt").display()
        ),
    );
    p.experiment(
        "wrap",
        "name: wrap\nmatrix:\n  n: [1, 2, 3, 4]\ncommand: bash cell.sh\ntimeout: 30s\nresults: {keys: [n]}\n",
    );
    let yaml = generate(&p, "wrap");
    let (ok, m, err) = plan_output(&yaml, "", p.root());
    assert!(ok, "{err}");
    let summary = p.root().join("summary.md");
    let out_root = p.root().join("out");
    let (mut all_ok, mut out, mut err) = (true, String::new(), String::new());
    for shard in job_names(&m) {
        let (ok, o, e) = wrapper(
            &yaml,
            "run",
            &[
                ("OUTRUN_SHARD", shard.as_str()),
                ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
            p.root(),
        );
        all_ok &= ok;
        out += &o;
        err += &e;
    }
    assert!(!all_ok, "two cells failed: {out}{err}");
    assert!(!err.contains("Traceback"), "{err}");
    assert_eq!(
        p.read("victim.txt"),
        "precious\n",
        "cell.json written through a link"
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("outrun: ")).collect();
    assert_eq!(lines.len(), 4, "every cell ran: {out}");
    assert!(
        lines[0].contains(": failed (cannot write cell.json"),
        "{out}"
    );
    assert!(
        lines[1].contains(": failed (cannot write cell.json"),
        "{out}"
    );
    assert!(
        lines[2].ends_with(": ok") && lines[3].ends_with(": ok"),
        "{out}"
    );
    let summary = p.read("summary.md");
    assert!(
        summary.contains("| 4 | sm\u{FFFD}all |"),
        "bidi shown: {summary}"
    );
    assert!(
        summary.contains("| 3 | xxxx"),
        "the long field's row is shown: {summary}"
    );
}

#[test]
fn validate_refuses_values_the_environment_cannot_carry() {
    use crate::experiment_errors::one_problem;
    let p = Project::new();
    let big = "x".repeat(128 * 1024);
    // Just fits: OUTRUN_P_S=, the value and the NUL make 131,072 bytes.
    let fits = "x".repeat(128 * 1024 - "OUTRUN_P_S=".len() - 1);
    p.experiment(
        "fits",
        &format!(
            "name: fits\nmatrix:\n  s: [\"{fits}\"]\ncommand: 'true'\nresults: {{keys: [s]}}\n"
        ),
    );
    let (code, _, err) = common::run(p.cmd().args(["validate", "fits"]));
    assert_eq!(code, 0, "{err}");
    one_problem(
        &p,
        "bigvalue",
        &format!(
            "name: bigvalue\nmatrix:\n  s: [a, \"{big}\"]\ncommand: 'true'\nresults: {{keys: [s]}}\n"
        ),
        3,
        10,
        &[
            "the value of `s` is 131072 bytes",
            "OUTRUN_P_S",
            "131072 bytes",
        ],
        Some("pass a file name"),
    );
    one_problem(
        &p,
        "bigincl",
        &format!(
            "name: bigincl\nmatrix:\n  s: [a]\n  include:\n    - {{s: b, t: \"{big}\"}}\ncommand: 'true'\nresults: {{keys: [s]}}\n"
        ),
        5,
        17,
        &["the value of `t` is 131072 bytes"],
        Some("pass a file name"),
    );
}

#[test]
fn validate_refuses_paths_that_would_be_syntax_in_a_workflow() {
    use crate::experiment_errors::one_problem;
    let p = Project::new();
    for (name, path) in [
        ("nl", "data/a\\n  - run: env\\n.csv"),
        ("dollar", "data/${{ secrets.X }}.csv"),
        ("space", "data/a b.csv"),
        ("dash", "data/-rf.csv"),
        ("hidden", "data/.x/a.csv"),
    ] {
        one_problem(
            &p,
            name,
            &format!(
                "name: {name}\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {{keys: [n]}}\ndataset:\n  path: \"{path}\"\n"
            ),
            7,
            9,
            &["dataset path"],
            Some("use letters, digits"),
        );
    }
    one_problem(
        &p,
        "resfile",
        "name: resfile\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n], file: \"r'$(x).csv\"}\n",
        5,
        28,
        &["results file"],
        Some("use letters, digits"),
    );
}

/// Merge and report are linear in the columns: a results file at the column limit (100,000)
/// merges and reports in seconds. Before the lookups were maps, 20,000 columns took 16 s (a
/// debug build) and the time grew with the square of the columns: this would take minutes.
/// One column more is refused with the count, and the cell fails alone.
#[test]
fn results_at_the_column_limit_merge_in_linear_time() {
    let p = Project::new();
    p.write(
        "wide.py",
        r#"import os
n = 100000 if os.environ["OUTRUN_P_N"] == "1" else 100001
with open(os.environ["OUTRUN_OUT"] + "/results.csv", "w") as f:
    f.write("n," + ",".join("c%d" % i for i in range(n - 1)) + "\n")
    f.write(os.environ["OUTRUN_P_N"] + "," + ",".join(str(i) for i in range(n - 1)) + "\n")
"#,
    );
    p.experiment(
        "wide",
        "name: wide\nmatrix:\n  n: [1, 2]\ncommand: python3 wide.py\ntimeout: 60s\nresults: {keys: [n]}\n",
    );
    let t0 = std::time::Instant::now();
    let (code, out, err) = common::run(p.cmd().args(["--json", "run", "wide", "--local"]));
    let took = t0.elapsed();
    assert_eq!(code, 1, "{err}");
    assert!(took.as_secs() < 60, "took {took:?}");
    let cells = cell_verdicts_by_n(&out);
    assert_eq!(cells[0].1, "ok", "{cells:?}");
    assert_eq!(cells[1].1, "failed");
    assert_eq!(
        cells[1].2.as_deref(),
        Some("results.csv has 100001 columns; at most 100000 are merged")
    );
    let data = p.read("data/evaluation/wide.csv");
    assert_eq!(data.lines().count(), 2);
    assert_eq!(data.lines().next().unwrap().split(',').count(), 100_000 + 9);
}

fn cell_verdicts_by_n(run_json: &str) -> Vec<(String, String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(run_json).expect("run --json");
    v["report"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["params"]["n"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["error"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn a_column_named_twice_in_the_dataset_is_refused_and_nothing_written() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "--no-merge"]));
    assert_eq!(code, 0, "{err}");
    // A hand edit that names `value` twice: reading by name would keep the first and drop the
    // second's values when the file is rewritten.
    let text = "n,mode,value,value,outrun_experiment,outrun_cell,outrun_run_id\n1,a,10,11,tiny,1-a-0f1fedba,old\n";
    let path = p.write("data/evaluation/tiny.csv", text);
    for args in [&["merge", "tiny"][..], &["report", "tiny"]] {
        let (code, _, err) = common::run(p.cmd().args(args));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("tiny.csv, line 1: the column `value` appears twice (columns 3 and 4)"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn a_one_megabyte_value_is_cut_and_the_table_keeps_its_rows() {
    let p = Project::new();
    p.write(
        "cell.sh",
        r#"v=small
[ "$OUTRUN_P_N$OUTRUN_P_MODE" = 1a ] && v=$(head -c 1048576 /dev/zero | tr '\0' y)
[ "$OUTRUN_P_N$OUTRUN_P_MODE" = 2a ] && v=$(printf 'abc\xe2\x80\xaedef')
printf "n,mode,value\n%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$v" > "$OUTRUN_OUT/results.csv"
"#,
    );
    p.experiment("tiny", &tiny_experiment("tiny", "bash cell.sh"));
    let (code, out, err) = common::run(p.cmd().args(["run", "tiny", "--local"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("more rows not shown"), "{out}");
    assert!(out.contains("… (1048576 characters, cut)"), "{out}");
    let rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" | "))
        .count();
    assert!(rows >= 7, "header and six rows: {out}");
    assert!(
        out.contains("| abc\u{FFFD}def |"),
        "the bidi override is shown: {out}"
    );
    assert!(!out.contains('\u{202E}'), "{out}");
}

/// Values from results reach stderr escaped (no terminal escape, no line a workflow log would
/// read as a command), and a cell failed only by a key clash is shown failed in the progress
/// lines, as in the report.
#[test]
fn cell_values_are_printed_escaped_and_key_clashes_show_failed() {
    let p = Project::new();
    p.write(
        "cell.sh",
        r#"hostile='"x
::add-mask::secret\033]0;pwned\007\033[2J"'
case "$OUTRUN_P_N" in
  1) printf "k,v,a\033[2Jb,a\033[2Jb\n1,2,3,4\n";;
  *) printf "k,v\n$hostile,1\n";;
esac > "$OUTRUN_OUT/results.csv"
"#,
    );
    p.experiment(
        "kc",
        "name: kc\nmatrix:\n  n: [1, 2, 3]\ncommand: bash cell.sh\nresults: {keys: [k]}\n",
    );
    let (code, out, err) = common::run(p.cmd().args(["run", "kc", "--local", "-j", "1"]));
    assert_eq!(code, 1, "{err}");
    for (what, text) in [("run stderr", &err), ("run stdout", &out)] {
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{what}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("::")),
            "{what}: {text}"
        );
    }
    assert!(err.contains("`a\\x1b[2Jb`"), "{err}");
    // The last word on each cell in the progress lines is the report's.
    let report = |cell: &str| {
        out.lines()
            .find(|l| l.contains(cell) && l.starts_with("| "))
            .map(|l| l.contains("failed"))
    };
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    for l in err.lines().filter(|l| l.starts_with('[')) {
        let mut w = l.split_whitespace().skip(1);
        let (status, cell) = (w.next().unwrap(), w.next().unwrap());
        last.insert(cell.to_string(), status.to_string());
    }
    assert_eq!(last.len(), 3, "{err}");
    for (cell, status) in &last {
        assert_eq!(status, "failed", "{cell}: {err}");
        assert_eq!(report(cell), Some(true), "{cell}: {out}");
    }
    let (code, _, err) = common::run(p.cmd().args(["merge", "kc"]));
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(
        !err.lines().any(|l| l.trim_start().starts_with("::")),
        "{err}"
    );
    assert!(
        err.contains("(x\\n::add-mask::secret\\x1b]0;pwned\\x07\\x1b[2J)"),
        "{err}"
    );
}

/// The temporary files of atomic writes in the dataset's folder.
fn temp_files(p: &Project) -> Vec<String> {
    std::fs::read_dir(p.root().join("data/evaluation"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Starts `args`, sends `signal` once the merge's temporary file exists, and returns the exit
/// status (None: the merge finished before the temporary file was seen).
fn signal_during_merge(p: &Project, args: &[&str], signal: i32) -> Option<i32> {
    let mut child = p
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while temp_files(p).is_empty() {
        if child.try_wait().unwrap().is_some() || t0.elapsed().as_secs() > 60 {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait().unwrap().code()
}

#[test]
fn a_signal_during_the_merge_stops_it_before_the_rename() {
    let p = Project::new();
    p.write(
        "rows.py",
        "import os\nwith open(os.environ['OUTRUN_OUT'] + '/results.csv', 'w') as f:\n    f.write('n,i,v\\n')\n    for i in range(100000): f.write('%s,%d,%s\\n' % (os.environ['OUTRUN_P_N'], i, os.environ.get('BUMP', '0')))\n",
    );
    p.experiment(
        "big",
        "name: big\nmatrix:\n  n: [1]\ncommand: python3 rows.py\ntimeout: 60s\nresults: {keys: [n, i]}\n",
    );
    let (code, _, err) = common::run(p.cmd().args(["run", "big", "--local", "-q"]));
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(p.root().join("data/evaluation/big.csv")).unwrap();
    let ledger = p.root().join("data/evaluation/big.runs.csv");
    let ledger_before = std::fs::read(&ledger).unwrap();
    for (args, signal) in [
        (&["merge", "big"][..], libc::SIGTERM),
        (&["merge", "big"][..], libc::SIGINT),
        (&["run", "big", "--local", "-q"][..], libc::SIGINT),
        (&["run", "big", "--local", "-q"][..], libc::SIGTERM),
    ] {
        let code = signal_during_merge(&p, args, signal);
        assert_eq!(code, Some(2), "{args:?} {signal}");
        assert_eq!(temp_files(&p), Vec::<String>::new(), "{args:?} {signal}");
        assert!(
            std::fs::read(p.root().join("data/evaluation/big.csv")).unwrap() == before,
            "{args:?} {signal}: the dataset changed"
        );
        // The ledger with it: the pair is replaced together or not at all (issue 21 item 5).
        assert!(
            std::fs::read(&ledger).unwrap() == ledger_before,
            "{args:?} {signal}: the ledger changed without the dataset"
        );
    }
}

#[test]
fn a_crlf_dataset_keeps_its_line_endings() {
    let p = Project::new();
    p.experiment(
        "tiny",
        &tiny_experiment("tiny", crate::dataset::WRITE_ROW_BUMPED),
    );
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-q"]));
    assert_eq!(code, 0, "{err}");
    let path = p.root().join("data/evaluation/tiny.csv");
    let lf = std::fs::read_to_string(&path).unwrap();
    assert!(!lf.contains('\r'));
    std::fs::write(&path, lf.replace('\n', "\r\n")).unwrap();
    // A newer run replaces only the rows of n=1.
    let (code, _, err) = common::run(
        p.cmd()
            .args(["run", "tiny", "--local", "-q", "--cells", "n=1"])
            .env("BUMP", "5"),
    );
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(after.matches('\n').count(), 7, "{after}");
    assert_eq!(
        after.matches("\r\n").count(),
        7,
        "every line keeps its CRLF: {after:?}"
    );
    let changed = lf
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| *a != b.trim_end_matches('\r'))
        .count();
    assert_eq!(changed, 2, "only the replaced rows differ:\n{lf}\n{after}");
}

/// A key row repeated by hand within one run: the later line counts, in the report and for
/// `merge --migrate` alike, and the merge says so (not "several runs' rows").
#[test]
fn a_repeated_key_row_of_one_run_counts_once_the_later_line() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-q"]));
    assert_eq!(code, 0, "{err}");
    let path = p.root().join("data/evaluation/tiny.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(lines[1].starts_with("1,a,10,"), "{text}");
    lines.insert(2, lines[1].replacen("1,a,10,", "1,a,99,", 1));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let value_of_1a = || {
        let v = crate::dataset::report_json(&p, "tiny");
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["n"] == "1" && r["mode"] == "a")
            .map(|r| r["value"].as_str().unwrap().to_string())
    };
    assert_eq!(value_of_1a().as_deref(), Some("99"));
    // A newer run of another cell: the merge keeps both lines and says which one counts.
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "--cells", "n=2"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 row(s) repeat the key and run of an earlier line")
            && err.contains("the later line counts"),
        "{err}"
    );
    assert!(!err.contains("several runs"), "{err}");
    assert_eq!(value_of_1a().as_deref(), Some("99"));
    let (code, _, err) = common::run(p.cmd().args(["merge", "tiny", "--migrate"]));
    assert_eq!(code, 0, "{err}");
    let data = std::fs::read_to_string(&path).unwrap();
    let rows_1a: Vec<&str> = data.lines().filter(|l| l.starts_with("1,a,")).collect();
    assert_eq!(rows_1a.len(), 1, "{data}");
    assert!(rows_1a[0].starts_with("1,a,99,"), "{data}");
    assert_eq!(value_of_1a().as_deref(), Some("99"));
}

/// A cell whose environment Linux refuses ("Argument list too long": three values that each
/// pass `validate` but together exceed ARG_MAX, a quarter of the stack limit, here 1 MiB) fails
/// with that reason; its sibling runs and is merged. (Not in-process through the library: the
/// local backend makes its process the reaper of orphans and stops them at the end, which in
/// the test binary would be the other tests' children.)
#[test]
fn a_cell_that_cannot_start_fails_alone() {
    let p = Project::new();
    let big = "x".repeat(100 * 1024);
    p.experiment(
        "big",
        &format!(
            "name: big\nmatrix:\n  n: [\"1\"]\n  include:\n    - {{n: \"2\", a: {big}, b: {big}, c: {big}}}\ncommand: 'printf \"n\\n%s\\n\" \"$OUTRUN_P_N\" > \"$OUTRUN_OUT/results.csv\"'\nresults: {{keys: [n]}}\n"
        ),
    );
    let bin = env!("CARGO_BIN_EXE_outrun");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -s 1024 && exec {bin} --json run big --local"
        ))
        .current_dir(p.root());
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 1, "{err}");
    let cells = cell_verdicts_by_n(&out);
    assert_eq!(cells[0].1, "ok", "{cells:?}");
    assert_eq!(cells[1].1, "failed");
    assert!(
        cells[1]
            .2
            .as_deref()
            .unwrap_or("")
            .contains("Argument list too long"),
        "{cells:?}"
    );
    assert_eq!(p.read("data/evaluation/big.csv").lines().count(), 2);
}
