//! A new repository's first steps: `outrun init`, the actionlint config `generate` keeps, and
//! the report as a terminal shows it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{self, Project};

/// Every file under `root` (but `.git`) with its bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn git_init(root: &Path) {
    let out = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .env_remove("GIT_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// In an empty git repository `init` writes the example, which then runs locally and passes;
/// a second `init` names what exists, changes nothing and exits 1.
#[test]
fn init_then_run_local_passes_and_init_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git_init(root);
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    let (code, out, err) = common::run(common::outrun(root).arg("init"));
    assert_eq!(code, 0, "{out}{err}");
    for f in [
        "experiments/example.yaml",
        "scripts/example.py",
        "data/measured/example.csv",
        ".github/workflows/outrun-example.yml",
    ] {
        assert!(root.join(f).is_file(), "{f} missing:\n{out}");
        assert!(out.contains(f), "{out}");
    }
    assert!(
        out.contains("outrun run example --local") && out.contains("outrun dispatch example"),
        "{out}"
    );
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(
        ignore.starts_with("target/\n") && ignore.contains("\n.outrun/\n"),
        "{ignore}"
    );

    let before = tree(root);
    let (code, out, err) = common::run(common::outrun(root).arg("init"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("experiments/example.yaml already exists"),
        "{err}"
    );
    assert!(err.contains("wrote nothing"), "{err}");
    assert_eq!(tree(root), before, "a second init changed files");

    let (code, out, err) = common::run(common::outrun(root).args(["run", "example", "--local"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 cells: 2 ok"), "{out}");
    assert!(out.contains("### Predicted vs measured"), "{out}");
    let data = std::fs::read_to_string(root.join("data/evaluation/example.csv")).unwrap();
    assert_eq!(data.lines().count(), 3, "{data}");
    let (code, _, err) = common::run(common::outrun(root).args(["generate", "--check"]));
    assert_eq!(code, 0, "the workflow init wrote is current: {err}");
}

/// One existing file stops `init` before it writes anything; `--json` says which.
#[test]
fn init_refuses_when_any_file_exists() {
    let p = Project::new();
    p.write("scripts/example.py", "mine\n");
    let before = tree(p.root());
    let (code, out, _) = common::run(p.cmd().args(["init", "--json"]));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["existing"], serde_json::json!(["scripts/example.py"]));
    assert_eq!(tree(p.root()), before);
}

#[test]
fn init_json_schema() {
    let p = Project::new();
    let (code, out, err) = common::run(p.cmd().args(["init", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("init", v);
}

/// `generate` lists the experiments' self-hosted labels in .github/actionlint.yaml, keeping the
/// user's entries and settings; `generate --check` reports a label missing there.
#[test]
fn generate_keeps_actionlint_labels_and_check_reports_drift() {
    let p = Project::new();
    p.experiment(
        "g",
        "name: g\nrunner:\n  labels: [self-hosted, gpu, h200]\nmatrix: {n: [1]}\ncommand: 'true'\nresults: {keys: [n]}\n",
    );
    p.write(
        ".github/actionlint.yaml",
        "self-hosted-runner:\n  labels: [mine]\nconfig-variables: [FOO]\n",
    );
    let (code, out, err) = common::run(p.cmd().arg("generate"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("written   .github/actionlint.yaml"), "{out}");
    let v: serde_json::Value = serde_yaml::from_str(&p.read(".github/actionlint.yaml")).unwrap();
    assert_eq!(
        v["self-hosted-runner"]["labels"],
        serde_json::json!(["mine", "gpu", "h200"])
    );
    assert_eq!(v["config-variables"], serde_json::json!(["FOO"]));
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 0, "{err}");

    p.write(
        ".github/actionlint.yaml",
        "self-hosted-runner:\n  labels: [mine, gpu]\n",
    );
    let (code, out, err) = common::run(p.cmd().args(["generate", "--check", "--json"]));
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entry = v["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == ".github/actionlint.yaml")
        .unwrap();
    assert_eq!(entry["state"], "stale");
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1);
    assert!(err.contains("h200"), "{err}");
    // A file outrun cannot read is an error, and stays as it was.
    p.write(".github/actionlint.yaml", "self-hosted-runner: [oops\n");
    let (code, _, err) = common::run(p.cmd().arg("generate"));
    assert_eq!(code, 1);
    assert!(err.contains(".github/actionlint.yaml"), "{err}");
    assert_eq!(
        p.read(".github/actionlint.yaml"),
        "self-hosted-runner: [oops\n"
    );
}

fn terminal_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"local-\d{8}T\d{6}Z-[0-9a-f]{6}", "[local run]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    s.add_filter(r"\b\d+\.\d s\b", "[seconds]");
    s.add_filter(r"/tmp/[^ \n]*", "[tmp]");
    s
}

/// The terminal rendering (forced, as on a TTY) has no HTML, markers or Markdown tables, and
/// is snapshotted; a pipe and `--output` get the Markdown, byte for byte the same.
#[test]
fn terminal_report_and_markdown_report() {
    let p = Project::new();
    let (code, _, err) = common::run(p.cmd().arg("init"));
    assert_eq!(code, 0, "{err}");
    let (code, piped, err) = common::run(p.cmd().args(["run", "example", "--local"]));
    assert_eq!(code, 0, "{err}");
    let (code, term, err) = common::run(
        p.cmd()
            .env("OUTRUN_TERMINAL", "1")
            .args(["report", "example"]),
    );
    assert_eq!(code, 0, "{err}");
    for html in [
        "<!--",
        "<br>",
        "<details>",
        "<sub>",
        "| --- |",
        "**",
        "\x1b[",
    ] {
        assert!(!term.contains(html), "{html:?} in:\n{term}");
    }
    assert!(term.contains("all cells ok"), "{term}");
    terminal_settings().bind(|| insta::assert_snapshot!("terminal_report", term));

    let (code, md, _) = common::run(p.cmd().args(["report", "example"]));
    assert_eq!(code, 0);
    assert!(md.starts_with("<!-- outrun:report:example -->"), "{md}");
    assert_eq!(
        md, piped,
        "run --local and report print the same Markdown to a pipe"
    );
    let (code, _, _) = common::run(p.cmd().args(["report", "example", "--output", "r.md"]));
    assert_eq!(code, 0);
    assert_eq!(
        p.read("r.md"),
        md,
        "--output is the Markdown, byte for byte"
    );
    // Forced terminal rendering still leaves --output alone.
    let (code, _, _) = common::run(
        p.cmd()
            .env("OUTRUN_TERMINAL", "1")
            .args(["report", "example", "--output", "t.md"]),
    );
    assert_eq!(code, 0);
    assert_eq!(p.read("t.md"), md);
    terminal_settings().bind(|| insta::assert_snapshot!("markdown_report_example", md));
}

/// The verdict is coloured only when colour is allowed: CLICOLOR_FORCE off a TTY, never with
/// NO_COLOR.
#[test]
fn terminal_report_colour_follows_no_color() {
    let p = Project::new();
    common::run(p.cmd().arg("init"));
    let (code, _, err) = common::run(p.cmd().args(["run", "example", "--local"]));
    assert_eq!(code, 0, "{err}");
    let report = |no_color: Option<&str>| {
        let mut c = p.cmd();
        c.env_remove("NO_COLOR")
            .env("OUTRUN_TERMINAL", "1")
            .env("CLICOLOR_FORCE", "1")
            .args(["report", "example"]);
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        common::run(&mut c).1
    };
    let coloured = report(None);
    assert!(
        coloured.contains("\x1b[32m")
            || coloured.contains("\x1b[1;32m")
            || coloured.contains("\x1b[32;1m")
            || coloured.contains("\x1b[1m\x1b[32m"),
        "{coloured:?}"
    );
    assert!(!report(Some("1")).contains('\x1b'));
}

/// A long table is cut at 20 rows in a terminal, with the pointer to the full report.
#[test]
fn terminal_report_cuts_long_tables() {
    let p = Project::new();
    let values: Vec<String> = (1..=25).map(|i| i.to_string()).collect();
    p.experiment(
        "long",
        &format!(
            "name: long\nmatrix:\n  n: [{}]\ncommand: 'printf \"n,v\\n%s,%s\\n\" \"$OUTRUN_P_N\" \"$OUTRUN_P_N\" > \"$OUTRUN_OUT/results.csv\"'\nresults: {{keys: [n]}}\n",
            values.join(", ")
        ),
    );
    let (code, _, err) = common::run(p.cmd().args(["run", "long", "--local"]));
    assert_eq!(code, 0, "{err}");
    let (_, term, _) = common::run(p.cmd().env("OUTRUN_TERMINAL", "1").args(["report", "long"]));
    assert!(term.contains("Results (25 rows)"), "{term}");
    assert!(
        term.contains("… 5 more rows: `outrun report long --output FILE` writes the full report"),
        "{term}"
    );
    let (_, md, _) = common::run(p.cmd().args(["report", "long"]));
    assert_eq!(
        md.matches("\n| ").count(),
        27,
        "the Markdown keeps every row:\n{md}"
    );
}
