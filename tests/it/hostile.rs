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
    // then printing the report fails.
    let (code, err) = to_full(&p, &["run", "tiny", "--local"], false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(p.read("data/evaluation/tiny.csv").lines().count(), 7);
    let (code, err) = to_full(&p, &["run", "tiny", "--local"], true);
    assert_eq!(code, 1, "{err}");
    let printing: &[&[&str]] = &[
        &["list"],
        &["plan", "tiny"],
        &["--json", "plan", "tiny"],
        &["validate"],
        &["report", "tiny"],
        &["--json", "report", "tiny"],
        &["merge", "tiny"],
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
