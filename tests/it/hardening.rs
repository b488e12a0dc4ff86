//! What hostile or unlucky use found (issue 7), each kept fixed: files outrun leaves in a user's
//! repository, and the small things a user notices.

use std::process::Command;

use crate::common::{self, Project, WRITE_ROW, tiny_experiment};

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// After a local run in a git repository, the only new files git sees are the dataset and its
/// ledger: `.outrun/` ignores itself, and the merge lock lives inside it.
#[test]
fn a_run_leaves_nothing_untracked_but_the_dataset() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    git(p.root(), &["init", "-q"]);
    git(p.root(), &["add", "-A"]);
    git(p.root(), &["commit", "-q", "-m", "experiment"]);
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-q"]));
    assert_eq!(code, 0, "{err}");
    let mut untracked: Vec<String> = git(
        p.root(),
        &["status", "--porcelain", "--untracked-files=all"],
    )
    .lines()
    .map(|l| l[3..].to_string())
    .collect();
    untracked.sort();
    assert_eq!(
        untracked,
        ["data/evaluation/tiny.csv", "data/evaluation/tiny.runs.csv"]
    );
}

/// Temporary files of merges that were killed (kill -9) are removed by the next merge.
#[test]
fn stale_temporary_files_of_dead_writers_are_removed() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let stale = p.write("data/evaluation/.outrun-dead01.tmp", &"x".repeat(1000));
    let fresh = p.write("data/evaluation/.outrun-live02.tmp", "being written");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-q"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !stale.exists(),
        "a dead writer's temporary file is still there"
    );
    assert!(
        fresh.exists(),
        "a file a live writer may be writing was removed"
    );
}

/// `generate` says when a workflow's experiment is gone, and `--prune` removes it.
#[test]
fn generate_reports_and_prunes_workflows_of_deleted_experiments() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    p.experiment("gone", &tiny_experiment("gone", WRITE_ROW));
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    std::fs::remove_file(p.root().join("experiments/gone.yaml")).unwrap();
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0);
    assert!(
        err.contains("outrun-gone.yml has no experiment file any more") && err.contains("--prune"),
        "{err}"
    );
    assert!(p.root().join(".github/workflows/outrun-gone.yml").exists());
    let (code, out, _) = common::run(p.cmd().args(["generate", "--prune"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("removed") && out.contains("outrun-gone.yml"),
        "{out}"
    );
    assert!(!p.root().join(".github/workflows/outrun-gone.yml").exists());
    assert!(p.root().join(".github/workflows/outrun-tiny.yml").exists());
    assert_eq!(common::run(p.cmd().args(["generate", "--check"])).0, 0);
}

/// Generated workflows get the mode a plain write gives (as git checks files out), not a
/// temporary file's 0600.
#[test]
fn generated_workflows_are_not_private_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    let mode = std::fs::metadata(p.root().join(".github/workflows/outrun-tiny.yml"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let probe = p.write("probe", "");
    let plain = std::fs::metadata(probe).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, plain,
        "workflow mode {mode:o}, a plain file {plain:o}"
    );
}

/// The progress line says `failed` for a cell whose command succeeded but whose results are
/// malformed (as the report will); `-q` prints no `merged` line; the plan table lines up.
#[test]
fn progress_quiet_and_plan_say_what_is_true() {
    let p = Project::new();
    let cmd = r#"'if [ "$OUTRUN_P_N" = 2 ]; then echo "n,mode" > "$OUTRUN_OUT/results.csv"; echo "2" >> "$OUTRUN_OUT/results.csv"; else printf "n,mode\n%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"; fi'"#;
    p.experiment("tiny", &tiny_experiment("tiny", cmd));
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-j", "1"]));
    assert_eq!(code, 1);
    let bad: Vec<&str> = err.lines().filter(|l| l.contains(" 2-")).collect();
    assert_eq!(bad.len(), 2, "{err}");
    assert!(bad.iter().all(|l| l.contains("] failed ")), "{err}");
    let (_, _, err) = common::run(p.cmd().args(["run", "tiny", "--local", "-q"]));
    assert!(!err.contains("merged"), "-q printed: {err}");
    p.experiment("wide", "name: wide\nmatrix:\n  long_name: [a, bbbbbbbbbb]\n  n: [1, 22]\ncommand: 'true'\nresults: {keys: [n]}\n");
    let (_, out, _) = common::run(p.cmd().args(["plan", "wide"]));
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("id ")).collect();
    assert_eq!(table.len(), 5, "{out}");
    let col = |l: &str, word: &str| l.find(word).unwrap_or_else(|| panic!("{word} not in {l}"));
    let at = col(table[0], "long_name");
    assert!(
        table[1..]
            .iter()
            .all(|l| l[at..].starts_with('a') || l[at..].starts_with('b')),
        "{out}"
    );
    let at = col(table[0], " n") + 1;
    assert!(
        table[1..]
            .iter()
            .all(|l| l[at..].starts_with('1') || l[at..].starts_with("22")),
        "{out}"
    );
}

/// An error's cause is printed once, not repeated by every layer that wraps it.
#[test]
fn error_messages_do_not_repeat_themselves() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    p.write(
        "data/evaluation/tiny.csv",
        "n,mode,outrun_cell,outrun_run_id\n\"1,a\n",
    );
    let (code, _, err) = common::run(p.cmd().args(["report", "tiny"]));
    assert_eq!(code, 1);
    let first = err.lines().next().unwrap();
    for piece in first.split(": ") {
        if piece.len() > 12 {
            assert_eq!(
                first.matches(piece).count(),
                1,
                "`{piece}` repeats in: {first}"
            );
        }
    }
}

/// `outrun run NAME` without saying where is a usage error (64) that says what to do.
#[test]
fn run_without_local_is_a_usage_error() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny"]));
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("outrun run tiny --local") && err.contains("outrun dispatch tiny"),
        "{err}"
    );
}

/// Two experiments that name the same dataset would hide each other's rows: validate refuses.
#[test]
fn two_experiments_may_not_share_a_dataset() {
    let p = Project::new();
    p.experiment(
        "one",
        &format!(
            "{}dataset: {{path: data/evaluation/shared.csv}}\n",
            tiny_experiment("one", WRITE_ROW)
        ),
    );
    p.experiment(
        "two",
        &format!(
            "{}dataset: {{path: data/evaluation/shared.csv}}\n",
            tiny_experiment("two", WRITE_ROW)
        ),
    );
    p.experiment("three", &tiny_experiment("three", WRITE_ROW));
    let (code, out, err) = common::run(p.cmd().args(["validate"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("experiments one, two all write data/evaluation/shared.csv"),
        "{err}"
    );
    assert!(out.contains("1 valid, 2 invalid"), "{out}");
    let (code, _, _) = common::run(p.cmd().args(["validate", "three"]));
    assert_eq!(code, 0);
}

/// Every subcommand's help ends with examples of itself, and every positional argument says
/// what it is.
#[test]
fn every_command_explains_itself() {
    let p = Project::new();
    for cmd in [
        "list",
        "plan",
        "validate",
        "generate",
        "run",
        "merge",
        "report",
        "dispatch",
        "status",
        "watch",
        "collect",
        "announce",
        "rerun",
        "sync",
        "compare",
        "completions",
        "man",
    ] {
        let (code, out, err) = common::run(p.cmd().args([cmd, "--help"]));
        assert_eq!(code, 0, "{cmd}: {err}");
        let examples = out
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{cmd} --help has no examples:\n{out}"));
        assert!(
            examples
                .lines()
                .next()
                .is_some_and(|l| l.trim_start().starts_with(&format!("outrun {cmd}"))),
            "{cmd}: {examples}"
        );
        if let Some(args) = out.split("Arguments:\n").nth(1) {
            for line in args.lines().take_while(|l| !l.trim().is_empty()) {
                let described = line
                    .trim_start()
                    .split_once("  ")
                    .is_some_and(|(_, d)| !d.trim().is_empty());
                assert!(described, "{cmd}: argument without a description: {line}");
            }
        }
    }
}
