//! Running generated workflows with `act` on the host, offline, against the fake GitHub: the
//! stand-ins for the remote actions act would fetch from github.com, and a fake that knows the
//! runs act plays. Shared by the integration tests (`workflow.rs`) and the final-job benchmark
//! (`benches/final_job.rs`, which includes this file by path).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The pinned `owner/name@sha` of one of outrun's action constants (without its `# vX` comment).
pub fn pinned(action: &str) -> &str {
    action.split('#').next().unwrap().trim()
}

/// `git init` + commit everything in `dir` (act reads the commit, and wants actions as repositories).
pub fn git_commit_all(dir: &Path) {
    let steps: [&[&str]; 3] = [
        &["init", "-q"],
        &["add", "-A"],
        &["commit", "-q", "-m", "outrun test"],
    ];
    for args in steps {
        let out = Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "user.name=outrun test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .expect("git starts");
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every remote action the generated workflows use, as local stand-ins.
pub fn stand_in_actions(actions: &Path) {
    stand_in_action(&actions.join("setup-python"), SETUP_PYTHON_STAND_IN);
    stand_in_action(&actions.join("upload-artifact"), UPLOAD_ARTIFACT_STAND_IN);
    stand_in_action(
        &actions.join("download-artifact"),
        DOWNLOAD_ARTIFACT_STAND_IN,
    );
    stand_in_action(&actions.join("cache"), CACHE_STAND_IN);
}

/// A local action (a git repository holding `action.yml`) for act's `--local-repository`.
fn stand_in_action(dir: &Path, action_yml: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("action.yml"), action_yml).unwrap();
    git_commit_all(dir);
}

/// Stands in for actions/setup-python: python3 must be there; the version asked for is recorded.
const SETUP_PYTHON_STAND_IN: &str = r#"name: setup-python (outrun test stand-in)
description: Checks that python3 exists and records the python-version input.
inputs:
  python-version:
    required: true
runs:
  using: composite
  steps:
    - shell: bash
      env:
        VERSION: ${{ inputs.python-version }}
      run: python3 --version && printf '%s\n' "$VERSION" >> "$OUTRUN_TEST_SETUP"
"#;

/// Stands in for actions/upload-artifact: copies `path` into `$OUTRUN_TEST_ARTIFACTS/<name>/`,
/// refusing a name used twice (like v4) and an empty folder under `if-no-files-found: error`.
const UPLOAD_ARTIFACT_STAND_IN: &str = r#"name: upload-artifact (outrun test stand-in)
description: Copies the uploaded folder to a shared folder.
inputs:
  name:
    required: true
  path:
    required: true
  if-no-files-found:
    default: warn
  retention-days:
    default: "0"
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{ inputs.name }}
        SRC: ${{ inputs.path }}
        IF_NONE: ${{ inputs.if-no-files-found }}
      run: |
        if [ -z "$(ls -A "$SRC" 2>/dev/null)" ]; then
          echo "no files in $SRC"
          [ "$IF_NONE" != error ] || exit 1
          exit 0
        fi
        mkdir "$OUTRUN_TEST_ARTIFACTS/$NAME"
        cp -R "$SRC"/. "$OUTRUN_TEST_ARTIFACTS/$NAME/"
        printf '%s upload %s\n' "$(date +%s.%N)" "$NAME" >> "$OUTRUN_TEST_ARTIFACTS.times"
"#;

/// Stands in for actions/download-artifact: copies the artifacts matching `pattern` from
/// `$OUTRUN_TEST_ARTIFACTS` into `path`, one folder each, as v4 does for several artifacts.
const DOWNLOAD_ARTIFACT_STAND_IN: &str = r#"name: download-artifact (outrun test stand-in)
description: Copies artifacts from the shared folder.
inputs:
  pattern:
    required: true
  path:
    required: true
runs:
  using: composite
  steps:
    - shell: bash
      env:
        PATTERN: ${{ inputs.pattern }}
        DEST: ${{ inputs.path }}
      run: |
        printf '%s download\n' "$(date +%s.%N)" >> "$OUTRUN_TEST_ARTIFACTS.times"
        mkdir -p "$DEST"
        for d in "$OUTRUN_TEST_ARTIFACTS"/$PATTERN; do
          [ -d "$d" ] && cp -R "$d" "$DEST/"
        done
        ls "$DEST"
"#;

/// Stands in for actions/cache: always a miss (so the install step runs).
const CACHE_STAND_IN: &str = r#"name: cache (outrun test stand-in)
description: Always a cache miss.
inputs:
  path:
    required: true
  key:
    required: true
outputs:
  cache-hit:
    value: "false"
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "cache miss (stand-in)"
"#;

/// Runs `act workflow_dispatch` on the host (no Docker) with the stand-in actions, a private HOME,
/// no GitHub settings from the machine and a hard time limit. Returns (success, log).
pub fn run_act_with(
    root: &Path,
    workflow: &Path,
    cells: &str,
    actions: &Path,
    artifacts: &Path,
    setup_log: &Path,
    extra: &[String],
) -> (bool, String) {
    run_act_limited(
        root, workflow, cells, actions, artifacts, setup_log, extra, 240,
    )
}

/// [`run_act_with`] with its time limit in seconds.
#[allow(clippy::too_many_arguments)]
pub fn run_act_limited(
    root: &Path,
    workflow: &Path,
    cells: &str,
    actions: &Path,
    artifacts: &Path,
    setup_log: &Path,
    extra: &[String],
    limit_s: u64,
) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let home = tempfile::tempdir().unwrap();
    let log_path = home.path().join("act.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut c = Command::new("act");
    for (k, _) in std::env::vars() {
        // Also what `cargo test` sets for this test binary: a step that runs cargo must see the
        // environment a shell has (a build script's `rerun-if-env-changed=CARGO_MANIFEST_DIR`
        // would otherwise rebuild ring and all above it in the shared target dir).
        if [
            "GH_",
            "GITHUB_",
            "OUTRUN_",
            "ACT_",
            "RUNNER_",
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            c.env_remove(k);
        }
    }
    c.env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env("ACT_DISABLE_VERSION_CHECK", "1")
        .current_dir(root)
        .arg("workflow_dispatch")
        .arg("-W")
        .arg(workflow)
        .arg("--input")
        .arg(format!("cells={cells}"))
        .args([
            "-P",
            "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--no-cache-server",
        ])
        .arg("--local-repository")
        .arg(format!(
            "{}={}",
            pinned(outrun::workflow::SETUP_PYTHON),
            actions.join("setup-python").display()
        ))
        .arg("--local-repository")
        .arg(format!(
            "{}={}",
            pinned(outrun::workflow::UPLOAD_ARTIFACT),
            actions.join("upload-artifact").display()
        ))
        .arg("--local-repository")
        .arg(format!(
            "{}={}",
            pinned(outrun::workflow::DOWNLOAD_ARTIFACT),
            actions.join("download-artifact").display()
        ))
        .arg("--local-repository")
        .arg(format!(
            "{}={}",
            pinned(outrun::workflow::CACHE),
            actions.join("cache").display()
        ))
        .args(extra)
        .arg("--env")
        .arg(format!("OUTRUN_TEST_ARTIFACTS={}", artifacts.display()))
        .arg("--env")
        .arg(format!("OUTRUN_TEST_SETUP={}", setup_log.display()))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    let mut child = c.spawn().expect("act starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(limit_s);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            // act and the steps it started share its process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "act still running after {limit_s} s:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    (
        status.success(),
        std::fs::read_to_string(&log_path).unwrap_or_default(),
    )
}

/// A fake GitHub that knows the runs act is about to play: the same run ids and jobs (all
/// finished), with the workflow's own token as github-actions[bot].
pub struct LoopFake {
    _rt: tokio::runtime::Runtime,
    pub fake: fakegh::FakeGithub,
    experiment: String,
}

impl LoopFake {
    pub const REPO: &str = "octo/lab";
    pub const USER_TOKEN: &str = "ghp_outrunLoopUser0123456789";
    pub const ACTIONS_TOKEN: &str = "ghs_outrunLoopActions0123456789";

    pub fn start(experiment: &str, jobs: &[(&str, fakegh::Conclusion)]) -> LoopFake {
        Self::start_with(experiment, jobs, true)
    }

    /// `actions_can_create_prs`: the repository setting "Allow GitHub Actions to create and
    /// approve pull requests".
    pub fn start_with(
        experiment: &str,
        jobs: &[(&str, fakegh::Conclusion)],
        actions_can_create_prs: bool,
    ) -> LoopFake {
        use fakegh::{CellSpec, FakeConfig, FakeGithub, Identity};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeGithub::start(FakeConfig {
            token: Self::USER_TOKEN.into(),
            identities: vec![Identity::github_actions(Self::ACTIONS_TOKEN)],
            actions_can_create_prs,
            ..FakeConfig::default()
        }));
        let specs: Vec<CellSpec> = jobs.iter().map(|(id, c)| CellSpec::new(id, *c)).collect();
        fake.state()
            .lock()
            .unwrap()
            .add_workflow(&format!("outrun-{experiment}.yml"), specs);
        LoopFake {
            _rt: rt,
            fake,
            experiment: experiment.into(),
        }
    }

    /// Registers run number `n` (a dispatch on main, all its jobs finished); returns its id.
    pub fn run(&self, n: u64) -> u64 {
        let id = 21_000_777_000 + n;
        let st = self.fake.state();
        let mut st = st.lock().unwrap();
        st.next_run_id = Some(id);
        let wf = format!("outrun-{}.yml", self.experiment);
        st.add_run(
            Self::REPO,
            &wf,
            "workflow_dispatch",
            "main",
            &format!("outrun {} manual", self.experiment),
        );
        st.advance(std::time::Duration::from_secs(3600));
        id
    }

    /// What act needs to play run `id` against this fake.
    pub fn act_args(&self, id: u64) -> Vec<String> {
        [
            ("--env", format!("GITHUB_RUN_ID={id}")),
            ("--env", format!("GITHUB_REPOSITORY={}", Self::REPO)),
            ("--env", format!("GITHUB_API_URL={}", self.fake.api_url())),
            (
                "--env",
                format!("OUTRUN_TEST_BIN={}", env!("CARGO_BIN_EXE_outrun")),
            ),
            ("-s", format!("GITHUB_TOKEN={}", Self::ACTIONS_TOKEN)),
        ]
        .into_iter()
        .flat_map(|(a, b)| [a.to_string(), b])
        .collect()
    }
}
