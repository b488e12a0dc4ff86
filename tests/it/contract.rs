//! One cell contract, two implementations: the local backend (`src/backend/local.rs`) and the
//! workflow's wrapper (`workflow-templates/outrun_cell.py`). One table of cases runs through
//! both; their `cell.json` (status, exit code, error), their logs and what the merge makes of
//! their outputs must be the same.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{self, Project};

const EXPERIMENT: &str = r#"name: contract
matrix:
  case: [ok, exit3, signal, timeout, missing, malformed, huge, lingering]
command: |
  case "$OUTRUN_P_CASE" in
    ok) printf "case,v\nok,1\n" > "$OUTRUN_OUT/results.csv" ;;
    exit3) exit 3 ;;
    signal) kill -TERM $$ ;;
    timeout) sleep 30 ;;
    missing) true ;;
    malformed) printf "case,v\nmalformed\n" > "$OUTRUN_OUT/results.csv" ;;
    huge) head -c 5000000 /dev/zero | tr '\0' x; printf "case,v\nhuge,1\n" > "$OUTRUN_OUT/results.csv" ;;
    lingering) sleep 30 & printf "case,v\nlingering,1\n" > "$OUTRUN_OUT/results.csv" ;;
  esac
timeout: 2s
results: {keys: [case]}
"#;

/// (status, exit_code, error, stdout.log size, duration under 10 s) per case.
type Seen = BTreeMap<String, (String, serde_json::Value, serde_json::Value, u64, bool)>;

fn read_cells(dir: &Path) -> Seen {
    let mut out = Seen::new();
    for e in std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("cell.json").is_file())
    {
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(e.path().join("cell.json")).unwrap())
                .unwrap();
        let log = std::fs::metadata(e.path().join("stdout.log"))
            .map(|m| m.len())
            .unwrap_or(0);
        let quick = rec["duration_s"].as_f64().unwrap() < 10.0;
        out.insert(
            rec["params"]["case"].as_str().unwrap().to_string(),
            (
                rec["status"].as_str().unwrap().to_string(),
                rec["exit_code"].clone(),
                rec["error"].clone(),
                log,
                quick,
            ),
        );
    }
    out
}

/// What the merge makes of a folder of outputs: (case → status, error).
fn merged(p: &Project, dir: &Path) -> BTreeMap<String, (String, String)> {
    let (_, out, err) = common::run(
        p.cmd()
            .arg("merge")
            .arg("contract")
            .arg("--from")
            .arg(dir)
            .arg("--json"),
    );
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap();
            let case = id.split('-').next().unwrap().to_string();
            (
                case,
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["error"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn both_wrappers_keep_the_same_contract() {
    let p = Project::new();
    p.experiment("contract", EXPERIMENT);

    // The local backend.
    let (_, out, err) = common::run(p.cmd().args([
        "run",
        "contract",
        "--local",
        "--no-merge",
        "--json",
        "-j",
        "8",
    ]));
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let local_dir = std::path::PathBuf::from(v["run_dir"].as_str().unwrap());
    let local = read_cells(&local_dir);

    // The workflow's wrapper, as its `run` step calls it, on the same cells.
    let (code, _, err) = common::run(p.cmd().args(["generate"]));
    assert_eq!(code, 0, "{err}");
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&p.read(".github/workflows/outrun-contract.yml")).unwrap();
    let cells_file = yaml["env"]["OUTRUN_CELLS_FILE"].as_str().unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&p.read(cells_file)).unwrap();
    let ids: Vec<&str> = cfg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let gh_dir = p.root().join("github-outputs");
    // One job per cell (8 cells, 256 jobs allowed): each named after its cell.
    let mut failed_jobs = 0;
    for id in &ids {
        let status = Command::new("python3")
            .arg("-c")
            .arg(yaml["env"]["OUTRUN_CELL_PY"].as_str().unwrap())
            .arg("run")
            .current_dir(p.root())
            .env("OUTRUN_CELLS_FILE", cells_file)
            .env("OUTRUN_SHARD", id)
            .env("OUTRUN_OUT_ROOT", &gh_dir)
            .env("GITHUB_RUN_ID", "777")
            .status()
            .unwrap();
        failed_jobs += usize::from(!status.success());
    }
    assert!(failed_jobs > 0, "failing cells make their job fail");
    let github = read_cells(&gh_dir);

    assert_eq!(local.len(), 8);
    assert_eq!(
        local, github,
        "the two wrappers disagree:\nlocal:  {local:#?}\ngithub: {github:#?}"
    );
    // The cases say what they should.
    assert_eq!(local["exit3"].2, "exit status 3");
    assert_eq!(
        (local["signal"].1.clone(), local["signal"].2.clone()),
        (
            serde_json::Value::Null,
            serde_json::json!("killed by signal 15")
        )
    );
    assert_eq!(local["timeout"].0, "timed_out");
    assert_eq!(local["timeout"].2, "killed after the 2 s timeout");
    assert_eq!(local["huge"].3, 5_000_000);
    assert!(
        local.values().all(|c| c.4),
        "a cell waited for a lingering child"
    );

    // And the merge reads both the same way (missing and malformed results fail the cell).
    let from_local = merged(&p, &local_dir);
    let from_github = merged(&p, &gh_dir);
    assert_eq!(from_local, from_github);
    assert_eq!(from_local["missing"].0, "failed");
    assert!(
        from_local["missing"].1.contains("wrote no results.csv"),
        "{from_local:?}"
    );
    assert_eq!(from_local["malformed"].0, "failed");
    assert_eq!(from_local["ok"], ("ok".to_string(), String::new()));
}
