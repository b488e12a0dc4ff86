//! How long the generated workflow's final job takes to close the loop, executed by `act` on
//! this machine against the fake GitHub: from the last cell job's upload to the pull request and
//! to the report comment, and the runner time the final job adds (from its artifact download
//! to its last request). Each run of an 8-cell experiment is played 5 times; min / median / max.
//!
//! Run: `cargo bench --bench final_job` (needs `act`: scripts/install-test-tools.sh).
//! outrun's install is the experiment's `github.install` copying this build — what a warm
//! `actions/cache` hit gives on GitHub, less the cache download itself (seconds there; not
//! measurable here). Times are wall-clock on a shared 2-core machine: read them as the order of
//! magnitude of outrun's own work, not of GitHub's queueing.

// Tests and benchmarks stop at the first surprise (unwrap) and signal the processes they
// start (unsafe libc::kill); the library itself does neither. Their items are their own.
#![allow(clippy::unwrap_used, unsafe_code, unreachable_pub)]

#[path = "../tests/it/act_support.rs"]
mod act_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use act_support::{LoopFake, git_commit_all, run_act_with, stand_in_actions};

const EXPERIMENT: &str = r#"name: sweep
description: eight cells of a fifth of a second each
issue: 7
matrix:
  n: [1, 2, 3, 4]
  mode: [a, b]
command: 'sleep 0.2; printf "n,mode,value\n%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$((OUTRUN_P_N * 10))" > "$OUTRUN_OUT/results.csv"'
timeout: 1m
results: {keys: [n, mode]}
github:
  install: mkdir -p "$HOME/.outrun/bin" && cp "$OUTRUN_TEST_BIN" "$HOME/.outrun/bin/outrun"
"#;

fn outrun(root: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_outrun"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("outrun starts");
    assert!(
        out.status.success(),
        "outrun {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.2} / {:.2} / {:.2}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn main() {
    let project = tempfile::tempdir().expect("temp dir");
    let root = project.path();
    std::fs::create_dir_all(root.join("experiments")).expect("experiments/");
    std::fs::write(root.join("experiments/sweep.yaml"), EXPERIMENT).expect("experiment");
    outrun(root, &["generate"]);
    let plan: serde_json::Value =
        serde_json::from_str(&outrun(root, &["plan", "sweep", "--json"])).expect("plan JSON");
    let ids: Vec<String> = plan["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    git_commit_all(root);
    let jobs: Vec<(&str, fakegh::Conclusion)> = ids
        .iter()
        .map(|id| (id.as_str(), fakegh::Conclusion::Success))
        .collect();
    let fake = LoopFake::start("sweep", &jobs);
    let scratch = tempfile::tempdir().expect("temp dir");
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let workflow = root.join(".github/workflows/outrun-sweep.yml");

    let (mut to_pr, mut to_comment, mut final_job, mut requests) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 1..=5 {
        let run = fake.run(n);
        let artifacts = scratch.path().join(format!("artifacts-{n}"));
        std::fs::create_dir(&artifacts).expect("artifacts dir");
        let before = fake.fake.requests().len();
        let mut args = fake.act_args(run);
        args.extend(["--input".to_string(), "issue=7".to_string()]);
        let (ok, log) = run_act_with(
            root,
            &workflow,
            "",
            &actions,
            &artifacts,
            &scratch.path().join("setup.log"),
            &args,
        );
        assert!(ok, "act failed:\n{log}");
        let times = std::fs::read_to_string(format!("{}.times", artifacts.display()))
            .expect("stand-in times");
        let at = |what: &str| {
            times
                .lines()
                .filter(|l| l.contains(what))
                .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
                .collect::<Vec<f64>>()
        };
        let last_upload = at(" upload ").into_iter().fold(f64::MIN, f64::max);
        let download = at(" download").into_iter().fold(f64::MAX, f64::min);
        let reqs = fake.fake.requests()[before..].to_vec();
        let pr = reqs
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/pulls"))
            .map(|r| secs(r.at))
            .expect("a pull request was opened");
        let comment = reqs
            .iter()
            .filter(|r| {
                r.path.contains("/issues/") && matches!(r.method.as_str(), "POST" | "PATCH")
            })
            .map(|r| secs(r.at))
            .fold(f64::MIN, f64::max);
        let last = reqs.iter().map(|r| secs(r.at)).fold(f64::MIN, f64::max);
        to_pr.push(pr - last_upload);
        to_comment.push(comment - last_upload);
        final_job.push(last - download);
        // The final job's own requests: those after the download began.
        requests.push(
            reqs.iter()
                .filter(|r| secs(r.at) >= download && r.counted)
                .count() as f64,
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("8-cell experiment, 5 runs under act on the host, min / median / max:\n");
    println!("| measure | seconds (or requests) |");
    println!("| --- | ---: |");
    println!(
        "| last cell's upload → pull request opened | {} |",
        stats(to_pr)
    );
    println!(
        "| last cell's upload → report comment | {} |",
        stats(to_comment)
    );
    println!(
        "| final job: artifact download → its last request | {} |",
        stats(final_job)
    );
    println!("| final job: counted API requests | {} |", stats(requests));
}
