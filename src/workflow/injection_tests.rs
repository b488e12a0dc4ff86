//! Every text field of the experiment file, fed text that would add a step (a newline and YAML)
//! and read a secret (`${{ secrets.X }}`): either `validate` refuses it, or the workflow has
//! exactly the jobs and steps of the clean one and no string in it holds the expression.

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

/// Step injection with and without an expression; the second would pass a check that only
/// looks for `${{`.
const PAYLOADS: &[&str] = &[
    "\n      - name: pwned\n        run: echo \"${{ secrets.X }}\" | base64\n",
    "\n  pwned:\n    runs-on: ubuntu-latest\n    steps:\n      - run: env\n",
];

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
fn variants() -> Vec<(String, Value)> {
    let clean: Value = serde_yaml::from_str(CLEAN).expect("clean YAML");
    let mut out = Vec::new();
    let mut covered = 0;
    for (at, list) in schema::text_fields() {
        covered += 1;
        for payload in PAYLOADS {
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
                        out.push((format!("{what} = {text:?}"), doc));
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
            for text in hostile(&clean_text, payload) {
                let mut doc = clean.clone();
                set(&mut doc, &at, list, &text);
                out.push((format!("{} = {text:?}", at.join(".")), doc));
            }
        }
    }
    assert!(
        covered >= 20,
        "the schema walk found only {covered} text fields"
    );
    out
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
    let (mut refused, mut rendered) = (0, 0);
    for (what, doc) in variants() {
        let text = serde_yaml::to_string(&doc).expect("serialises");
        let Ok(plan) = parse(root.path(), rel, text) else {
            refused += 1;
            continue;
        };
        rendered += 1;
        let yaml = super::render(root.path(), &plan).expect("renders");
        assert_eq!(
            shape(&yaml),
            clean_shape,
            "{what} changed the workflow:\n{yaml}"
        );
        let mut all = Vec::new();
        strings(&serde_yaml::from_str(&yaml).expect("YAML"), &mut all);
        for s in all {
            assert!(
                !s.contains("${{ secrets"),
                "{what} put an expression in {s:?}:\n{yaml}"
            );
        }
    }
    // Both outcomes occur: free text is carried safely, names and paths are refused.
    assert!(
        refused > 0 && rendered > 0,
        "refused {refused}, rendered {rendered}"
    );
}
