//! `outrun run --local`: the cell contract, timeouts, parallelism, Ctrl-C, and the shipped
//! experiment end to end.

use std::time::{Duration, Instant};

use crate::common::{self, Project, WRITE_ROW, tiny_experiment};

#[test]
fn runs_cells_merges_and_reports() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, out, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-j", "3"]));
    assert_eq!(code, 0, "{err}");
    // Not a terminal: plain progress lines on stderr, the report on stdout.
    assert_eq!(err.matches("] ok ").count(), 6, "{err}");
    assert!(out.contains("<!-- outrun:report:tiny -->"), "{out}");
    assert!(out.contains("6 cells: 6 ok, 0 failed"), "{out}");
    // A wide result column called `value` is a column like any other.
    assert!(out.contains("| n | mode | value |"), "{out}");
    let data = p.read("data/evaluation/tiny.csv");
    let mut lines = data.lines();
    assert_eq!(
        lines.next().unwrap(),
        "n,mode,value,outrun_experiment,outrun_cell,outrun_source,outrun_run_id,outrun_attempt,outrun_commit,outrun_run_started_at,outrun_started_at,outrun_finished_at"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 6);
    assert!(rows[0].starts_with("1,a,10,tiny,"), "{}", rows[0]);
    assert!(rows[5].starts_with("3,b,30,tiny,"), "{}", rows[5]);
    assert!(rows.iter().all(|r| r.contains(",local,local-")), "{data}");

    // Every cell has its contract files.
    let runs = p.root().join(".outrun/runs/tiny");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let cells: Vec<_> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(cells.len(), 6);
    for c in cells {
        for f in ["cell.json", "stdout.log", "stderr.log", "results.csv"] {
            assert!(c.path().join(f).is_file(), "{:?} lacks {f}", c.path());
        }
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(c.path().join("cell.json")).unwrap())
                .unwrap();
        assert_eq!(rec["schema"], "outrun.cell/v1");
        assert_eq!(rec["status"], "ok");
        assert_eq!(rec["source"], "local");
        assert_eq!(rec["experiment"], "tiny");
        assert!(rec["params"]["n"].is_string() && rec["duration_s"].is_number());
    }
    assert!(run_dir.join("report.md").is_file());
}

#[test]
fn cells_filter_selects_and_rejects() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, out, err) = common::run(p.cmd().args([
        "run",
        "tiny",
        "--local",
        "--cells",
        "n=2&mode=b,n=3&mode=a",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cells: Vec<String> = v["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}{}",
                c["params"]["n"].as_str().unwrap(),
                c["params"]["mode"].as_str().unwrap()
            )
        })
        .collect();
    // Plan order (n, then mode), whatever order the filter names them in.
    assert_eq!(cells, ["2b", "3a"]);
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "--cells", "nn=2"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("no parameter `nn`") && err.contains("did you mean `n`"),
        "{err}"
    );
}

#[test]
fn logs_go_to_files_and_exit_status_reflects_failures() {
    let p = Project::new();
    let cmd = r#"'echo "to stdout $OUTRUN_CELL"; echo "to stderr" >&2; if [ "$OUTRUN_P_N" = 2 ]; then exit 7; fi; printf "n,mode,value\n%s,%s,1\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"'"#;
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    let (code, out, err) = common::run(p.cmd().args(["run", "tiny", "--local"]));
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("4 ok, 2 failed"), "{out}");
    assert!(out.contains("exit status 7"), "{out}");
    let run_dir = std::fs::read_dir(p.root().join(".outrun/runs/tiny"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let some_cell = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let so = std::fs::read_to_string(some_cell.join("stdout.log")).unwrap();
    assert!(
        so.starts_with("to stdout ")
            && so.contains(&some_cell.file_name().unwrap().to_string_lossy().to_string()),
        "{so}"
    );
    assert_eq!(
        std::fs::read_to_string(some_cell.join("stderr.log")).unwrap(),
        "to stderr\n"
    );
    assert_eq!(p.read("data/evaluation/tiny.csv").lines().count(), 1 + 4);
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let p = Project::new();
    p.experiment(
        "slow",
        r#"name: slow
matrix: {n: [1]}
command: 'sleep 300 & echo $! > "$OUTRUN_OUT/child.pid"; wait'
timeout: 1s
results: {keys: [n]}
"#,
    );
    let t0 = Instant::now();
    let (code, out, err) = common::run(p.cmd().args(["run", "slow", "--local", "--json"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["report"]["cells"][0]["status"], "timed_out");
    assert_eq!(v["report"]["summary"]["timed_out"], 1);
    let run_dir = v["run_dir"].as_str().unwrap();
    let cell = &v["report"]["cells"][0]["id"];
    let pid: i32 =
        std::fs::read_to_string(format!("{run_dir}/{}/child.pid", cell.as_str().unwrap()))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    // The background `sleep` was in the cell's process group: it must be gone too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(pid),
        "the cell's background child {pid} survived the timeout"
    );
    assert!(
        !p.root().join("data/evaluation/slow.csv").exists(),
        "a timed-out cell merged rows"
    );
}

#[test]
fn parallelism_is_bounded_by_jobs() {
    let p = Project::new();
    // Each cell records when it started and ended; overlapping intervals show concurrency.
    let cmd = r#"'date +%s%N > "$OUTRUN_OUT/start"; sleep 0.4; date +%s%N > "$OUTRUN_OUT/end"; printf "n,mode\n%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"'"#;
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    let (code, out, err) = common::run(
        p.cmd()
            .args(["run", "tiny", "--local", "-j", "2", "--json"]),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run_dir = std::path::PathBuf::from(v["run_dir"].as_str().unwrap());
    let mut events = Vec::new();
    for e in std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        let read = |f: &str| {
            std::fs::read_to_string(e.path().join(f))
                .unwrap()
                .trim()
                .parse::<u128>()
                .unwrap()
        };
        events.push((read("start"), 1i32));
        events.push((read("end"), -1i32));
    }
    events.sort();
    let (mut now, mut max) = (0, 0);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    assert!(max <= 2, "{max} cells ran at once with -j 2");
}

/// Ctrl-C (SIGINT), and what `timeout`, a CI cancel or `docker stop` (SIGTERM) and a closed
/// terminal (SIGHUP) send: each stops every cell and what it started, leaves the dataset alone
/// and exits 2.
#[test]
fn ctrl_c_term_and_hup_stop_children_and_leave_the_dataset_alone() {
    for (signal, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        interrupted_by(signal, name);
    }
}

fn interrupted_by(signal: i32, name: &str) {
    let p = Project::new();
    let cmd = r#"'sleep 60 & echo $! > "$OUTRUN_OUT/child"; echo $$ > "$OUTRUN_OUT/pid"; wait; printf "n,mode\n1,a\n" > "$OUTRUN_OUT/results.csv"'"#;
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    p.write(
        "data/evaluation/tiny.csv",
        "n,mode,outrun_cell,outrun_run_id\n9,z,old,old\n",
    );
    let before = p.read("data/evaluation/tiny.csv");
    let mut child = p
        .cmd()
        .args(["run", "tiny", "--local", "-j", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until two cells are running.
    let runs = p.root().join(".outrun/runs/tiny");
    let deadline = Instant::now() + Duration::from_secs(20);
    let pids = loop {
        let pids: Vec<i32> = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|run| {
                std::fs::read_dir(run.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .filter_map(|c| std::fs::read_to_string(c.path().join("pid")).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if pids.len() >= 2 || Instant::now() > deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pids.len(), 2, "cells did not start");
    let children: Vec<i32> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .flat_map(|run| {
            std::fs::read_dir(run.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|c| std::fs::read_to_string(c.path().join("child")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // SAFETY: sends the signal to the child we spawned, as a terminal, `timeout` or a CI would.
    unsafe { libc::kill(child.id() as i32, signal) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "outrun did not stop after {name}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{name}: {err}");
    assert!(
        err.contains("interrupted") && err.contains("dataset was not changed"),
        "{name}: {err}"
    );
    assert_eq!(p.read("data/evaluation/tiny.csv"), before);
    for pid in pids.into_iter().chain(children) {
        assert!(!alive(pid), "cell process {pid} survived {name}");
    }
}

/// A cell that leaves its process group with `setsid` is still stopped when the run ends:
/// outrun adopts what its cells abandon (a child subreaper) and kills it.
#[test]
fn processes_that_escape_with_setsid_are_stopped_at_the_end() {
    let p = Project::new();
    let cmd = r#"'setsid sleep 300 & echo $! > "$OUTRUN_OUT/escaped"; printf "n,mode\n%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"'"#;
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    let (code, out, err) = common::run(p.cmd().args(["run", "tiny", "--local", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run_dir = std::path::PathBuf::from(v["run_dir"].as_str().unwrap());
    let escaped: Vec<i32> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .filter_map(|c| std::fs::read_to_string(c.path().join("escaped")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    assert_eq!(escaped.len(), 6);
    for pid in escaped {
        assert!(
            !alive(pid),
            "{pid} escaped with setsid and outlived the run"
        );
    }
}

#[test]
fn shipped_experiment_runs_on_a_copy_of_the_repository() {
    let p = Project::new();
    let repo = common::repo_root();
    for rel in [
        "experiments/roofline-h200-resnet50.yaml",
        "scripts/roofline.py",
        "scripts/resnet50_shapes.py",
        "data/measured/h200/peaks.csv",
        "data/measured/h200/resnet50_conv_latency.csv",
    ] {
        p.write(rel, &std::fs::read_to_string(repo.join(rel)).unwrap());
    }
    let (code, out, err) = common::run(p.cmd().args(["run", "roofline-h200-resnet50", "--local"]));
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains("8 cells: 8 ok"), "{out}");
    assert!(
        out.contains("| dtype=float16 | 92 |") && out.contains("| all | 184 |"),
        "{out}"
    );
    assert!(out.len() <= outrun::report::COMMENT_LIMIT);
    let data = p.read("data/evaluation/roofline-h200-resnet50.csv");
    assert_eq!(data.lines().count(), 1 + 184);
    let (code, json, _) =
        common::run(
            p.cmd()
                .args(["report", "roofline-h200-resnet50", "--format", "json"]),
        );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "outrun.report/v1");
    assert_eq!(v["comparison"]["rows"].as_array().unwrap().len(), 184);
    assert_eq!(v["comparison"]["unmatched"], 0);
    let all = v["comparison"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "all")
        .unwrap();
    // Hand-checked figure for the roofline model on these measurements (see BENCHMARKS.md / README).
    let mape = all["mape_pct"].as_f64().unwrap();
    assert!((mape - 60.63).abs() < 0.01, "MAPE {mape}");
}

/// Locally too, a cell is the folder the run made for it: a `cell.json` rewritten to claim
/// another cell (with that cell's key in its rows) or another experiment is refused with the
/// claim as the reason, by `merge` and `report`, and no cell drops out of the count.
#[test]
fn a_rewritten_cell_json_is_refused_not_believed() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "--no-merge"]));
    assert_eq!(code, 0, "{err}");
    let runs = p.root().join(".outrun/runs/tiny");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut cells: Vec<std::path::PathBuf> = std::fs::read_dir(&run_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cells.sort();
    let record = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("cell.json")).unwrap()).unwrap()
    };
    let (victim, thief, ghost) = (record(&cells[0]), &cells[1], &cells[2]);
    // The thief claims the victim's id, parameters and key, and to be newer.
    let mut forged = victim.clone();
    forged["finished_at"] = "2099-01-01T00:00:00Z".into();
    std::fs::write(thief.join("cell.json"), forged.to_string()).unwrap();
    std::fs::write(
        thief.join("results.csv"),
        format!(
            "n,mode,value\n{},{},666\n",
            victim["params"]["n"].as_str().unwrap(),
            victim["params"]["mode"].as_str().unwrap()
        ),
    )
    .unwrap();
    let mut other = record(ghost);
    other["experiment"] = "other".into();
    std::fs::write(ghost.join("cell.json"), other.to_string()).unwrap();

    let (code, out, err) = common::run(p.cmd().args(["merge", "tiny", "--json"]));
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let status = |id: &str| {
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {v}"))
            .clone()
    };
    let name = |d: &std::path::Path| d.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(v["cells"].as_array().unwrap().len(), 6, "{v}");
    assert_eq!(status(&name(thief))["status"], "refused");
    let why = status(&name(thief))["error"].as_str().unwrap().to_string();
    assert!(
        why.contains(&format!("cell.json claims cell `{}`", name(&cells[0]))),
        "{why}"
    );
    assert_eq!(status(&name(ghost))["status"], "refused");
    assert!(
        status(&name(ghost))["error"]
            .as_str()
            .unwrap()
            .contains("cell.json claims experiment `other`"),
        "{v}"
    );
    assert_eq!(v["summary"]["cells_merged"], 4);
    let data = p.read("data/evaluation/tiny.csv");
    // Field by field: a timestamp such as `…22.356668Z` holds "666" as a substring.
    let forged_field = |f: &str| f == "666" || f.starts_with("2099-");
    assert!(
        !data.lines().any(|l| l.split(',').any(forged_field)),
        "{data}"
    );

    let (code, out, err) = common::run(p.cmd().args(["report", "tiny", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        r["summary"],
        serde_json::json!({"cells": 6, "ok": 4, "failed": 0, "timed_out": 0, "cancelled": 0, "refused": 2}),
        "{r}"
    );

    // Two outputs of one cell in one attempt are both refused; of two attempts (by the artifact
    // folder's name) the newer is taken.
    let good = name(&cells[3]);
    let copy = |to: &std::path::Path| {
        std::fs::create_dir_all(to).unwrap();
        for f in ["cell.json", "results.csv"] {
            std::fs::copy(cells[3].join(f), to.join(f)).unwrap();
        }
    };
    let status_from = |dir: &str| {
        let (_, out, err) = common::run(p.cmd().args(["merge", "tiny", "--from", dir, "--json"]));
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        v["cells"][0].clone()
    };
    copy(&p.root().join(format!("two/outrun-tiny-{good}-a1/{good}")));
    copy(&p.root().join(format!("two/outrun-tiny-{good}-a2/{good}")));
    assert_eq!(status_from("two")["status"], "ok");
    copy(&p.root().join(format!("dup/a/{good}")));
    copy(&p.root().join(format!("dup/b/{good}")));
    let dup = status_from("dup");
    assert_eq!(dup["status"], "refused", "{dup}");
    assert!(
        dup["error"]
            .as_str()
            .unwrap()
            .contains("2 outputs in attempt 1"),
        "{dup}"
    );
}
