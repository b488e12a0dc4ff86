//! The GitHub backend end to end against the stateful fake (`tests/fakegh`), with faults, and
//! through Prism validating every exchange against GitHub's published API description.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fakegh::{CellSpec, Conclusion, FakeConfig, FakeGithub, Fault, Hostile, Match};
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
fn cells(p: &Project) -> Vec<(String, Value)> {
    let (code, out, err) = common::run(p.cmd().args(["plan", "sweep", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["cells"].as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().to_string(), c["params"].clone())).collect()
}

fn shard(id: &str, params: &Value, conclusion: Conclusion) -> CellSpec {
    let rec = serde_json::json!({
        "schema": "outrun.cell/v1", "experiment": "sweep", "cell": id, "params": params,
        "status": if conclusion == Conclusion::Success { "ok" } else { "failed" },
        "exit_code": if conclusion == Conclusion::Success { 0 } else { 1 },
        "error": null, "started_at": "2026-11-26T00:00:00Z", "finished_at": "2026-11-26T00:01:00Z",
        "duration_s": 60.0, "source": "github", "runner": "GitHub Actions 1", "commit": "abc",
        "run_id": "0", "attempt": 1,
    });
    let results = format!("n,mode,value\n{},{},{}\n", params["n"].as_str().unwrap(), params["mode"].as_str().unwrap(), params["n"].as_str().unwrap().parse::<u32>().unwrap() * 10);
    CellSpec::new(id, conclusion).cell(id, &[("cell.json", rec.to_string().as_bytes()), ("results.csv", results.as_bytes()), ("stdout.log", b"hello\n")])
}

impl Env {
    pub fn new(cfg: FakeConfig) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let fake = rt.block_on(FakeGithub::start(FakeConfig { token: TOKEN.into(), ..cfg }));
        let project = Project::new();
        project.experiment("sweep", EXPERIMENT);
        let (code, _, err) = common::run(project.cmd().args(["generate"]));
        assert_eq!(code, 0, "{err}");
        let env = Env { _rt: rt, fake, project, stop: Arc::new(AtomicBool::new(false)), ticker: None };
        let specs: Vec<CellSpec> = cells(&env.project).iter().map(|(id, p)| shard(id, p, Conclusion::Success)).collect();
        env.fake.state().lock().unwrap().add_workflow("outrun-sweep.yml", specs);
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
        c.env("GH_TOKEN", TOKEN).env("OUTRUN_POLL_SCALE", "0.005").args(["-R", REPO, "--api-url", api]);
        c
    }

    pub fn outrun(&self) -> Command {
        self.outrun_at(&self.fake.api_url(), &self.project)
    }

    pub fn json(&self, cmd: &mut Command, want: i32) -> Value {
        let (code, out, err) = common::run(cmd.arg("--json"));
        assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "the token was printed");
        assert_eq!(code, want, "stdout: {out}\nstderr: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    pub fn comments(&self) -> Vec<String> {
        self.fake.state().lock().unwrap().comments_on(REPO, 7).iter().map(|c| c.body.clone()).collect()
    }

    pub fn dataset(&self) -> String {
        self.project.read("data/evaluation/sweep.csv")
    }
}

#[test]
fn dispatch_watch_collect_and_one_comment() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap();
    assert!(d["record"]["html_url"].as_str().unwrap().contains(&run.to_string()));
    // The record of the dispatch is on disk for a later session on this machine.
    let id = d["record"]["outrun_id"].as_str().unwrap();
    assert!(env.project.root().join(format!(".outrun/dispatches/{id}.json")).is_file());

    let w = env.json(env.outrun().args(["watch", &run.to_string()]), 0);
    assert_eq!(w["run"]["conclusion"], "success");
    let c = env.json(env.outrun().args(["collect", &run.to_string(), "--comment"]), 0);
    assert_eq!(c["report"]["summary"]["ok"], 8);
    assert_eq!(c["collected"]["merge"]["rows_added"], 8);
    let data = env.dataset();
    assert_eq!(data.lines().count(), 9, "{data}");
    assert!(data.lines().skip(1).all(|l| l.contains(&format!(",github,{run},1,"))), "{data}");
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].starts_with("<!-- outrun:report:sweep -->") && comments[0].contains("8 cells: 8 ok"), "{}", comments[0]);

    // Again: the same rows, the same single comment.
    let c = env.json(env.outrun().args(["collect", &run.to_string(), "--comment"]), 0);
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
    env.fake.state().lock().unwrap().seed_comment(REPO, 7, "mallory", decoy);
    let v = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main", "--wait", "--comment"]), 0);
    assert_eq!(v["report"]["summary"]["ok"], 8);
    let run = v["collected"]["run_id"].as_u64().unwrap();
    let comments = env.comments();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0], decoy);
    assert!(comments[1].contains("8 cells: 8 ok"));
    let s = env.json(env.outrun().args(["status", &run.to_string()]), 0);
    assert_eq!(s["jobs"].as_array().unwrap().len(), 9, "plan + 8 cells: {s}");
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
    let mut env = Env::new(FakeConfig { enterprise_mode: true, api_prefix: "/api/v3".into(), list_lag: Duration::from_secs(5), ..FakeConfig::default() });
    env.run_clock();
    assert!(env.fake.api_url().ends_with("/api/v3"));
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    {
        let st = env.fake.state();
        let st = st.lock().unwrap();
        assert_eq!(st.runs.len(), 1, "exactly one run was created");
        // The refused request, then one without the field, and nothing more.
        let dispatches = st.requests.iter().filter(|r| r.method == "POST" && r.path.ends_with("/dispatches")).count();
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
    env.fake.inject(Fault::LostResponse { on: Match::post("/repos/octo/lab/actions/workflows/outrun-sweep.yml/dispatches"), replace_with: Some(502) });
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap();
    let st = env.fake.state();
    let st = st.lock().unwrap();
    assert_eq!(st.runs.len(), 1);
    assert_eq!(st.runs[0].id, run);
    assert_eq!(st.requests.iter().filter(|r| r.method == "POST" && r.path.ends_with("/dispatches")).count(), 1);
}

#[test]
fn transient_faults_and_rate_limits_are_ridden_out() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    let runs = "/repos/octo/lab/actions/runs/";
    env.fake.inject(Fault::status(Match::get(runs).times(2), 500));
    env.fake.inject(Fault::status(Match::get(runs).times(1), 502));
    env.fake.inject(Fault::forbidden_rate_limit(Match::get(runs).times(1), 3));
    env.fake.inject(Fault::too_many_requests(Match::get(runs).times(1), 2));
    env.fake.inject(Fault::disconnect(Match::get(runs).times(1)));
    env.fake.inject(Fault::Disconnect { on: Match::get("/repos/octo/lab/actions/artifacts/").times(1), reset: true });
    env.fake.inject(Fault::slow(Match::get("/repos/octo/lab/issues/").times(1), Duration::from_millis(300)));
    let w = env.json(env.outrun().args(["watch", &run]), 0);
    assert!(w["requests"]["retries"].as_u64().unwrap() >= 5, "{w}");
    let c = env.json(env.outrun().args(["collect", &run, "--comment"]), 0);
    assert_eq!(c["report"]["summary"]["ok"], 8);
    assert_eq!(env.comments().len(), 1);
}

#[test]
fn cancelled_and_timed_out_runs_report_their_cells_and_merge_the_rest() {
    for (fault, code, word) in [(Fault::cancel_next_run(), 2, "cancelled"), (Fault::time_out_next_run(), 1, "timed out")] {
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
        let (_, md, _) = common::run(env.outrun().args(["report", "sweep", "--run", &format!(".outrun/github/{run}/artifacts")]));
        assert!(md.contains(word) && (md.contains("no output uploaded") || md.contains("not run: the run ended")), "{md}");
    }
}

#[test]
fn an_expired_artifact_is_reported() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let first = cells(&env.project)[0].0.clone();
    env.fake.inject(Fault::ArtifactGone { shard: first.clone() });
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun().args(["watch", &run]), 0);
    let c = env.json(env.outrun().args(["collect", &run]), 1);
    assert_eq!(c["collected"]["expired"][0], format!("outrun-sweep-{first}-a1"));
    assert_eq!(env.dataset().lines().count(), 1 + 7);
}

#[test]
fn hostile_artifacts_are_refused_and_write_nothing_outside() {
    for entry in [Hostile::ParentDir, Hostile::Absolute, Hostile::Symlink, Hostile::Bomb] {
        let mut env = Env::new(FakeConfig::default());
        env.run_clock();
        let first = cells(&env.project)[0].0.clone();
        env.fake.inject(Fault::HostileZip { shard: first, entry });
        let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
        let run = d["record"]["run_id"].as_u64().unwrap().to_string();
        env.json(env.outrun().args(["watch", &run]), 0);
        let (code, out, err) = common::run(env.outrun().args(["collect", &run]));
        assert_eq!(code, 1, "{entry:?} was accepted: {out}{err}");
        assert!(err.contains("artifact") || err.contains("zip"), "{entry:?}: {err}");
        let root = env.project.root();
        assert!(!root.join(".outrun/github/evil").exists() && !root.join(".outrun/evil").exists() && !root.join("evil").exists());
        assert!(!std::path::Path::new("/abs/evil").exists());
        assert!(!root.join("data/evaluation/sweep.csv").exists(), "{entry:?}: rows were merged from a refused run");
    }
}

#[test]
fn a_new_session_without_records_resumes_with_sync() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    // Session 1 dispatches and waits, and is killed (-9) while it waits.
    let mut waiting = env.outrun().args(["dispatch", "sweep", "--ref", "main", "--wait", "--comment"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let records = env.project.root().join(".outrun/dispatches");
    let mut run = None;
    for _ in 0..200 {
        run = std::fs::read_dir(&records).into_iter().flatten().flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).filter_map(|t| serde_json::from_str::<Value>(&t).ok()).find_map(|v| v["run_id"].as_u64());
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
    for rel in ["experiments/sweep.yaml", ".github/workflows/outrun-sweep.yml"] {
        fresh.write(rel, &env.project.read(rel));
    }
    // Until the run finishes, sync says so (exit 3) and collects nothing.
    let mut waited = 0;
    loop {
        let (code, out, _) = common::run(env.outrun_at(&env.fake.api_url(), &fresh).args(["sync", "--json"]));
        let v: Value = serde_json::from_str(&out).unwrap();
        if code == 0 {
            assert_eq!(v["runs"][0]["state"], "collected", "{v}");
            assert_eq!(v["runs"][0]["run_id"], run);
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
    let third = Project::new();
    for rel in ["experiments/sweep.yaml", ".github/workflows/outrun-sweep.yml"] {
        third.write(rel, &env.project.read(rel));
    }
    let a = env.outrun_at(&env.fake.api_url(), &third).arg("sync").spawn().unwrap();
    let b = env.outrun_at(&env.fake.api_url(), &third).arg("sync").spawn().unwrap();
    for mut c in [a, b] {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(third.read("data/evaluation/sweep.csv").lines().count(), 9);
    assert_eq!(env.comments().len(), 1);
}

#[test]
fn authentication_problems_exit_4_and_never_print_the_token() {
    let env = Env::new(FakeConfig::default());
    let (code, out, err) = common::run(env.outrun().env("GH_TOKEN", "ghp_wrongTokenValue42").args(["status", "sweep"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("Bad credentials") && !err.contains("ghp_wrongTokenValue42"), "{err}");
    let (code, _, err) = common::run(env.outrun().env_remove("GH_TOKEN").env("HOME", env.project.root()).env("PATH", "/usr/bin:/bin").args(["status", "sweep", "--json"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("GH_TOKEN"), "{err}");
}

#[test]
fn every_exchange_conforms_to_githubs_description() {
    let mut env = Env::new(FakeConfig::default());
    env.run_clock();
    let Some(proxy) = crate::prism::PrismProxy::start(&env.fake.api_url()) else { return };
    let via = proxy.url();
    let d = env.json(env.outrun_at(&via, &env.project).args(["dispatch", "sweep", "--ref", "main"]), 0);
    let run = d["record"]["run_id"].as_u64().unwrap().to_string();
    env.json(env.outrun_at(&via, &env.project).args(["watch", &run]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["status", &run]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["status"]), 0);
    // Prism follows the artifact's 302 itself and forwards the token to storage, which refuses
    // it; so the zips are fetched straight from the fake, and everything else goes through Prism.
    env.json(env.outrun().args(["collect", &run]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["collect", &run, "--comment"]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["collect", &run, "--comment"]), 0);
    env.json(env.outrun_at(&via, &env.project).args(["sync"]), 0);
    assert_eq!(env.comments().len(), 1);
    let v = proxy.violations();
    assert!(v.is_empty(), "requests or responses that break GitHub's description:\n{}", v.join("\n"));
}
