//! The GitHub backend end to end against the stateful fake (`tests/fakegh`), with faults, and
//! through Prism validating every exchange against GitHub's published API description.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fakegh::{CellSpec, Conclusion, FakeConfig, FakeGithub, Fault, Hostile, IdentityKind, Match};
use serde_json::Value;

use crate::common::{self, Project};

const TOKEN: &str = "ghp_outrunTestSecret0123456789";
const REPO: &str = "octo/lab";

/// The experiment under test: 8 cells, results keyed by the parameters.
const EXPERIMENT: &str = r#"name: sweep
description: an 8-cell sweep for the GitHub tests
issue: 7
matrix:
  n: [1, 2, 3, 4]
  mode: [a, b]
command: 'true'
timeout: 10m
results: {keys: [n, mode]}
"#;

/// A running fake whose simulated clock moves 200× faster than the wall clock, and a project.
pub struct Env {
    /// Keeps the fake's server tasks alive.
    _rt: tokio::runtime::Runtime,
    pub fake: FakeGithub,
    pub project: Project,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// The cells of EXPERIMENT as outrun plans them, with the files each one's job uploads.
pub(crate) fn cells(p: &Project) -> Vec<(String, Value)> {
    let (code, out, err) = common::run(p.cmd().args(["plan", "sweep", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["params"].clone()))
        .collect()
}

fn shard(id: &str, params: &Value, conclusion: Conclusion) -> CellSpec {
    shard_with(id, params, conclusion, 10, "2026-11-26T00:01:00Z")
}

/// A shard whose results say `value = n * factor` and whose `cell.json` claims it finished at
/// `finished_at` (and was run by commit `forged`): what a hostile cell could write.
pub(crate) fn shard_with(
    id: &str,
    params: &Value,
    conclusion: Conclusion,
    factor: u32,
    finished_at: &str,
) -> CellSpec {
    let rec = serde_json::json!({
        "schema": "outrun.cell/v1", "experiment": "sweep", "cell": id, "params": params,
        "status": if conclusion == Conclusion::Success { "ok" } else { "failed" },
        "exit_code": if conclusion == Conclusion::Success { 0 } else { 1 },
        "error": null, "started_at": "2026-11-26T00:00:00Z", "finished_at": finished_at,
        "duration_s": 60.0, "source": "github", "runner": "GitHub Actions 1", "commit": "forged",
        "run_id": "0", "attempt": 1,
    });
    let results = format!(
        "n,mode,value\n{},{},{}\n",
        params["n"].as_str().unwrap(),
        params["mode"].as_str().unwrap(),
        params["n"].as_str().unwrap().parse::<u32>().unwrap() * factor
    );
    CellSpec::new(id, conclusion).cell(
        id,
        &[
            ("cell.json", rec.to_string().as_bytes()),
            ("results.csv", results.as_bytes()),
            ("stdout.log", b"hello\n"),
        ],
    )
}

impl Env {
    pub fn new(cfg: FakeConfig) -> Env {
        Env::with_experiment(cfg, EXPERIMENT)
    }

    /// A fake and a project whose experiment `sweep` is `experiment`. With parameters `n` and
    /// `mode`, every job uploads good results; otherwise the test sets the jobs' uploads.
    pub fn with_experiment(cfg: FakeConfig, experiment: &str) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeGithub::start(FakeConfig {
            token: TOKEN.into(),
            ..cfg
        }));
        let project = Project::new();
        project.experiment("sweep", experiment);
        let (code, _, err) = common::run(project.cmd().args(["generate"]));
        assert_eq!(code, 0, "{err}");
        let env = Env {
            _rt: rt,
            fake,
            project,
            stop: Arc::new(AtomicBool::new(false)),
            ticker: None,
        };
        let specs: Vec<CellSpec> = cells(&env.project)
            .iter()
            .filter(|(_, p)| p.get("n").is_some() && p.get("mode").is_some())
            .map(|(id, p)| shard(id, p, Conclusion::Success))
            .collect();
        env.fake
            .state()
            .lock()
            .unwrap()
            .add_workflow("outrun-sweep.yml", specs);
        env
    }

    /// Starts moving the simulated clock: 2 s every 10 ms.
    pub fn run_clock(&mut self) {
        let state = self.fake.state();
        let stop = self.stop.clone();
        self.ticker = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                state.lock().unwrap().advance(Duration::from_secs(2));
            }
        }));
    }

    /// `outrun` against the fake (or `api` when given, e.g. Prism), with the token in GH_TOKEN
    /// and waits shrunk to match the fake's clock.
    pub fn outrun_at(&self, api: &str, p: &Project) -> Command {
        let mut c = p.cmd();
        c.env("GH_TOKEN", TOKEN)
            .env("OUTRUN_POLL_SCALE", "0.005")
            .args(["-R", REPO, "--api-url", api]);
        c
    }

    pub fn outrun(&self) -> Command {
        self.outrun_at(&self.fake.api_url(), &self.project)
    }

    pub fn json(&self, cmd: &mut Command, want: i32) -> Value {
        let (code, out, err) = common::run(cmd.arg("--json"));
        assert!(
            !out.contains(TOKEN) && !err.contains(TOKEN),
            "the token was printed"
        );
        assert_eq!(code, want, "stdout: {out}\nstderr: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    pub fn comments(&self) -> Vec<String> {
        self.fake
            .state()
            .lock()
            .unwrap()
            .comments_on(REPO, 7)
            .iter()
            .map(|c| c.body.clone())
            .collect()
    }

    pub fn dataset(&self) -> String {
        self.project.read("data/evaluation/sweep.csv")
    }

    /// From now on the workflow's jobs upload results `n * factor` with a `cell.json` that
    /// claims `finished_at` (runs already listed keep what they uploaded).
    pub fn forge(&self, factor: u32, finished_at: &str) {
        let specs: Vec<CellSpec> = cells(&self.project)
            .iter()
            .map(|(id, p)| shard_with(id, p, Conclusion::Success, factor, finished_at))
            .collect();
        let st = self.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = specs;
    }

    /// A fresh clone: only what is committed (the experiment and its workflow), no `.outrun/`.
    pub fn clone_project(&self) -> Project {
        let fresh = Project::new();
        for rel in [
            "experiments/sweep.yaml",
            ".github/workflows/outrun-sweep.yml",
        ] {
            fresh.write(rel, &self.project.read(rel));
        }
        fresh
    }

    /// Dispatches on main and waits for the run's end (not collecting it); returns its id.
    pub fn finished_run(&self) -> String {
        let d = self.json(
            self.outrun().args(["dispatch", "sweep", "--ref", "main"]),
            0,
        );
        let run = d["record"]["run_id"].as_u64().unwrap().to_string();
        self.json(self.outrun().args(["watch", &run]), 0);
        run
    }
}

/// The `value` column of the dataset's rows, as a sorted list.
fn values(csv_text: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let i = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "value")
        .unwrap();
    let mut v: Vec<String> = rdr.records().map(|r| r.unwrap()[i].to_string()).collect();
    v.sort();
    v
}

#[test]
fn dispatch_watch_collect_and_one_comment() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap();
    assert!(
        d["record"]["html_url"]
            .as_str()
            .unwrap()
            .contains(&run.to_string())
    );
    // The record of the dispatch is on disk for a later session on this machine.
    let id = d["record"]["outrun_id"].as_str().unwrap();
    assert!(
        env.project
            .root()
            .join(format!(".outrun/dispatches/{id}.json"))
            .is_file()
    );

    let w = env.json(env.outrun().args(["watch", &run.to_string()]), 0);
    assert_eq!(w["run"]["conclusion"], "success");
    let c = env.json(
        env.outrun()
            .args(["collect", &run.to_string(), "--comment"]),
        0,
    );
    assert_eq!(c["report"]["summary"]["ok"], 8);
    assert_eq!(c["collected"]["merge"]["rows_added"], 8);
    let data = env.dataset();
    assert_eq!(data.lines().count(), 9, "{data}");
    assert!(
        data.lines()
            .skip(1)
            .all(|l| l.contains(&format!(",github,{run},1,"))),
        "{data}"
    );
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].starts_with("<!-- outrun:report:sweep -->")
            && comments[0].contains("8 cells: 8 ok"),
        "{}",
        comments[0]
    );

    // Again: the same rows, the same single comment.
    let c = env.json(
        env.outrun()
            .args(["collect", &run.to_string(), "--comment"]),
        0,
    );
    assert_eq!(c["collected"]["merge"]["changed"], false);
    assert_eq!(env.dataset(), data);
    assert_eq!(env.comments().len(), 1);
    // And sync has nothing left to do.
    let s = env.json(env.outrun().args(["sync"]), 0);
    assert_eq!(s["runs"].as_array().unwrap().len(), 0, "{s}");
}

#[test]
fn dispatch_wait_does_the_whole_cycle_and_status_shows_jobs() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    // Someone else's comment carrying outrun's marker is not outrun's to overwrite.
    let decoy = "<!-- outrun:report:sweep -->\nnot yours";
    env.fake
        .state()
        .lock()
        .unwrap()
        .seed_comment(REPO, 7, "mallory", decoy);
    let v = env.json(
        env.outrun()
            .args(["dispatch", "sweep", "--ref", "main", "--wait", "--comment"]),
        0,
    );
    assert_eq!(v["report"]["summary"]["ok"], 8);
    let run = v["collected"]["run_id"].as_u64().unwrap();
    let comments = env.comments();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0], decoy);
    assert!(comments[1].contains("8 cells: 8 ok"));
    let s = env.json(env.outrun().args(["status", &run.to_string()]), 0);
    assert_eq!(
        s["jobs"].as_array().unwrap().len(),
        9,
        "plan + 8 cells: {s}"
    );
    let s = env.json(env.outrun().args(["status", "sweep"]), 0);
    assert_eq!(s["runs"][0]["collected"], true);
}

#[test]
fn watch_timeout_says_still_running() {
    let env = Env::new(FakeConfig::default()); // the clock does not move: the run stays queued
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    let w = env.json(env.outrun().args(["watch", &run, "--timeout", "30s"]), 3);
    assert_eq!(w["state"], "running");
    let c = env.json(env.outrun().args(["collect", &run]), 3);
    assert_eq!(c["state"], "running");
}

#[test]
fn enterprise_server_without_run_details_is_found_by_name() {
    // GitHub Enterprise Server: the API under /api/v3, `return_run_details` refused, lists lagging.
    let mut env = Env::new(FakeConfig {
        enterprise_mode: true,
        api_prefix: "/api/v3".into(),
        list_lag: Duration::from_secs(5),
        ..FakeConfig::default()
    });
    env.run_clock();
    assert!(env.fake.api_url().ends_with("/api/v3"));
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    {
        let st = env.fake.state();
        let st = st.lock().unwrap();
        assert_eq!(st.runs.len(), 1, "exactly one run was created");
        // The refused request, then one without the field, and nothing more.
        let dispatches = st
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/dispatches"))
            .count();
        assert_eq!(dispatches, 2);
    }
    // The whole cycle works under the path prefix, artifact redirects included.
    env.json(env.outrun().args(["watch", &run]), 0);
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    assert_eq!(c["report"]["summary"]["ok"], 8);
    assert_eq!(env.comments().len(), 1);
}

#[test]
fn a_lost_dispatch_answer_is_never_resent() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    env.fake.inject(Fault::LostResponse {
        on: Match::post("/repos/octo/lab/actions/workflows/outrun-sweep.yml/dispatches"),
        replace_with: Some(502),
    });
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap();
    let st = env.fake.state();
    let st = st.lock().unwrap();
    assert_eq!(st.runs.len(), 1);
    assert_eq!(st.runs[0].id, run);
    assert_eq!(
        st.requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/dispatches"))
            .count(),
        1
    );
}

#[test]
fn transient_faults_and_rate_limits_are_ridden_out() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    let runs = "/repos/octo/lab/actions/runs/";
    env.fake
        .inject(Fault::status(Match::get(runs).times(2), 500));
    env.fake
        .inject(Fault::status(Match::get(runs).times(1), 502));
    env.fake
        .inject(Fault::forbidden_rate_limit(Match::get(runs).times(1), 3));
    env.fake
        .inject(Fault::too_many_requests(Match::get(runs).times(1), 2));
    env.fake
        .inject(Fault::disconnect(Match::get(runs).times(1)));
    env.fake.inject(Fault::Disconnect {
        on: Match::get("/repos/octo/lab/actions/artifacts/").times(1),
        reset: true,
    });
    env.fake.inject(Fault::slow(
        Match::get("/repos/octo/lab/issues/").times(1),
        Duration::from_millis(300),
    ));
    let w = env.json(env.outrun().args(["watch", &run]), 0);
    assert!(w["requests"]["retries"].as_u64().unwrap() >= 5, "{w}");
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    assert_eq!(c["report"]["summary"]["ok"], 8);
    assert_eq!(env.comments().len(), 1);
}

#[test]
fn cancelled_and_timed_out_runs_report_their_cells_and_merge_the_rest() {
    for (fault, code, word) in [
        (Fault::cancel_next_run(), 2, "cancelled"),
        (Fault::time_out_next_run(), 1, "timed out"),
    ] {
        let mut env = Env::new(FakeConfig::default());
        env.run_clock();
        env.fake.inject(fault);
        let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
        let run = d["record"]["run_id"].as_u64().unwrap().to_string();
        let w = env.json(env.outrun().args(["watch", &run]), code);
        assert_ne!(w["run"]["conclusion"], "success");
        let c = env.json(env.outrun().args(["collect", &run]), code);
        let s = &c["report"]["summary"];
        let ok = s["ok"].as_u64().unwrap();
        assert!(ok < 8 && s["cells"] == 8, "{s}");
        assert_eq!(env.dataset().lines().count() as u64, 1 + ok);
        let md = env.project.read(&format!(".outrun/github/{run}/report.md"));
        assert!(
            md.contains(word)
                && (md.contains("no output uploaded") || md.contains("not run: the run ended")),
            "{md}"
        );
        if word == "cancelled" {
            assert!(md.contains("run cancelled"), "{md}");
        }
        // The run is collected in the repository's ledger, rows or not: sync leaves it alone.
        let ledger = env.project.read("data/evaluation/sweep.runs.csv");
        assert!(
            ledger.contains(&format!("\n{run},1,github,workflow_dispatch,main,")),
            "{ledger}"
        );
        let s = env.json(env.outrun().args(["sync"]), 0);
        assert_eq!(s["runs"].as_array().unwrap().len(), 0, "{s}");
    }
}

#[test]
fn an_expired_artifact_is_reported() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let first = cells(&env.project)[0].0.clone();
    env.fake.inject(Fault::ArtifactGone {
        shard: first.clone(),
    });
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun().args(["watch", &run]), 0);
    let c = env.json(env.outrun().args(["collect", &run]), 1);
    assert_eq!(
        c["collected"]["expired"][0],
        format!("outrun-sweep-{first}-a1")
    );
    assert_eq!(env.dataset().lines().count(), 1 + 7);
    let cell = c["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == first.as_str())
        .unwrap()
        .clone();
    assert!(
        cell["error"]
            .as_str()
            .unwrap()
            .starts_with("artifact expired"),
        "{cell}"
    );
}

#[test]
fn hostile_artifacts_are_refused_and_write_nothing_outside() {
    for entry in [
        Hostile::ParentDir,
        Hostile::Absolute,
        Hostile::Symlink,
        Hostile::Bomb,
    ] {
        let mut env = Env::new(FakeConfig::default());
        env.run_clock();
        let first = cells(&env.project)[0].0.clone();
        env.fake.inject(Fault::HostileZip {
            shard: first,
            entry,
        });
        let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
        let run = d["record"]["run_id"].as_u64().unwrap().to_string();
        env.json(env.outrun().args(["watch", &run]), 0);
        // One hostile artifact among eight: it is refused with its reason, the seven good
        // cells are merged, the bad one is reported — and the run counts as collected, so no
        // later sync downloads it again.
        let c = env.json(env.outrun().args(["collect", &run]), 1);
        assert_eq!(
            c["collected"]["refused"].as_array().unwrap().len(),
            1,
            "{entry:?}: {c}"
        );
        assert_eq!(c["report"]["summary"]["ok"], 7, "{entry:?}: {c}");
        let bad = &c["report"]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["status"] != "ok")
            .unwrap()["error"];
        assert!(
            bad.as_str().unwrap().starts_with("artifact refused: "),
            "{entry:?}: {bad}"
        );
        let root = env.project.root();
        assert!(
            !root.join(".outrun/github/evil").exists()
                && !root.join(".outrun/evil").exists()
                && !root.join("evil").exists()
        );
        assert!(!std::path::Path::new("/abs/evil").exists());
        assert_eq!(env.dataset().lines().count(), 1 + 7, "{entry:?}");
        let md = env.project.read(&format!(".outrun/github/{run}/report.md"));
        assert!(
            md.contains("Artifacts not merged") && md.contains("artifact refused"),
            "{md}"
        );
        let before = env.fake.requests().len();
        let s = env.json(env.outrun().args(["sync"]), 0);
        assert_eq!(s["runs"].as_array().unwrap().len(), 0, "{entry:?}: {s}");
        assert!(
            !env.fake.requests()[before..]
                .iter()
                .any(|r| r.path.contains("/artifacts")),
            "sync fetched the refused run again"
        );
    }
}

#[test]
fn a_new_session_without_records_resumes_with_sync() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    // Session 1 dispatches and waits, and is killed (-9) while it waits.
    let mut waiting = env
        .outrun()
        .args(["dispatch", "sweep", "--ref", "main", "--wait", "--comment"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let records = env.project.root().join(".outrun/dispatches");
    let mut run = None;
    for _ in 0..200 {
        run = std::fs::read_dir(&records)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
            .find_map(|v| v["run_id"].as_u64());
        if run.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = run.expect("the dispatch recorded its run");
    waiting.kill().unwrap();
    waiting.wait().unwrap();
    assert_eq!(env.comments().len(), 0, "session 1 died before collecting");

    // Session 2: a fresh checkout, without .outrun/ — only what is committed.
    let fresh = Project::new();
    for rel in [
        "experiments/sweep.yaml",
        ".github/workflows/outrun-sweep.yml",
    ] {
        fresh.write(rel, &env.project.read(rel));
    }
    // Until the run finishes, sync says so (exit 3) and collects nothing.
    let mut waited = 0;
    loop {
        let (code, out, _) = common::run(
            env.outrun_at(&env.fake.api_url(), &fresh)
                .args(["sync", "--json"]),
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        if code == 0 {
            assert_eq!(v["runs"][0]["state"], "collected", "{v}");
            assert_eq!(v["runs"][0]["run_id"], run);
            // Landed as the final job would have: its branch, its pull request, its ledger.
            assert!(v["runs"][0]["landed"]["pull_url"].is_string(), "{v}");
            break;
        }
        assert_eq!(code, 3, "{out}");
        assert_eq!(v["runs"][0]["state"], "running");
        waited += 1;
        assert!(waited < 100, "the run never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(fresh.read("data/evaluation/sweep.csv").lines().count(), 9);
    assert_eq!(env.comments().len(), 1);
    // Twice, and two at once in a third checkout: no duplicate rows, no second comment.
    let (code, _, _) = common::run(env.outrun_at(&env.fake.api_url(), &fresh).args(["sync"]));
    assert_eq!(code, 0);
    let branch = format!("outrun/sweep/{run}");
    {
        let st = env.fake.state();
        let st = st.lock().unwrap();
        let landed = String::from_utf8(
            st.file_at(REPO, &branch, "data/evaluation/sweep.csv")
                .expect("sync landed the rows on the run's branch"),
        )
        .unwrap();
        assert_eq!(landed.lines().count(), 9, "{landed}");
        assert!(
            st.file_at(REPO, &branch, "data/evaluation/sweep.runs.csv")
                .is_some(),
            "the ledger travels with the rows"
        );
        assert_eq!(st.pulls_of(REPO).len(), 1);
    }
    // A third fresh clone sees the run collected (issue 14 §4): it collects nothing again, and
    // says which branch and pull request hold the run — also two syncs at once.
    let third = env.clone_project();
    let (code, out, err) = common::run(
        env.outrun_at(&env.fake.api_url(), &third)
            .args(["sync", "--json"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"], serde_json::json!([]), "{v}");
    assert_eq!(v["held"][0]["run_id"], run, "{v}");
    assert_eq!(v["held"][0]["branch"], branch.as_str(), "{v}");
    assert!(v["held"][0]["pull_url"].is_string(), "{v}");
    let (code, out, _) = common::run(env.outrun_at(&env.fake.api_url(), &third).arg("sync"));
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("its rows wait on branch {branch} (pull request ")),
        "{out}"
    );
    let a = env
        .outrun_at(&env.fake.api_url(), &third)
        .arg("sync")
        .spawn()
        .unwrap();
    let b = env
        .outrun_at(&env.fake.api_url(), &third)
        .arg("sync")
        .spawn()
        .unwrap();
    for mut c in [a, b] {
        assert!(c.wait().unwrap().success());
    }
    assert!(
        !third.root().join("data/evaluation/sweep.csv").exists(),
        "nothing collected twice"
    );
    assert_eq!(env.fake.state().lock().unwrap().pulls_of(REPO).len(), 1);
    assert_eq!(env.comments().len(), 1);
}

#[test]
fn authentication_problems_exit_4_and_never_print_the_token() {
    let env = Env::new(FakeConfig::default());
    let (code, out, err) = common::run(
        env.outrun()
            .env("GH_TOKEN", "ghp_wrongTokenValue42")
            .args(["status", "sweep"]),
    );
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("Bad credentials") && !err.contains("ghp_wrongTokenValue42"),
        "{err}"
    );
    let (code, _, err) = common::run(
        env.outrun()
            .env_remove("GH_TOKEN")
            .env("HOME", env.project.root())
            .env("PATH", "/usr/bin:/bin")
            .args(["status", "sweep", "--json"]),
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("GH_TOKEN"), "{err}");
}

/// A token refused only when the comment is posted still exits 4 (the comment's error carries
/// GitHub's, which decides the exit status), and the rows collected before it are kept.
#[test]
fn a_token_refused_for_the_comment_exits_4_and_keeps_the_rows() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun().args(["watch", &run]), 0);
    env.fake
        .inject(Fault::status(Match::post("/repos/octo/lab/issues/"), 401));
    let (code, out, err) = common::run(env.outrun().args(["collect", &run, "--comment"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("the report was not posted on issue #") && !err.contains("fake-token"),
        "{err}"
    );
    assert_eq!(env.dataset().lines().count(), 9);
    assert!(env.comments().is_empty());
}

#[test]
fn every_exchange_conforms_to_githubs_description() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let Some(proxy) = crate::prism::PrismProxy::start(&env.fake.api_url()) else {
        return;
    };
    let via = proxy.url();
    let d = env.json(
        env.outrun_at(&via, &env.project)
            .args(["dispatch", "sweep", "--ref", "main"]),
        0,
    );
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun_at(&via, &env.project).args(["watch", &run]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["status", &run]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["status"]), 0);
    // Prism follows the artifact's 302 itself and forwards the token to storage, which refuses
    // it; so the zips are fetched straight from the fake, and everything else goes through Prism.
    env.json(env.outrun().args(["collect", &run]), 0);
    env.json(
        env.outrun_at(&via, &env.project)
            .args(["collect", &run, "--comment"]),
        0,
    );
    env.json(
        env.outrun_at(&via, &env.project)
            .args(["collect", &run, "--comment"]),
        0,
    );
    env.json(env.outrun_at(&via, &env.project).args(["sync"]), 0);
    assert_eq!(env.comments().len(), 1);
    // Prism's router cannot match a path parameter that spans segments, as `{path}` of
    // `GET /repos/{owner}/{repo}/contents/{path}` does for `data/evaluation/sweep.runs.csv`, and
    // `{ref}` of `GET …/git/matching-refs/{ref}` for `heads/outrun/sweep/` (GitHub takes the
    // slashes as they are; so do Octokit's clients). Prism answers those 404 without forwarding
    // them, which outrun reads as "no ledger on the default branch" and "no landing branches":
    // those two requests alone are not checked here (the fake's own tests check its answers).
    let spans = |v: &String| {
        (v.contains("/contents/data/evaluation/") || v.contains("/git/matching-refs/heads/outrun/"))
            && v.contains("NO_PATH_MATCHED_ERROR")
    };
    let v: Vec<String> = proxy
        .violations()
        .into_iter()
        .filter(|v| !spans(v))
        .collect();
    assert!(
        v.is_empty(),
        "requests or responses that break GitHub's description:\n{}",
        v.join("\n")
    );
}

/// Runs of other events and branches are listed as skipped and never merged; provenance (the
/// commit, times, which run is newest) comes from GitHub's run and jobs, whatever an artifact's
/// `cell.json` claims; the comment never moves back to an older run.
#[test]
fn only_trusted_runs_merge_and_provenance_comes_from_github() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let a = env.finished_run();
    env.json(env.outrun().args(["collect", &a, "--comment"]), 0);
    let before = env.dataset();
    assert_eq!(values(&before).len(), 8);
    let comment = env.comments()[0].clone();

    // A pull_request run, and a dispatch from another branch, whose cells claim to have
    // finished in 2099 with other values.
    env.forge(1000, "2099-01-01T00:00:00Z");
    let (pr, side) = {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        (
            st.add_run(
                REPO,
                "outrun-sweep.yml",
                "pull_request",
                "feature",
                "outrun sweep pr",
            ),
            st.add_run(
                REPO,
                "outrun-sweep.yml",
                "workflow_dispatch",
                "feature",
                "outrun sweep side",
            ),
        )
    };
    env.json(env.outrun().args(["watch", &pr.to_string()]), 0);
    env.json(env.outrun().args(["watch", &side.to_string()]), 0);
    let s = env.json(env.outrun().args(["sync"]), 0);
    let runs = s["runs"].as_array().unwrap();
    let item = |id: u64| {
        runs.iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {s}"))
    };
    assert_eq!(item(pr)["state"], "skipped");
    assert!(
        item(pr)["error"].as_str().unwrap().contains("pull_request"),
        "{s}"
    );
    assert_eq!(item(side)["state"], "skipped");
    assert!(
        item(side)["error"].as_str().unwrap().contains("`feature`"),
        "{s}"
    );
    assert_eq!(env.dataset(), before, "an untrusted run was merged");
    assert_eq!(env.comments(), vec![comment.clone()]);
    // Asked for by name, it is refused too.
    let (code, _, err) = common::run(env.outrun().args(["collect", &pr.to_string()]));
    assert_eq!(code, 1);
    assert!(err.contains("not one outrun merges"), "{err}");

    // A trusted run whose cells forge their times: the run's order decides, and the rows carry
    // GitHub's commit and job times, not the claims.
    let d = env.finished_run();
    let c = env.json(env.outrun().args(["collect", &d, "--comment"]), 0);
    assert_eq!(c["collected"]["run_id"].as_u64().unwrap().to_string(), d);
    let data = env.dataset();
    assert!(
        !data.contains("forged") && !data.contains("2099-"),
        "{data}"
    );
    let newest: Vec<String> = c["report"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert!(
        newest.iter().all(|v| v.len() >= 4),
        "the newest run's values are shown: {newest:?}"
    );
    let shown = env.comments();
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].contains(&format!("\"run_id\":\"{d}\"")),
        "{}",
        shown[0]
    );
    // Collecting the older run again does not move the comment back.
    env.json(env.outrun().args(["collect", &a, "--comment"]), 0);
    assert_eq!(env.comments(), shown);
}

/// Two fresh clones that sync the same finished run at the same moment end with one comment;
/// another bot's comment carrying the marker is never touched; the comment the workflow's own
/// jobs wrote (as github-actions[bot]) is the one updated.
#[test]
fn one_comment_across_machines_and_other_bots_are_left_alone() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let marker = "<!-- outrun:report:sweep -->";
    let decoy = format!("{marker}\nanother app's bot");
    env.fake.state().lock().unwrap().seed_comment_as(
        REPO,
        7,
        "evil-app[bot]",
        IdentityKind::Bot,
        "NONE",
        &decoy,
    );
    for round in 0..4 {
        let run = env.finished_run();
        let (x, y) = (env.clone_project(), env.clone_project());
        let mut a = env.outrun_at(&env.fake.api_url(), &x);
        let mut b = env.outrun_at(&env.fake.api_url(), &y);
        let (a, b) = (
            a.args(["sync", "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            b.args(["sync", "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        for c in [a, b] {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let comments = env.comments();
        assert_eq!(comments.len(), 2, "round {round}: {comments:#?}");
        assert_eq!(comments[0], decoy);
        assert!(
            comments[1].contains(&format!("\"run_id\":\"{run}\"")),
            "round {round}: the comment shows the newest run\n{}",
            comments[1]
        );
    }
    // A comment the workflow's final job wrote is outrun's own and gets updated in place.
    let env = Env::new(FakeConfig::default());
    let ours = format!("{marker}\nwritten by the workflow");
    let id = env.fake.state().lock().unwrap().seed_comment_as(
        REPO,
        7,
        "github-actions[bot]",
        IdentityKind::Bot,
        "NONE",
        &ours,
    );
    let mut env = env;
    env.run_clock();
    let run = env.finished_run();
    env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    let st = env.fake.state();
    let st = st.lock().unwrap();
    let all = st.comments_on(REPO, 7);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert!(all[0].body.contains("8 cells: 8 ok"));
}

/// An experiment whose workflow is not on GitHub yet does not stop sync for the others; a
/// dispatch whose run never appeared is reported lost once, then no longer paid for.
#[test]
fn sync_goes_on_past_a_missing_workflow_and_gives_up_on_a_lost_dispatch() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    env.project
        .experiment("other", &EXPERIMENT.replace("name: sweep", "name: other"));
    let (code, _, err) = common::run(env.project.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let lost = serde_json::json!({
        "schema": "outrun.dispatch/v1", "outrun_id": "20261126t000000z-dead00", "experiment": "sweep",
        "repo": REPO, "git_ref": "main", "cells": null, "issue": 7, "run_id": null, "html_url": null,
        "dispatched_at": "2026-01-01T00:00:00Z", "collected_at": null,
    });
    env.project.write(
        ".outrun/dispatches/20261126t000000z-dead00.json",
        &lost.to_string(),
    );
    let run = env.finished_run();
    let s = env.json(env.outrun().args(["sync"]), 1);
    let runs = s["runs"].as_array().unwrap();
    let state_of =
        |pred: &dyn Fn(&Value) -> bool| runs.iter().find(|r| pred(r)).map(|r| r["state"].clone());
    assert_eq!(
        state_of(&|r| r["experiment"] == "other"),
        Some(Value::from("failed")),
        "{s}"
    );
    assert!(
        runs.iter().any(|r| r["experiment"] == "other"
            && r["error"].as_str().unwrap().contains("not on GitHub yet")),
        "{s}"
    );
    assert_eq!(
        state_of(&|r| r["outrun_id"] == "20261126t000000z-dead00"),
        Some(Value::from("lost")),
        "{s}"
    );
    assert_eq!(
        state_of(&|r| r["run_id"].as_u64().map(|x| x.to_string()) == Some(run.clone())),
        Some(Value::from("collected")),
        "{s}"
    );
    // Next time: the lost dispatch is not looked for again.
    let before = env.fake.requests().len();
    let s = env.json(env.outrun().args(["sync"]), 1);
    assert!(
        !s["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["state"] == "lost"),
        "{s}"
    );
    let searches = env.fake.requests()[before..]
        .iter()
        .filter(|r| r.query.contains("event=workflow_dispatch"))
        .count();
    assert_eq!(searches, 0, "a lost dispatch is still being searched for");
}

/// Retry only what failed: `dispatch --failed-from RUN` asks for exactly the cells that did not
/// succeed; `rerun RUN --failed` (GitHub's "Re-run failed jobs") makes attempt 2, whose `-a2`
/// artifacts merge with attempt 1's into a complete dataset and report.
#[test]
fn only_the_failed_cells_run_again() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let all = cells(&env.project);
    let failing: Vec<String> = all.iter().take(2).map(|(id, _)| id.clone()).collect();
    let set = |conclusion_of: &dyn Fn(&str) -> Conclusion| {
        let specs: Vec<CellSpec> = all
            .iter()
            .map(|(id, p)| shard(id, p, conclusion_of(id)))
            .collect();
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = specs;
    };
    set(&|id| {
        if failing.iter().any(|f| f == id) {
            Conclusion::Failure
        } else {
            Conclusion::Success
        }
    });
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun().args(["watch", &run]), 1);
    let c = env.json(env.outrun().args(["collect", &run]), 1);
    assert_eq!(c["report"]["summary"]["failed"], 2, "{c}");

    // A new dispatch of just those two cells (which succeed this time).
    set(&|_| Conclusion::Success);
    let d = env.json(
        env.outrun()
            .args(["dispatch", "sweep", "--ref", "main", "--failed-from", &run]),
        0,
    );
    let mut asked: Vec<String> = d["record"]["cells"]
        .as_str()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    asked.sort();
    let mut want = failing.clone();
    want.sort();
    assert_eq!(asked, want);
    let new_run = d["record"]["run_id"].as_u64().unwrap();
    let inputs = env
        .fake
        .state()
        .lock()
        .unwrap()
        .run(new_run)
        .unwrap()
        .inputs
        .clone();
    assert_eq!(
        inputs["cells"], d["record"]["cells"],
        "the workflow got the same filter"
    );

    // GitHub's re-run of the failed jobs: attempt 2 uploads -a2 artifacts for them alone.
    let r = env.json(env.outrun().args(["rerun", &run, "--failed"]), 0);
    assert_eq!(r["attempt"], 2);
    env.json(env.outrun().args(["watch", &run]), 0);
    env.json(env.outrun().args(["watch", &new_run.to_string()]), 0);
    // sync sees attempt 2 is not collected yet (the ledger has attempt 1) and collects it.
    let s = env.json(env.outrun().args(["sync", "--no-comment"]), 0);
    let item = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["run_id"].as_u64().map(|x| x.to_string()) == Some(run.clone()))
        .cloned()
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(item["state"], "collected", "{s}");
    assert_eq!(
        (item["cells_ok"].as_u64(), item["cells_failed"].as_u64()),
        (Some(8), Some(0)),
        "{s}"
    );
    let data = env.dataset();
    let rows_of_run: Vec<&str> = data
        .lines()
        .filter(|l| l.contains(&format!(",github,{run},")))
        .collect();
    assert_eq!(rows_of_run.len(), 8, "{data}");
    assert_eq!(
        rows_of_run
            .iter()
            .filter(|l| l.contains(&format!(",github,{run},2,")))
            .count(),
        2,
        "the re-run cells carry attempt 2:\n{data}"
    );
    let ledger = env.project.read("data/evaluation/sweep.runs.csv");
    assert!(
        ledger.contains(&format!("\n{run},1,")) && ledger.contains(&format!("\n{run},2,")),
        "{ledger}"
    );
}

/// A tiny HTTP server on 127.0.0.1 that answers every request with `answer(path)`; counts them.
struct Stub {
    url: String,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

fn stub(
    answer: impl Fn(&str) -> (u16, &'static str, Vec<u8>, Vec<(String, String)>) + Send + 'static,
) -> Stub {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let (status, kind, body, headers) = answer(&path);
            let mut conn = conn;
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    Stub { url, hits }
}

/// Hostile or broken servers and arguments: a user part that hides another host, repositories
/// that would steer the API path, an answer too large to read, an HTML page where JSON was
/// expected, a `Link` that points at itself. Each is a clear error; no panic, nothing written.
#[test]
fn hostile_urls_repositories_and_answers_are_refused() {
    let p = Project::new();
    p.experiment("sweep", EXPERIMENT);
    let run = |args: &[&str]| common::run(p.cmd().env("GH_TOKEN", TOKEN).args(args));
    let s = stub(|_| (200, "application/json", b"{}".to_vec(), vec![]));
    let sneaky = s.url.replace("http://", "http://localhost:@");
    let (code, _, err) = run(&["-R", REPO, "--api-url", &sneaky, "status", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("user name or password") && !err.contains(TOKEN),
        "{err}"
    );
    for bad in ["a/b/c", "../..", "octo/paper/../../x"] {
        let (code, _, err) = run(&["-R", bad, "--api-url", &s.url, "status", "1"]);
        assert_eq!(code, 1, "{bad}: {err}");
        assert!(err.contains("is not OWNER/REPO"), "{bad}: {err}");
    }
    assert_eq!(
        s.hits.load(Ordering::SeqCst),
        0,
        "a refused URL or repository was still asked"
    );

    let big = stub(|_| (200, "application/json", vec![b' '; 65 << 20], vec![]));
    let (code, _, err) = run(&["-R", REPO, "--api-url", &big.url, "status", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("larger than 67108864 bytes"), "{err}");

    let html = stub(|_| {
        (
            200,
            "text/html",
            b"<html><body>Proxy says hello</body></html>".to_vec(),
            vec![],
        )
    });
    let (code, _, err) = run(&["-R", REPO, "--api-url", &html.url, "status", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/repos/octo/lab/actions/runs/1")
            && err.contains("text/html")
            && err.contains("Proxy says hello"),
        "{err}"
    );

    let run_json = serde_json::json!({"id": 1, "display_title": "outrun sweep x", "status": "completed", "html_url": "https://github.com/octo/lab/actions/runs/1", "path": ".github/workflows/outrun-sweep.yml"}).to_string();
    let looping = stub(move |path| {
        if path.contains("/jobs") {
            // Relative, so it stays on this server: the page that points at itself.
            (
                200,
                "application/json",
                br#"{"total_count": 1, "jobs": []}"#.to_vec(),
                vec![("Link".into(), format!("<{path}>; rel=\"next\""))],
            )
        } else {
            (
                200,
                "application/json",
                run_json.clone().into_bytes(),
                vec![],
            )
        }
    });
    let (code, _, err) = run(&["-R", REPO, "--api-url", &looping.url, "status", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than 100 pages"), "{err}");
    assert!(
        looping.hits.load(Ordering::SeqCst) <= 102,
        "{} requests",
        looping.hits.load(Ordering::SeqCst)
    );
    // A next page on another host is not followed: the token would go with it.
    let elsewhere = stub(|path| {
        if path.contains("/jobs") {
            (
                200,
                "application/json",
                br#"{"total_count": 1, "jobs": []}"#.to_vec(),
                vec![(
                    "Link".into(),
                    "<http://127.0.0.1:9/steal?x=1>; rel=\"next\"".into(),
                )],
            )
        } else {
            (
                200,
                "application/json",
                serde_json::json!({"id": 1, "display_title": "x", "status": "completed"})
                    .to_string()
                    .into_bytes(),
                vec![],
            )
        }
    });
    let (code, _, err) = run(&["-R", REPO, "--api-url", &elsewhere.url, "status", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("leaves the API host"), "{err}");
    assert!(!p.root().join("data").exists());
}

/// With GH_HOST naming an Enterprise host and only a github.com token, the message names the
/// variable to set.
#[test]
fn an_enterprise_host_without_its_token_names_gh_enterprise_token() {
    let p = Project::new();
    p.experiment("sweep", EXPERIMENT);
    let (code, _, err) = common::run(
        p.cmd()
            .env("GH_TOKEN", TOKEN)
            .env("GH_HOST", "ghe.example.com")
            .env("HOME", p.root())
            .env("PATH", "/usr/bin:/bin")
            .args(["-R", REPO, "status", "1"]),
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("GH_ENTERPRISE_TOKEN") && !err.contains(TOKEN),
        "{err}"
    );
}

/// `watch --comment` keeps the experiment's one comment at "k of n cells done" while the run
/// goes on; the report replaces it when the run is collected.
#[test]
fn watch_comment_shows_progress_then_the_report_replaces_it() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun().args(["watch", &run, "--comment"]), 0);
    let comments = env.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("of 8 cells done") && comments[0].contains("\"phase\":\"running\""),
        "{}",
        comments[0]
    );
    let patches = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/issues/comments/"))
        .count();
    assert!(patches >= 1, "the count was updated as cells finished");
    env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].contains("8 cells: 8 ok") && comments[0].contains("\"phase\":\"finished\""),
        "{}",
        comments[0]
    );
}

/// The workflow's token in the landing tests (an installation token: `GET /user` is refused
/// and `POST /pulls` depends on the repository setting).
const ACTIONS_TOKEN: &str = "ghs_outrunActionsSecret0123456789";

/// An Env whose experiment keeps every run's rows (`history: all`), so that rows can be counted
/// per run, and whose fake also knows the workflow's token.
fn landing_env() -> Env {
    let env = Env::new(FakeConfig {
        identities: vec![fakegh::Identity::github_actions(ACTIONS_TOKEN)],
        ..FakeConfig::default()
    });
    env.project
        .experiment("sweep", &format!("{EXPERIMENT}dataset: {{history: all}}\n"));
    let (code, _, err) = common::run(env.project.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    env
}

impl Env {
    /// One of run `run`'s workflow jobs running `args --json`: the workflow's token and
    /// environment (`GITHUB_ACTIONS`, `GITHUB_RUN_ID`), in a fresh checkout; returns the exit
    /// status and the document.
    fn workflow_job(&self, run: &str, args: &[&str]) -> (i32, Value) {
        let fresh = self.clone_project();
        let (code, out, err) = common::run(
            fresh
                .cmd()
                .env("GH_TOKEN", ACTIONS_TOKEN)
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_RUN_ID", run)
                .env("OUTRUN_POLL_SCALE", "0.005")
                .args(["-R", REPO, "--api-url", &self.fake.api_url()])
                .args(args)
                .arg("--json"),
        );
        assert!(!out.contains(ACTIONS_TOKEN) && !err.contains(ACTIONS_TOKEN));
        let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (code, v)
    }

    /// The final job's `collect RUN --land --comment`, as the workflow runs it.
    fn final_job(&self, run: &str) -> (i32, Value) {
        self.workflow_job(run, &["collect", run, "--land", "--comment"])
    }

    /// The status job's `announce RUN --issue 7 --actor ACTOR`.
    fn status_job(&self, run: &str, actor: &str) -> (i32, Value) {
        self.workflow_job(run, &["announce", run, "--issue", "7", "--actor", actor])
    }

    /// Dispatches on main without waiting; returns the run id.
    fn dispatched(&self) -> String {
        let d = self.json(
            self.outrun().args(["dispatch", "sweep", "--ref", "main"]),
            0,
        );
        d["record"]["run_id"].as_u64().unwrap().to_string()
    }

    fn pulls(&self) -> Vec<(String, String, String)> {
        let st = self.fake.state();
        let st = st.lock().unwrap();
        st.pulls_of(REPO)
            .iter()
            .map(|p| {
                (
                    p.head.clone(),
                    p.state.clone(),
                    p.body.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn file_on(&self, branch: &str, rel: &str) -> String {
        let st = self.fake.state();
        let st = st.lock().unwrap();
        String::from_utf8(st.file_at(REPO, branch, rel).unwrap_or_default()).unwrap()
    }
}

/// Issue 14 §1: an open outrun pull request holding runs 1–5; the repository stops letting
/// Actions open pull requests, so run 6's `POST /pulls` is refused (403) — which must not close
/// run 5's pull request; once the setting is back on, run 7 builds on run 6's branch (the
/// newest landing branch whose rows are not on main), so its pull request carries all seven
/// runs' rows, says so, and only then closes the ones it supersedes.
#[test]
fn a_refused_pull_request_closes_nothing_and_the_next_run_picks_up_the_chain() {
    let mut env = landing_env();
    env.run_clock();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = env.finished_run();
        let (code, v) = env.final_job(&run);
        assert_eq!(code, 0, "{v}");
        assert!(v["landed"]["pull_url"].is_string(), "{v}");
        runs.push(run);
    }
    let open = |env: &Env| -> Vec<String> {
        env.pulls()
            .into_iter()
            .filter(|p| p.1 == "open")
            .map(|p| p.0)
            .collect()
    };
    assert_eq!(open(&env), [format!("outrun/sweep/{}", runs[4])]);

    // Run 6: Actions may not open pull requests.
    env.fake
        .state()
        .lock()
        .unwrap()
        .set_actions_can_create_prs(false);
    let run6 = env.finished_run();
    let (code, v) = env.final_job(&run6);
    assert_eq!(code, 1, "the final job fails visibly: {v}");
    assert!(v["landed"]["action_needed"].is_string(), "{v}");
    assert_eq!(
        open(&env),
        [format!("outrun/sweep/{}", runs[4])],
        "run 5's pull request stays open: nothing supersedes it yet"
    );
    assert_eq!(v["landed"]["superseded"], serde_json::json!([]), "{v}");
    runs.push(run6);

    // Run 7, the setting back on.
    env.fake
        .state()
        .lock()
        .unwrap()
        .set_actions_can_create_prs(true);
    let run7 = env.finished_run();
    let (code, v) = env.final_job(&run7);
    assert_eq!(code, 0, "{v}");
    runs.push(run7.clone());
    let newest = format!("outrun/sweep/{run7}");
    assert_eq!(open(&env), std::slice::from_ref(&newest));
    let carried: Vec<String> = runs[..6].iter().map(|r| r.to_string()).collect();
    assert_eq!(
        v["landed"]["carries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>(),
        carried,
        "{v}"
    );
    // Every run's rows are on the newest pull request's branch: 7 runs × 8 cells.
    let data = env.file_on(&newest, "data/evaluation/sweep.csv");
    assert_eq!(data.lines().count(), 1 + 7 * 8, "{data}");
    for r in &runs {
        assert_eq!(
            data.lines()
                .filter(|l| l.contains(&format!(",{r},")))
                .count(),
            8,
            "run {r}: {data}"
        );
    }
    // The pull request and the comment say which earlier runs it carries.
    let body = env.pulls().into_iter().find(|p| p.0 == newest).unwrap().2;
    assert!(body.contains(&carried.join(", ")), "{body}");
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains(&carried.join(", ")), "{}", comments[0]);
}

/// Issue 14 §5: inside a workflow (`GITHUB_ACTIONS=true`) neither the status job nor the final
/// job asks `GET /user` (the workflow's token may not: it would be one refused, counted request
/// per job); the status comment says when the actor is unknown rather than leave a blank.
#[test]
fn inside_a_workflow_get_user_is_never_asked_and_a_missing_actor_is_said() {
    let mut env = Env::new(FakeConfig {
        identities: vec![fakegh::Identity::github_actions(ACTIONS_TOKEN)],
        ..FakeConfig::default()
    });
    env.run_clock();
    let run = env.dispatched();
    let (code, v) = env.status_job(&run, "");
    assert_eq!(code, 0, "{v}");
    assert!(v["comment_url"].is_string(), "{v}");
    let comments = env.comments();
    assert!(
        comments[0].contains("started by an unknown actor"),
        "{}",
        comments[0]
    );
    env.json(env.outrun().args(["watch", &run]), 0);
    let (code, v) = env.final_job(&run);
    assert_eq!(code, 0, "{v}");
    assert!(v["collected"]["comment_url"].is_string(), "{v}");
    let asked: Vec<String> = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.split('?').next() == Some("/user"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(asked, Vec::<String>::new());
}

/// Issue 14 §3: two overlapping runs, X dispatched before Y, whose jobs run late: Y's status
/// job posts first, then X's status job (its clock now later than Y's start), then Y's final
/// job, then X's. Every stamp is the run's own `run_started_at` from GitHub, so X's comments
/// are refused — and say so, in `--json` — and the issue ends on Y's report.
#[test]
fn a_late_job_of_an_older_run_never_moves_the_comment_back() {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut env = Env::new(FakeConfig {
        identities: vec![fakegh::Identity::github_actions(ACTIONS_TOKEN)],
        // GitHub's clock is not the job's: the runs started two days before the jobs post.
        epoch: Some(wall - 2 * 86_400),
        ..FakeConfig::default()
    });
    env.run_clock();
    let x = env.dispatched();
    std::thread::sleep(Duration::from_millis(100));
    let y = env.dispatched();
    let (code, v) = env.status_job(&y, "alice");
    assert_eq!(code, 0, "{v}");
    assert!(v["comment_url"].is_string(), "{v}");
    let (code, v) = env.status_job(&x, "bob");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["comment_url"], Value::Null, "{v}");
    assert_eq!(
        v["comment_skipped"],
        format!("a newer run's comment is there: {y}").as_str(),
        "{v}"
    );
    env.json(env.outrun().args(["watch", &x]), 0);
    env.json(env.outrun().args(["watch", &y]), 0);
    let (code, v) = env.final_job(&y);
    assert_eq!(code, 0, "{v}");
    assert!(v["collected"]["comment_url"].is_string(), "{v}");
    let (code, v) = env.final_job(&x);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["collected"]["comment_url"], Value::Null, "{v}");
    assert_eq!(
        v["collected"]["comment_skipped"],
        format!("a newer run's comment is there: {y}").as_str(),
        "{v}"
    );
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].contains(&format!("\"run_id\":\"{y}\""))
            && comments[0].contains("\"finished\""),
        "the issue ends on Y's report: {}",
        comments[0]
    );
}

/// The issue's forgeries in a 6-cell matrix: cell 5's `cell.json` claims to be cell 1 and to
/// have finished in 2099 (with other values under cell 1's key), cell 6's names another
/// experiment, cell 2's claims it ran 2 h 21 min. Which cell a folder holds follows from where
/// it sits: cell 1 keeps its own rows, cells 5 and 6 are refused with the claim as the reason,
/// every selected cell is in the report, and the durations shown are the jobs'.
#[test]
fn a_cell_json_cannot_take_another_cells_place_vanish_or_forge_its_time() {
    const SIX: &str = r#"name: sweep
issue: 7
matrix:
  n: [1, 2, 3]
  mode: [a, b]
command: 'true'
timeout: 10m
results: {keys: [n, mode]}
"#;
    let mut env = Env::with_experiment(FakeConfig::default(), SIX);
    let cells = cells(&env.project);
    assert_eq!(cells.len(), 6);
    let (victim, victim_params) = &cells[0];
    let record = |experiment: &str, cell: &str, params: &Value, finished: &str, took: f64| {
        serde_json::json!({
            "schema": "outrun.cell/v1", "experiment": experiment, "cell": cell, "params": params,
            "status": "ok", "exit_code": 0, "error": null,
            "started_at": "2026-11-26T00:00:00Z", "finished_at": finished, "duration_s": took,
            "source": "github", "runner": "GitHub Actions 1", "commit": "forged",
            "run_id": "0", "attempt": 1,
        })
        .to_string()
    };
    let mut specs: Vec<CellSpec> = cells[..4]
        .iter()
        .map(|(id, p)| shard(id, p, Conclusion::Success))
        .collect();
    // Cell 2 says it ran 8484 s (2 h 21 min 24 s): its job did not.
    let (boast, boast_params) = &cells[1];
    let row = |p: &Value, value: u32| {
        format!(
            "n,mode,value\n{},{},{value}\n",
            p["n"].as_str().unwrap(),
            p["mode"].as_str().unwrap()
        )
    };
    let n = |p: &Value| p["n"].as_str().unwrap().parse::<u32>().unwrap();
    specs[1] = CellSpec::new(boast, Conclusion::Success).cell(
        boast,
        &[
            (
                "cell.json",
                record("sweep", boast, boast_params, "2099-01-01T02:21:24Z", 8484.0).as_bytes(),
            ),
            (
                "results.csv",
                row(boast_params, n(boast_params) * 10).as_bytes(),
            ),
        ],
    );
    // In its own folder, cell 5 claims to be cell 1, with rows under cell 1's key.
    let (thief, _) = &cells[4];
    let stolen = row(victim_params, 666);
    specs.push(CellSpec::new(thief, Conclusion::Success).cell(
        thief,
        &[
            (
                "cell.json",
                record("sweep", victim, victim_params, "2099-01-01T00:00:00Z", 60.0).as_bytes(),
            ),
            ("results.csv", stolen.as_bytes()),
        ],
    ));
    // Cell 6 names another experiment, to drop out of the report.
    let (ghost, ghost_params) = &cells[5];
    specs.push(CellSpec::new(ghost, Conclusion::Success).cell(
        ghost,
        &[
            (
                "cell.json",
                record("other", ghost, ghost_params, "2026-11-26T00:01:00Z", 60.0).as_bytes(),
            ),
            ("results.csv", row(ghost_params, 30).as_bytes()),
        ],
    ));
    // And an artifact named for a job the plan has not, holding cell 1's folder.
    specs.push(CellSpec::new("intruder", Conclusion::Success).cell(
        victim,
        &[
            (
                "cell.json",
                record("sweep", victim, victim_params, "2099-01-01T00:00:00Z", 60.0).as_bytes(),
            ),
            ("results.csv", stolen.as_bytes()),
        ],
    ));
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = specs;
    }
    env.run_clock();
    let run = env.finished_run();
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 1);
    let report = &c["report"];
    let s = &report["summary"];
    let count = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(count("cells"), 6, "{s}");
    assert_eq!((count("ok"), count("refused")), (4, 2), "{s}");
    assert_eq!(
        count("ok") + count("failed") + count("timed_out") + count("cancelled") + count("refused"),
        6,
        "{s}"
    );
    let cell = |id: &str| {
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("cell {id} missing from the report: {report}"))
            .clone()
    };
    assert_eq!(cell(thief)["status"], "refused");
    let why = cell(thief)["error"].as_str().unwrap().to_string();
    assert!(
        why.contains(&format!("cell.json claims cell `{victim}`")),
        "{why}"
    );
    assert_eq!(cell(ghost)["status"], "refused");
    let why = cell(ghost)["error"].as_str().unwrap().to_string();
    assert!(why.contains("cell.json claims experiment `other`"), "{why}");
    // Cell 1 keeps its own row; nothing of the thief's reaches the dataset.
    assert_eq!(cell(victim)["status"], "ok");
    let refused = c["collected"]["refused"].to_string();
    assert!(
        refused.contains("outrun-sweep-intruder-a1") && refused.contains("names job `intruder`"),
        "{refused}"
    );
    let data = env.dataset();
    // Field by field: a timestamp such as `…22.356668Z` holds "666" as a substring.
    let forged_field = |f: &str| f == "666" || f.starts_with("2099-");
    assert!(
        !data.lines().any(|l| l.split(',').any(forged_field)),
        "{data}"
    );
    let mut want: Vec<String> = cells[..4]
        .iter()
        .map(|(_, p)| (n(p) * 10).to_string())
        .collect();
    want.sort();
    assert_eq!(values(&data), want, "{data}");
    // The boaster's duration is its job's, not its claim.
    let took = cell(boast)["duration_s"].as_f64().unwrap();
    assert!(took < 3600.0, "the claimed duration is shown: {took}");
    assert_eq!(cell(boast)["duration_claimed"], false);
    let comment = env.comments().pop().unwrap();
    assert!(!comment.contains("2h 21m"), "{comment}");
    assert!(
        comment.contains("6 cells: 4 ok, 0 failed, 0 timed out, 0 cancelled, 2 refused"),
        "{comment}"
    );
    assert!(!comment.contains("all cells ok"), "{comment}");
}

/// More cells than GitHub's 256 jobs: the workflow packs two cells to a job (`shard-NNN`), and
/// the collect side unpacks them with the same packing. A cell missing from its job's artifact
/// is reported, not dropped; a folder claiming its job-mate's identity is refused; durations
/// of cells that shared a job are marked as the cells' own.
#[test]
fn cells_packed_several_to_a_job_are_identified_by_the_plans_packing() {
    let all: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let experiment = format!(
        "name: sweep\nissue: 7\nmatrix:\n  i: [{}]\ncommand: 'true'\ntimeout: 10m\nresults: {{keys: [i]}}\n",
        all.join(", ")
    );
    let mut env = Env::with_experiment(FakeConfig::default(), &experiment);
    let cells = cells(&env.project);
    let params: std::collections::BTreeMap<String, Value> = cells.iter().cloned().collect();
    let plan = outrun::experiment::load_named(env.project.root(), "sweep").unwrap();
    let shards = outrun::workflow::jobs(&plan, cells.iter().map(|(id, _)| id.as_str()));
    assert_eq!(shards.len(), 150);
    let files = |claimed: &str, at: &str| {
        let p = &params[claimed];
        let rec = serde_json::json!({
            "schema": "outrun.cell/v1", "experiment": "sweep", "cell": claimed, "params": p,
            "status": "ok", "exit_code": 0, "error": null,
            "started_at": "2026-11-26T00:00:00Z", "finished_at": "2026-11-26T00:01:00Z",
            "duration_s": 30.0, "source": "github", "runner": "r", "commit": "c",
            "run_id": "0", "attempt": 1,
        });
        let i = params[at]["i"].as_str().unwrap().to_string();
        (rec.to_string(), format!("i,value\n{i},{i}\n"))
    };
    let specs: Vec<CellSpec> = shards
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut spec = CellSpec::new(&s.name, Conclusion::Success);
            for (j, id) in s.cells.iter().enumerate() {
                let (rec, rows) = match (k, j) {
                    // Job 1 uploads only its first cell.
                    (1, 1) => continue,
                    // Job 2's second folder claims to be its first cell.
                    (2, 1) => files(&s.cells[0], &s.cells[0]),
                    _ => files(id, id),
                };
                spec = spec.cell(
                    id,
                    &[
                        ("cell.json", rec.as_bytes()),
                        ("results.csv", rows.as_bytes()),
                    ],
                );
            }
            spec
        })
        .collect();
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = specs;
    }
    env.run_clock();
    let run = env.finished_run();
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 1);
    let s = &c["report"]["summary"];
    assert_eq!(
        s,
        &serde_json::json!({"cells": 300, "ok": 298, "failed": 1, "timed_out": 0, "cancelled": 0, "refused": 1}),
    );
    let cell = |id: &str| {
        c["report"]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    let lost = cell(&shards[1].cells[1]);
    assert_eq!(lost["status"], "failed");
    assert!(
        lost["error"]
            .as_str()
            .unwrap()
            .contains("no output uploaded"),
        "{lost}"
    );
    let thief = cell(&shards[2].cells[1]);
    assert_eq!(thief["status"], "refused");
    assert!(
        thief["error"]
            .as_str()
            .unwrap()
            .contains(&format!("cell.json claims cell `{}`", shards[2].cells[0])),
        "{thief}"
    );
    // Issue 24 §2: the two cells of job 0 claim 30 s each; between them they are given no
    // more than the job's own time, and the refused cell shows its job's time.
    let job_s = |shard: &str| {
        let st = env.fake.state();
        let st = st.lock().unwrap();
        let r = st.run(run.parse().unwrap()).unwrap();
        let j = r.jobs.iter().find(|j| j.name == shard).unwrap();
        (j.completed_ms / 1000 - j.started_ms / 1000) as f64
    };
    let (ok, other) = (cell(&shards[0].cells[0]), cell(&shards[0].cells[1]));
    let took = job_s(&shards[0].name);
    assert!(took > 0.0 && took < 60.0, "{took}");
    let (a, b) = (
        ok["duration_s"].as_f64().unwrap(),
        other["duration_s"].as_f64().unwrap(),
    );
    assert!(
        a + b <= took + 1e-9 && (a - b).abs() < 1e-9,
        "{a} {b} of {took}"
    );
    assert!(a > 0.0, "{ok}");
    assert_eq!(ok["duration_claimed"], true, "{ok}");
    assert_eq!(
        thief["duration_s"].as_f64(),
        Some(job_s(&shards[2].name)),
        "{thief}"
    );
    assert_eq!(values(&env.dataset()).len(), 298);
    let comment = env.comments().pop().unwrap();
    assert!(
        comment.contains("of cell time in all, as the cells reported."),
        "{comment}"
    );
}

/// Which attempt an artifact belongs to comes from its name, bounded by GitHub's count of the
/// run's attempts; two artifacts under one job's name in one attempt are both refused (and
/// their cell with them), never chosen between.
#[test]
fn artifacts_of_an_attempt_the_run_never_had_or_twice_in_one_attempt_are_refused() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let cells = cells(&env.project);
    let run = env.finished_run();
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        let r = st
            .runs
            .iter_mut()
            .find(|r| r.id.to_string() == run)
            .unwrap();
        let named = |id: &str| format!("outrun-sweep-{id}-a1");
        let of = |id: &str| {
            r.artifacts
                .iter()
                .find(|a| a.name == named(id))
                .unwrap()
                .clone()
        };
        let (mut twin, mut future) = (of(&cells[0].0), of(&cells[1].0));
        twin.id += 500_000;
        twin.zip = None;
        future.id += 600_000;
        future.zip = None;
        future.name = format!("outrun-sweep-{}-a9", cells[1].0);
        r.artifacts.extend([twin, future]);
    }
    let c = env.json(env.outrun().args(["collect", &run]), 1);
    let s = &c["report"]["summary"];
    assert_eq!(
        (s["cells"].as_u64(), s["ok"].as_u64(), s["refused"].as_u64()),
        (Some(8), Some(7), Some(1)),
        "{s}"
    );
    let refused = c["collected"]["refused"].to_string();
    assert!(
        refused.contains(&format!(
            "2 artifacts named `outrun-sweep-{}-a1` in one attempt",
            cells[0].0
        )),
        "{refused}"
    );
    assert!(
        refused.contains("names attempt 9, but the run has had 1"),
        "{refused}"
    );
    let twin = c["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == cells[0].0.as_str())
        .unwrap()
        .clone();
    assert_eq!(twin["status"], "refused", "{twin}");
    assert_eq!(values(&env.dataset()).len(), 7);
}

/// Issue 24 §1: a landing is a function of the default branch and the set of waiting runs.
/// Four runs finish; the newest lands and its pull request is merged by hand, then the other
/// three land in the orders 1-2-3, 3-1-2 and 2-3-1 without a merge in between (two by their
/// final jobs, the last by `sync` from a fresh clone), and the default branch moves under
/// their pull request (an unrelated commit). At every step at most one landing pull request is
/// open, it carries every run not on the default branch, and it merges cleanly; after it is
/// merged the default branch holds every run's rows, once each.
#[test]
fn landings_never_fork_whatever_order_runs_land_in() {
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let mut env = landing_env();
        env.run_clock();
        let runs: Vec<String> = (0..4).map(|_| env.finished_run()).collect();
        let data = "data/evaluation/sweep.csv";
        let rows_of = |text: &str, run: &str| {
            text.lines()
                .filter(|l| l.contains(&format!(",{run},")))
                .count()
        };
        // Every open landing pull request merges cleanly, and the one open carries every run
        // that waits.
        let check = |env: &Env, step: &str, waiting: &[&String]| {
            let st = env.fake.state();
            let st = st.lock().unwrap();
            let open: Vec<_> = st
                .pulls_of(REPO)
                .into_iter()
                .filter(|p| p.state == "open")
                .map(|p| (p.number, p.head.clone()))
                .collect();
            assert_eq!(
                open.len(),
                usize::from(!waiting.is_empty()),
                "{order:?} {step}: {open:?}"
            );
            for (n, head) in &open {
                assert_eq!(
                    st.pull_mergeable(REPO, *n),
                    Ok(()),
                    "{order:?} {step}: #{n} ({head}) conflicts"
                );
                let on_pr = String::from_utf8(st.file_at(REPO, head, data).unwrap()).unwrap();
                for r in waiting {
                    assert_eq!(
                        rows_of(&on_pr, r),
                        8,
                        "{order:?} {step}: run {r} on {head}: {on_pr}"
                    );
                }
            }
        };
        let merge_open = |env: &Env| {
            let st = env.fake.state();
            let mut st = st.lock().unwrap();
            let n = st
                .pulls_of(REPO)
                .into_iter()
                .find(|p| p.state == "open")
                .map(|p| p.number)
                .expect("an open landing pull request");
            st.merge_pull(REPO, n).unwrap();
        };
        // The newest run lands first and is merged by hand.
        let (code, v) = env.final_job(&runs[3]);
        assert_eq!(code, 0, "{v}");
        check(&env, "newest landed", &[&runs[3]]);
        merge_open(&env);
        check(&env, "newest merged", &[]);

        let [a, b, c] = order.map(|i| &runs[i]);
        let (code, v) = env.final_job(a);
        assert_eq!(code, 0, "{v}");
        check(&env, "first landed", &[a]);
        let (code, v) = env.final_job(b);
        assert_eq!(code, 0, "{v}");
        check(&env, "second landed", &[a, b]);
        // Main moves under the pull request.
        env.fake.state().lock().unwrap().seed_files(
            REPO,
            "main",
            &[("NOTES.md", b"a hand edit\n")],
        );
        check(&env, "main moved", &[a, b]);
        // The third lands from a fresh clone's `sync`.
        let fresh = env.clone_project();
        let (code, out, err) = common::run(
            env.outrun_at(&env.fake.api_url(), &fresh)
                .args(["sync", "--json"]),
        );
        assert_eq!(code, 0, "{out}\n{err}");
        check(&env, "third landed by sync", &[a, b, c]);
        // Issue 24 §4: sync says where the rows wait once it has landed them: all three on
        // the pull request it just opened.
        let v: Value = serde_json::from_str(&out).unwrap();
        let held: Vec<(String, String)> = v["held"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["run_id"].to_string(),
                    h["branch"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut want: Vec<(String, String)> = [a, b, c]
            .iter()
            .map(|r| (r.to_string(), format!("outrun/sweep/{c}")))
            .collect();
        want.sort();
        assert_eq!(held, want, "{v}");
        assert!(
            v["held"]
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["pull_url"].is_string()),
            "{v}"
        );

        // Merged by hand: main holds every run's rows, once each, and nothing is left open.
        merge_open(&env);
        check(&env, "all merged", &[]);
        let on_main = env.file_on("main", data);
        for r in &runs {
            assert_eq!(rows_of(&on_main, r), 8, "{order:?}: run {r}: {on_main}");
        }
        assert_eq!(on_main.lines().count(), 1 + 4 * 8, "{order:?}: {on_main}");
        let ledger = env.file_on("main", "data/evaluation/sweep.runs.csv");
        for r in &runs {
            assert!(ledger.contains(&format!("\n{r},")), "{order:?}: {ledger}");
        }
    }
}

/// Issue 24 §3: a cell the trust rules set aside (its job uploaded a `cell.json` claiming
/// another cell) makes the final job fail with one line saying which and why — after the
/// honest cells have landed and the report is posted. A clean run's final job succeeds.
#[test]
fn a_refused_cell_fails_the_final_job_after_the_rest_has_landed() {
    let mut env = landing_env();
    let cells = cells(&env.project);
    let (victim, victim_params) = cells[0].clone();
    let (thief, _) = cells[4].clone();
    let mut specs: Vec<CellSpec> = cells
        .iter()
        .map(|(id, p)| shard(id, p, Conclusion::Success))
        .collect();
    // In its own job, the thief's cell.json claims to be the victim.
    specs[4] = CellSpec::new(&thief, Conclusion::Success).cell(
        &thief,
        &[
            (
                "cell.json",
                serde_json::json!({
                    "schema": "outrun.cell/v1", "experiment": "sweep", "cell": victim,
                    "params": victim_params, "status": "ok", "exit_code": 0, "error": null,
                    "started_at": "2026-11-26T00:00:00Z", "finished_at": "2026-11-26T00:01:00Z",
                    "duration_s": 60.0, "source": "github", "runner": "r", "commit": "c",
                    "run_id": "0", "attempt": 1,
                })
                .to_string()
                .as_bytes(),
            ),
            ("results.csv", b"n,mode,value\n1,a,666\n"),
        ],
    );
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = specs;
    }
    env.run_clock();
    let run = env.finished_run();
    let fresh = env.clone_project();
    let (code, out, err) = common::run(
        fresh
            .cmd()
            .env("GH_TOKEN", ACTIONS_TOKEN)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_RUN_ID", &run)
            .env("OUTRUN_POLL_SCALE", "0.005")
            .args(["-R", REPO, "--api-url", &env.fake.api_url()])
            .args(["collect", &run, "--land", "--comment"]),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("set aside by the trust rules"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("cell {thief}")) && lines[0].contains(&victim),
        "{}",
        lines[0]
    );
    // The rest landed (7 honest cells on the pull request's branch) and the report is posted.
    let landed = env.file_on(&format!("outrun/sweep/{run}"), "data/evaluation/sweep.csv");
    assert_eq!(landed.lines().count(), 1 + 7, "{landed}");
    assert!(!landed.contains(",666,"), "{landed}");
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("refused"), "{}", comments[0]);

    // A run with nothing set aside: the final job succeeds.
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        st.workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap()
            .shards = cells
            .iter()
            .map(|(id, p)| shard(id, p, Conclusion::Success))
            .collect();
    }
    let run = env.finished_run();
    let (code, v) = env.final_job(&run);
    assert_eq!(code, 0, "{v}");
}

/// Issue 24 §5: once a run's final job has landed it, `collect` reads the landed ledger and
/// dataset (a few requests, no artifact) and merges the run's rows here; a run nothing landed
/// for is collected from its artifacts as before.
#[test]
fn collect_reads_what_the_final_job_landed() {
    let mut env = landing_env();
    env.run_clock();
    let run = env.finished_run();
    let (code, v) = env.final_job(&run);
    assert_eq!(code, 0, "{v}");
    let before = env.fake.requests().len();
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    let log = env.fake.requests();
    let client: Vec<_> = log[before..].iter().collect();
    assert!(
        client
            .iter()
            .all(|r| !r.path.contains("/artifacts") && !r.path.contains("/jobs")),
        "{:?}",
        client.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let counted = client.iter().filter(|r| r.counted).count();
    assert!(counted <= 8, "{counted} counted requests");
    assert_eq!(c["collected"]["artifacts"], 0, "{c}");
    assert_eq!(c["collected"]["merge"]["rows_added"], 8, "{c}");
    assert_eq!(c["report"]["summary"]["ok"], 8, "{c}");
    let data = env.dataset();
    assert_eq!(data.lines().count(), 1 + 8, "{data}");
    assert_eq!(
        data.lines()
            .filter(|l| l.contains(&format!(",{run},")))
            .count(),
        8
    );
    assert!(
        env.project
            .read("data/evaluation/sweep.runs.csv")
            .contains(&format!("\n{run},"))
    );
    // The final job's comment stays as it posted it: one comment.
    assert_eq!(env.comments().len(), 1);
    // Again: nothing changes.
    let c = env.json(env.outrun().args(["collect", &run]), 0);
    assert_eq!(c["collected"]["merge"]["rows_added"], 0, "{c}");
    assert_eq!(env.dataset(), data);

    // A run whose final job never ran: its artifacts, as before.
    let run2 = env.finished_run();
    let c = env.json(env.outrun().args(["collect", &run2]), 0);
    assert_eq!(c["collected"]["artifacts"], 8, "{c}");
    assert_eq!(env.dataset().lines().count(), 1 + 16);
}

/// Issue 24 §1, the default branch moving during a landing: while run 2's final job is
/// landing (after it has read the default branch and the waiting runs), run 1's pull request
/// is merged by hand. The landing sees the default branch moved and lands again on its new
/// tip, so run 2's pull request does not conflict, and merging it leaves both runs' rows.
#[test]
fn a_hand_merge_during_a_landing_leaves_no_conflict() {
    let mut env = landing_env();
    env.run_clock();
    let r1 = env.finished_run();
    let (code, v) = env.final_job(&r1);
    assert_eq!(code, 0, "{v}");
    let r2 = env.finished_run();
    let mark = env.fake.requests().len();
    // Slow the landing down once it has read what waits (its first blob), and merge run 1's
    // pull request by hand in that window.
    env.fake.inject(Fault::Slow {
        on: Match::post("/repos/octo/lab/git/blobs").times(1),
        delay: Duration::from_millis(1500),
    });
    let fake_state = env.fake.state();
    let requests = {
        let f = &env.fake;
        move || f.requests()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..600 {
                if requests()[mark..]
                    .iter()
                    .any(|r| r.path.contains("/git/matching-refs/heads/outrun/sweep"))
                {
                    let mut st = fake_state.lock().unwrap();
                    let n = st
                        .pulls_of(REPO)
                        .into_iter()
                        .find(|p| p.state == "open")
                        .map(|p| p.number)
                        .unwrap();
                    st.merge_pull(REPO, n).unwrap();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("the landing never listed the waiting runs");
        });
        let (code, v) = env.final_job(&r2);
        assert_eq!(code, 0, "{v}");
    });
    let st = env.fake.state();
    let mut st = st.lock().unwrap();
    let open: Vec<u64> = st
        .pulls_of(REPO)
        .into_iter()
        .filter(|p| p.state == "open")
        .map(|p| p.number)
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(st.pull_mergeable(REPO, open[0]), Ok(()));
    st.merge_pull(REPO, open[0]).unwrap();
    let on_main = String::from_utf8(
        st.file_at(REPO, "main", "data/evaluation/sweep.csv")
            .unwrap(),
    )
    .unwrap();
    for r in [&r1, &r2] {
        assert_eq!(
            on_main
                .lines()
                .filter(|l| l.contains(&format!(",{r},")))
                .count(),
            8,
            "run {r}: {on_main}"
        );
    }
}
