//! Shared helpers: a throw-away project and the `outrun` binary with a clean environment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository this test binary was built from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `outrun` binary, with no GitHub credentials or settings leaking in from the machine,
/// and no colour (so messages can be matched).
pub fn outrun(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_outrun"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GH_") || k.starts_with("GITHUB_") || k.starts_with("OUTRUN_") {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1")
        .env("CLICOLOR", "0")
        .arg("--root")
        .arg(root)
        .current_dir(root);
    c
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("outrun starts");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A temporary project with an `experiments/` folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
        Project { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (creating folders), returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes `experiments/NAME.yaml`.
    pub fn experiment(&self, name: &str, yaml: &str) -> PathBuf {
        self.write(&format!("experiments/{name}.yaml"), yaml)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn cmd(&self) -> Command {
        outrun(self.root())
    }
}

/// A small experiment whose command is a bash one-liner writing results from its parameters.
/// `fail_when` makes the cell with that `n` exit 3.
pub fn tiny_experiment(name: &str, command: &str) -> String {
    format!(
        r#"name: {name}
description: a tiny test experiment
matrix:
  n: [1, 2, 3]
  mode: [a, b]
command: {command}
timeout: 20s
results:
  file: results.csv
  keys: [n, mode]
"#
    )
}

/// A command that writes one row with n, mode and n*10.
pub const WRITE_ROW: &str = r#"'printf "n,mode,value\n%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$((OUTRUN_P_N * 10))" > "$OUTRUN_OUT/results.csv"'"#;

/// Whether an external tool is on PATH (the test command installs them; see scripts/test.sh).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// External checkers must run in CI: `OUTRUN_REQUIRE_TOOLS=1` (set by scripts/test.sh) turns a
/// missing tool into a failure instead of a skip.
pub fn require_tool(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    if std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_some() {
        panic!("{tool} is required but not on PATH; run scripts/install-test-tools.sh");
    }
    eprintln!("skipping: {tool} not installed (scripts/install-test-tools.sh installs it)");
    false
}

/// Whether act's log says job `job` ended with `how` (act pads job names to the longest one's
/// width, which follows the cell ids' length).
pub fn job_ended(log: &str, job: &str, how: &str) -> bool {
    log.lines().any(|l| {
        l.split_once(']').is_some_and(|(name, rest)| {
            name.trim_end().ends_with(&format!("/{job}")) && rest.trim() == format!("🏁  {how}")
        })
    })
}
