//! How generated workflows get outrun: the checksum-pinned release binary (served by the fake
//! GitHub, executed under act), a build of a fresh clone of outrun itself with no crate registry
//! reachable, and the agreement between release.yml and the generator on asset names.

use std::path::Path;
use std::process::Command;

use outrun::workflow::install;

use crate::act_support::{
    LoopFake, git_commit_all, run_act_limited, run_act_with, stand_in_actions,
};
use crate::common::{self, Project, repo_root};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One cell that writes one row, reporting on issue 7, installed the default way.
const ONE_CELL: &str = r#"name: inst
issue: 7
matrix:
  x: [good]
command: 'printf "x,v\n%s,42\n" "$OUTRUN_P_X" > "$OUTRUN_OUT/results.csv"'
timeout: 1m
results: {keys: [x]}
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The release asset as release.yml packs it: a gzipped tar holding `outrun` (this build).
fn release_tarball(scratch: &Path) -> Vec<u8> {
    let dir = &scratch.join("release-asset");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_outrun"), dir.join("outrun")).unwrap();
    let out = Command::new("tar")
        .args(["-czf", "asset.tar.gz", "outrun"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read(dir.join("asset.tar.gz")).unwrap()
}

fn cell_ids(root: &Path, name: &str) -> Vec<String> {
    let (code, out, err) = common::run(common::outrun(root).args(["plan", name, "--json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Generates `inst` in `p` with checksums `sums` and the release served by a fake GitHub that
/// holds `asset`, then runs the workflow under act. Returns (act ok, log, the fake).
fn release_install_under_act(
    sums: impl Fn(&str) -> String,
    asset: &[u8],
) -> (bool, String, LoopFake) {
    let p = Project::new();
    p.experiment("inst", ONE_CELL);
    let ids = cell_ids(p.root(), "inst");
    let jobs: Vec<(&str, fakegh::Conclusion)> = ids
        .iter()
        .map(|id| (id.as_str(), fakegh::Conclusion::Success))
        .collect();
    let lf = LoopFake::start("inst", &jobs);
    let run = lf.run(1);
    let name = install::asset_name(VERSION, install::RUNNER_TARGET);
    lf.fake.state().lock().unwrap().add_release_asset(
        "outrun-dev/outrun",
        &format!("v{VERSION}"),
        &name,
        asset.to_vec(),
    );
    p.write(install::CHECKSUMS_FILE, &sums(&name));
    let base = format!(
        "{}/outrun-dev/outrun/releases/download",
        lf.fake.storage_url()
    );
    let (code, _, err) = common::run(
        p.cmd()
            .env(install::RELEASE_URL_ENV, &base)
            .args(["generate", "inst"]),
    );
    assert_eq!(code, 0, "{err}");
    let yaml = p.read(".github/workflows/outrun-inst.yml");
    assert!(
        yaml.contains("# outrun: the release binary")
            && yaml.contains("OUTRUN_INSTALL: \"release\""),
        "{yaml}"
    );
    git_commit_all(p.root());
    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let started = std::time::SystemTime::now();
    let (ok, log) = run_act_with(
        p.root(),
        &p.root().join(".github/workflows/outrun-inst.yml"),
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &lf.act_args(run),
    );
    timings("release", &log, started, &artifacts, &lf);
    (ok, log, lf)
}

/// The figures BENCHMARKS.md reports, from one act run: each install step's duration (act's
/// own `[…]`), dispatch (act started) → "run started" comment, and last cell upload → report
/// comment (the fake's answer times, the upload stand-in's clock).
fn timings(
    label: &str,
    log: &str,
    started: std::time::SystemTime,
    artifacts: &Path,
    fake: &LoopFake,
) {
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    for l in log.lines().filter(|l| {
        l.contains("Success - Main Install outrun") || l.contains("Success - Main Build outrun")
    }) {
        eprintln!("[timing {label}] {}", l.trim());
    }
    let comments: Vec<(String, f64)> = fake
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/issues/") && matches!(r.method.as_str(), "POST" | "PATCH"))
        .map(|r| (r.method.clone(), secs(r.at)))
        .collect();
    let times = std::fs::read_to_string(artifacts.with_extension("times")).unwrap_or_default();
    let last_upload = times
        .lines()
        .filter(|l| l.contains(" upload "))
        .filter_map(|l| l.split(' ').next()?.parse::<f64>().ok())
        .fold(f64::NAN, f64::max);
    if let Some((_, t)) = comments.iter().find(|(m, _)| m == "POST") {
        eprintln!(
            "[timing {label}] dispatch -> run started comment: {:.1} s",
            t - secs(started)
        );
    }
    if let Some((_, t)) = comments.iter().rev().find(|(m, _)| m == "PATCH") {
        eprintln!(
            "[timing {label}] last cell upload -> report comment: {:.1} s",
            t - last_upload
        );
    }
}

/// Path 1: the release binary, downloaded from the (fake) release and checked against the
/// SHA-256 pinned in the workflow, runs the status and final jobs to the end.
#[test]
fn act_installs_the_pinned_release_binary() {
    if !common::require_tool("act") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let asset = release_tarball(scratch.path());
    let sha = sha256_hex(&asset);
    let (ok, log, lf) = release_install_under_act(|name| format!("{sha}  {name}\n"), &asset);
    assert!(ok, "act failed:\n{log}");
    assert!(
        log.contains("Success - Main Install outrun") && log.contains(&format!("outrun {VERSION}")),
        "{log}"
    );
    assert!(
        common::job_ended(&log, "collect and land", "Job succeeded"),
        "{log}"
    );
    let downloads = lf
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/releases/download/"))
        .count();
    assert_eq!(
        downloads, 2,
        "the status and the final job download it once each"
    );
    let st = lf.fake.state();
    let bodies: Vec<String> = st
        .lock()
        .unwrap()
        .comments_on(LoopFake::REPO, 7)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert!(bodies[0].contains("1 cell"), "{}", bodies[0]);
}

/// A download whose SHA-256 is not the pinned one fails the job before anything runs: no
/// comment, no landing, the binary never unpacked.
#[test]
fn act_refuses_a_release_binary_with_another_checksum() {
    if !common::require_tool("act") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let asset = release_tarball(scratch.path());
    let wrong = sha256_hex(b"some other build");
    let (ok, log, lf) = release_install_under_act(|name| format!("{wrong}  {name}\n"), &asset);
    assert!(!ok, "act passed with a wrong checksum:\n{log}");
    assert!(
        log.contains(&format!("expected {wrong}; not installed")),
        "the step says why:\n{log}"
    );
    assert!(log.contains("Failure - Main Install outrun"), "{log}");
    assert!(
        !log.contains("Success - Main Post the \"run started\""),
        "{log}"
    );
    assert!(!log.contains("Main Merge, report and land"), "{log}");
    let st = lf.fake.state();
    let st = st.lock().unwrap();
    assert!(st.comments_on(LoopFake::REPO, 7).is_empty());
    assert!(st.pulls_of(LoopFake::REPO).is_empty());
}

/// Path 2: a fresh clone of outrun's own repository generates workflows that build outrun from
/// the checkout; under act, with no crate registry reachable (`CARGO_NET_OFFLINE`, the machine's
/// cargo cache) and the suite's target dir, the install and the whole run complete.
#[test]
fn act_builds_outrun_from_a_fresh_clone_offline() {
    if !common::require_tool("act") || !common::have("cargo") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let clone = fresh_clone(scratch.path());
    std::fs::write(clone.join("experiments/inst.yaml"), ONE_CELL).unwrap();
    let (code, _, err) = common::run(common::outrun(&clone).args(["generate", "inst"]));
    assert_eq!(code, 0, "{err}");
    let yaml = std::fs::read_to_string(clone.join(".github/workflows/outrun-inst.yml")).unwrap();
    assert!(
        yaml.contains("# outrun: built from this checkout")
            && yaml.contains("hashFiles('Cargo.lock'"),
        "{yaml}"
    );
    let ids = cell_ids(&clone, "inst");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&clone)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the example"]);

    let jobs: Vec<(&str, fakegh::Conclusion)> = ids
        .iter()
        .map(|id| (id.as_str(), fakegh::Conclusion::Success))
        .collect();
    let lf = LoopFake::start("inst", &jobs);
    let run = lf.run(1);
    // `cargo install` builds the release profile; this shim asks for the dev profile the suite
    // has built (and records the command the workflow ran).
    let shim = scratch.path().join("shim");
    std::fs::create_dir(&shim).unwrap();
    let real_cargo = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v cargo"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let calls = scratch.path().join("cargo-calls");
    std::fs::write(
        shim.join("cargo"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nif [ \"$1\" = install ]; then exec '{}' \"$@\" --debug; fi\nexec '{}' \"$@\"\n",
            calls.display(),
            real_cargo.trim(),
            real_cargo.trim()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(shim.join("cargo"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let target = Path::new(env!("CARGO_BIN_EXE_outrun"))
        .parent()
        .and_then(Path::parent)
        .unwrap();
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    let mut extra = lf.act_args(run);
    for (k, v) in [
        (
            "PATH",
            format!("{}:{}", shim.display(), std::env::var("PATH").unwrap()),
        ),
        ("CARGO_NET_OFFLINE", "true".into()),
        ("CARGO_HOME", cargo_home),
        ("CARGO_TARGET_DIR", target.display().to_string()),
        // Why cargo rebuilds what it rebuilds, in the log when this test is slow.
        (
            "CARGO_LOG",
            "cargo::core::compiler::fingerprint=info".into(),
        ),
    ] {
        extra.extend(["--env".to_string(), format!("{k}={v}")]);
    }
    if let Ok(r) = std::env::var("RUSTUP_HOME") {
        extra.extend(["--env".to_string(), format!("RUSTUP_HOME={r}")]);
    }
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let started = std::time::Instant::now();
    let wall = std::time::SystemTime::now();
    // act copies the checkout for each job, so outrun itself is compiled in each (its files are
    // new to cargo); its dependencies come from the suite's target dir once they are there as
    // `cargo install` builds them (the first time, minutes on a small machine).
    let (ok, log) = run_act_limited(
        &clone,
        &clone.join(".github/workflows/outrun-inst.yml"),
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &extra,
        900,
    );
    assert!(ok, "act failed:\n{log}");
    eprintln!("act with two source installs: {:?}", started.elapsed());
    timings("source", &log, wall, &artifacts, &lf);
    assert!(
        log.contains("Success - Main Build outrun from this checkout"),
        "{log}"
    );
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        calls
            .lines()
            .filter(|l| l.starts_with("install --locked --path . --root"))
            .count(),
        2,
        "{calls}"
    );
    let st = lf.fake.state();
    let bodies: Vec<String> = st
        .lock()
        .unwrap()
        .comments_on(LoopFake::REPO, 7)
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert!(bodies[0].contains("1 cell"), "{}", bodies[0]);
}

/// A fresh clone of this repository's committed state.
fn fresh_clone(scratch: &Path) -> std::path::PathBuf {
    let clone = scratch.join("outrun");
    let out = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(repo_root())
        .arg(&clone)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    clone
}

/// `uses: ./` (the composite action at the root) in a workflow of a clone of outrun: it
/// downloads the release binary the clone's checksums file pins (from the fake GitHub), puts
/// it on the PATH and runs the `run` input's command.
#[test]
fn act_runs_the_uses_action_with_the_pinned_release_binary() {
    if !common::require_tool("act") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let clone = fresh_clone(scratch.path());
    let asset = release_tarball(scratch.path());
    let name = install::asset_name(VERSION, install::RUNNER_TARGET);
    std::fs::write(
        clone.join(install::CHECKSUMS_FILE),
        format!("{}  {name}\n", sha256_hex(&asset)),
    )
    .unwrap();
    std::fs::write(
        clone.join(".github/workflows/try-action.yml"),
        format!(
            "name: try\non: workflow_dispatch\npermissions: {{}}\njobs:\n  try:\n    runs-on: ubuntu-latest\n    permissions: {{}}\n    steps:\n      - uses: {}\n        with:\n          persist-credentials: false\n      - id: outrun\n        uses: ./\n        with:\n          run: list --json\n      - env:\n          METHOD: ${{{{ steps.outrun.outputs.method }}}}\n        run: echo \"installed by $METHOD\" && outrun --version\n",
            crate::act_support::pinned(outrun::workflow::CHECKOUT)
        ),
    )
    .unwrap();
    git_commit_all(&clone);
    let lf = LoopFake::start("none", &[]);
    lf.fake.state().lock().unwrap().add_release_asset(
        "outrun-dev/outrun",
        &format!("v{VERSION}"),
        &name,
        asset,
    );
    let extra = vec![
        "--env".to_string(),
        format!(
            "{}={}/outrun-dev/outrun/releases/download",
            install::RELEASE_URL_ENV,
            lf.fake.storage_url()
        ),
    ];
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let (ok, log) = run_act_with(
        &clone,
        &clone.join(".github/workflows/try-action.yml"),
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &extra,
    );
    assert!(ok, "act failed:\n{log}");
    assert!(
        log.contains("\"schema\": \"outrun.list/v1\""),
        "the run input ran:\n{log}"
    );
    assert!(log.contains("installed by release"), "{log}");
    let downloads = lf
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/releases/download/"))
        .count();
    assert_eq!(downloads, 1);
}

/// release.yml packs and publishes exactly the names the generator downloads and pins.
#[test]
fn release_workflow_publishes_the_assets_the_generator_pins() {
    let release =
        std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    // The packing step, with TAG = vVERSION and each TARGET, gives asset_name().
    let packed = "name=\"outrun-$TAG-$TARGET.tar.gz\"";
    assert!(
        release.contains(packed),
        "release.yml no longer packs {packed}"
    );
    for (target, _, _) in install::RELEASE_TARGETS {
        assert!(release.contains(&format!("target: {target}")), "{target}");
        assert_eq!(
            format!("outrun-v{VERSION}-{target}.tar.gz"),
            install::asset_name(VERSION, target)
        );
    }
    let sums = "\"outrun-$TAG-checksums.txt\"";
    assert!(
        release.contains(sums),
        "release.yml no longer publishes {sums}"
    );
    assert_eq!(
        format!("outrun-v{VERSION}-checksums.txt"),
        install::checksums_asset(VERSION)
    );
}
