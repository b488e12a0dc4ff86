//! `outrun validate`: bad experiment files get one clear message naming file, line and column
//! (on stderr, rendered by miette, and as `--json` problems); hostile parameter *values* are
//! data, accepted and delivered byte-exact, never executed.

use std::path::Path;

use serde_json::Value;

use crate::common::{self, Project};

/// A valid experiment: `good.yaml`.
const GOOD: &str = "name: good\nmatrix:\n  n: [1, 2]\ncommand: 'true'\nresults:\n  keys: [n]\n";

/// The text miette printed, without its frame and line wrapping, so messages can be matched
/// whatever the wrap width.
fn flat(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| !w.chars().all(|c| "│·╭╰─┬┴├┼╯╮".contains(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `validate --json`: exit code and the problems of the one file named.
fn json_problems(p: &Project, name: &str) -> (i32, Vec<Value>) {
    let (code, out, err) = common::run(p.cmd().args(["validate", "--json", name]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(v["schema"], "outrun.validate/v1");
    assert_eq!(v["files"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["files"][0]["path"], format!("experiments/{name}.yaml"));
    (code, v["files"][0]["problems"].as_array().unwrap().clone())
}

/// Writes `experiments/NAME.yaml`, validates it both ways and checks it has exactly one
/// problem, at `line:col`, whose message holds every one of `words` and whose help holds
/// `help` (or that it has no help). Returns the problem and the human output.
pub(crate) fn one_problem(
    p: &Project,
    name: &str,
    yaml: &str,
    line: u64,
    col: u64,
    words: &[&str],
    help: Option<&str>,
) -> (Value, String) {
    p.experiment(name, yaml);
    let (code, problems) = json_problems(p, name);
    assert_eq!(code, 1, "{problems:?}");
    assert_eq!(problems.len(), 1, "expected one problem: {problems:#?}");
    let pr = problems[0].clone();
    assert_eq!(pr["file"], format!("experiments/{name}.yaml"));
    assert_eq!(
        (pr["line"].as_u64(), pr["column"].as_u64()),
        (Some(line), Some(col)),
        "{pr}"
    );
    let message = pr["message"].as_str().unwrap();
    for w in words {
        assert!(message.contains(w), "`{w}` not in: {message}");
    }
    match help {
        Some(h) => assert!(
            pr["help"].as_str().is_some_and(|s| s.contains(h)),
            "help lacks `{h}`: {pr}"
        ),
        None => assert!(pr["help"].is_null(), "{pr}"),
    }

    // The human output says the same, on stderr, with the position first.
    let (code, out, err) = common::run(p.cmd().args(["validate", name]));
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("1 experiment file(s) checked: 0 valid, 1 invalid"),
        "{out}"
    );
    let text = flat(&err);
    let head = flat(&format!("experiments/{name}.yaml:{line}:{col}: {message}"));
    assert!(text.contains(&head), "`{head}` not in:\n{err}");
    if let Some(h) = pr["help"].as_str() {
        assert!(
            text.contains(&flat(&format!("help: {h}"))),
            "help `{h}` not in:\n{err}"
        );
    }
    (pr, err)
}

#[test]
fn yaml_syntax_error_unclosed_bracket() {
    let p = Project::new();
    let (pr, err) = one_problem(
        &p,
        "syntax",
        "name: syntax\nmatrix:\n  n: [1, 2\ncommand: 'true'\nresults: {keys: [n]}\n",
        4,
        8,
        &["did not find expected ',' or ']'"],
        None,
    );
    // Where the scanner gave up is the next line; the message must also say where the
    // unclosed `[` began, or the user hunts for it.
    assert!(
        pr["message"]
            .as_str()
            .unwrap()
            .contains("while parsing a flow sequence at line 3 column 6"),
        "{pr}"
    );
    insta::assert_snapshot!(err, @r"
      × experiments/syntax.yaml:4:8: did not find expected ',' or ']', while
      │ parsing a flow sequence at line 3 column 6
       ╭─[4:8]
     3 │   n: [1, 2
     4 │ command: 'true'
       ·        ┬
       ·        ╰── did not find expected ',' or ']', while parsing a flow sequence at line 3 column 6
     5 │ results: {keys: [n]}
       ╰────
    ");
}

#[test]
fn yaml_syntax_error_bad_indent() {
    let p = Project::new();
    one_problem(
        &p,
        "indent",
        "name: indent\nmatrix:\n  n: [1]\n   mode: [a]\ncommand: 'true'\nresults: {keys: [n]}\n",
        4,
        4,
        &[
            "did not find expected key",
            "while parsing a block mapping at line 3 column 3",
        ],
        None,
    );
}

#[test]
fn unknown_field_suggests_the_right_one() {
    let p = Project::new();
    let (_, err) = one_problem(
        &p,
        "typo",
        "name: typo\nmatrix:\n  n: [1]\ncomand: 'true'\nresults: {keys: [n]}\n",
        4,
        1,
        &["unknown field `comand`"],
        Some("did you mean `command`?"),
    );
    insta::assert_snapshot!(err, @r"
     × experiments/typo.yaml:4:1: unknown field `comand`, expected one of `name`,
     │ `description`, `issue`, `runner`, `setup`, `matrix`, `command`, `timeout`,
     │ `results`, `dataset`, `compare`, `github`
     │   help: did you mean `command`?
      ╭─[4:1]
    3 │   n: [1]
    4 │ comand: 'true'
      · ───┬──
      ·    ╰── unknown field `comand`, expected one of `name`, `description`, `issue`, `runner`, `setup`, `matrix`, `command`, `timeout`, `results`, `dataset`, `compare`, `github`
    5 │ results: {keys: [n]}
      ╰────
    ");
}

#[test]
fn misspelled_nested_field() {
    let p = Project::new();
    one_problem(
        &p,
        "nested",
        "name: nested\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {fiel: out.csv, keys: [n]}\n",
        5,
        11,
        &["results", "unknown field `fiel`"],
        Some("did you mean `file`?"),
    );
    // In block style too, pointing at the key.
    one_problem(
        &p,
        "nested2",
        "name: nested2\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  keys: [n]\n  fiel: out.csv\n",
        7,
        3,
        &["results", "unknown field `fiel`"],
        Some("did you mean `file`?"),
    );
}

#[test]
fn wrong_type_timeout_list() {
    let p = Project::new();
    one_problem(
        &p,
        "wrongtype",
        "name: wrongtype\nmatrix:\n  n: [1]\ncommand: 'true'\ntimeout: [1]\nresults: {keys: [n]}\n",
        5,
        10,
        &["timeout", "invalid type: sequence", "expected a string"],
        None,
    );
}

#[test]
fn wrong_type_issue_text() {
    let p = Project::new();
    one_problem(
        &p,
        "issue",
        "name: issue\nissue: abc\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        2,
        8,
        &["issue", "invalid type: string \"abc\"", "u64"],
        None,
    );
}

#[test]
fn empty_matrix() {
    let p = Project::new();
    one_problem(
        &p,
        "empty",
        "name: empty\nmatrix: {}\ncommand: 'true'\nresults: {keys: [n]}\n",
        2,
        1,
        &["the matrix is empty"],
        Some("at least one parameter"),
    );
}

#[test]
fn parameter_with_no_values() {
    let p = Project::new();
    // The only parameter: one message about it, not also "the matrix is empty".
    one_problem(
        &p,
        "novalues",
        "name: novalues\nmatrix:\n  n: []\ncommand: 'true'\nresults: {keys: [n]}\n",
        3,
        6,
        &["parameter `n` has no values"],
        None,
    );
}

#[test]
fn duplicate_value_in_a_list() {
    let p = Project::new();
    one_problem(
        &p,
        "dupvalue",
        "name: dupvalue\nmatrix:\n  n: [1, 2, 1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        3,
        13,
        &["duplicate cell", "`1` appears twice in `n`"],
        None,
    );
    // `1` and `"1"` are the same value once in the environment.
    one_problem(
        &p,
        "dupquoted",
        "name: dupquoted\nmatrix:\n  n: [1, \"1\"]\ncommand: 'true'\nresults: {keys: [n]}\n",
        3,
        10,
        &["duplicate cell", "`1` appears twice in `n`"],
        None,
    );
}

#[test]
fn duplicate_cell_from_include() {
    let p = Project::new();
    // `{n: 3, mode: a}` fits no combination, so it becomes one; the second entry repeats it.
    // (`{n: 1}` fits n=1 and, by GitHub's rules, merges into it: no new cell, no error.)
    let yaml = "name: dupinclude\nmatrix:\n  n: [1, 2]\n  mode: [a]\n  include:\n    - n: 1\n    - n: 3\n      mode: a\n    - mode: a\n      n: 3\ncommand: 'true'\nresults: {keys: [n]}\n";
    one_problem(
        &p,
        "dupinclude",
        yaml,
        9,
        7,
        &["duplicate cell", "mode=a", "n=3", "already in the matrix"],
        None,
    );
}

#[test]
fn unsafe_experiment_name() {
    let p = Project::new();
    one_problem(
        &p,
        "evil",
        "name: \"../evil\"\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        1,
        7,
        &["unsafe experiment name `../evil`"],
        Some("a-z, 0-9"),
    );
}

#[test]
fn name_differs_from_file_stem() {
    let p = Project::new();
    one_problem(
        &p,
        "stem",
        "name: other\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        1,
        7,
        &["the name `other` differs from the file name `stem`"],
        Some("rename the file to `other.yaml` or the experiment to `stem`"),
    );
}

#[test]
fn github_expression_in_command() {
    let p = Project::new();
    let (pr, _) = one_problem(
        &p,
        "expr",
        "name: expr\nmatrix:\n  n: [1]\ncommand: echo ${{ matrix.n }}\nresults: {keys: [n]}\n",
        4,
        10,
        &["must not contain `${{ … }}`"],
        Some("$OUTRUN_P_NAME"),
    );
    assert!(
        pr["message"].as_str().unwrap().starts_with("shell text"),
        "{pr}"
    );
}

#[test]
fn invalid_parameter_name() {
    let p = Project::new();
    one_problem(
        &p,
        "badparam",
        "name: badparam\nmatrix:\n  bad-name: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        3,
        3,
        &["parameter name `bad-name`"],
        Some("OUTRUN_P_NAME"),
    );
}

#[test]
fn exclude_names_an_unknown_parameter() {
    let p = Project::new();
    let yaml = "name: exclude\nmatrix:\n  n: [1, 2]\n  mode: [a, b]\n  exclude:\n    - n: 1\n      mode: a\n    - nn: 2\ncommand: 'true'\nresults: {keys: [n]}\n";
    one_problem(
        &p,
        "exclude",
        yaml,
        8,
        7,
        &["exclude names `nn`", "not a matrix parameter"],
        Some("did you mean `n`?"),
    );
}

#[test]
fn timeout_that_is_not_a_duration() {
    let p = Project::new();
    one_problem(
        &p,
        "parsecs",
        "name: parsecs\nmatrix:\n  n: [1]\ncommand: 'true'\ntimeout: 5 parsecs\nresults: {keys: [n]}\n",
        5,
        10,
        &["`5 parsecs` is not a duration", "parsecs"],
        Some("90s"),
    );
}

#[test]
fn compare_names_a_column_the_measured_file_lacks() {
    let p = Project::new();
    p.write(
        "data/measured/m.csv",
        "layer,batch,latency_ms\nconv1,1,2.5\n",
    );
    let yaml = "name: cmp\nmatrix:\n  layer: [conv1]\n  batch: [1]\ncommand: 'true'\nresults: {keys: [layer, batch]}\ncompare:\n  measured: data/measured/m.csv\n  on: [layr, batch]\n  predicted: latency_pred\n  actual: latency_ms\n";
    let (_, err) = one_problem(
        &p,
        "cmp",
        yaml,
        9,
        8,
        &["`data/measured/m.csv` has no column `layr`"],
        Some("did you mean `layer`?"),
    );
    insta::assert_snapshot!(err, @r"
     × experiments/cmp.yaml:9:8: `data/measured/m.csv` has no column `layr`
     │   help: did you mean `layer`?
       ╭─[9:8]
     8 │   measured: data/measured/m.csv
     9 │   on: [layr, batch]
       ·        ──┬─
       ·          ╰── `data/measured/m.csv` has no column `layr`
    10 │   predicted: latency_pred
       ╰────
    ");
}

#[test]
fn several_problems_are_reported_at_once() {
    let p = Project::new();
    let yaml = "name: Bad Name\nmatrix:\n  n: [1, 1]\n  bad-name: [2]\ncommand: echo ${{ github.token }}\ntimeout: 5 parsecs\nresults:\n  file: ../out.csv\n  keys: [n]\n";
    p.experiment("several", yaml);
    let (code, problems) = json_problems(&p, "several");
    assert_eq!(code, 1);
    let at: Vec<(u64, u64)> = problems
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_u64().unwrap()))
        .collect();
    // Every problem, sorted by position.
    assert_eq!(
        at,
        [(1, 7), (3, 10), (4, 3), (5, 10), (6, 10), (8, 9)],
        "{problems:#?}"
    );
    let messages: Vec<&str> = problems
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    for (m, w) in messages.iter().zip([
        "unsafe experiment name",
        "appears twice",
        "parameter name `bad-name`",
        "`${{ … }}`",
        "not a duration",
        "results file `../out.csv`",
    ]) {
        assert!(m.contains(w), "`{w}` not in `{m}`");
    }
    let (code, _, err) = common::run(p.cmd().args(["validate", "several"]));
    assert_eq!(code, 1);
    for pos in ["1:7:", "3:10:", "4:3:", "5:10:", "6:10:", "8:9:"] {
        assert!(
            err.contains(&format!("experiments/several.yaml:{pos} ")),
            "{pos} not in:\n{err}"
        );
    }
}

#[test]
fn one_good_file_and_one_bad_are_both_reported() {
    let p = Project::new();
    p.experiment("good", GOOD);
    p.experiment("worse", "name: worse\nmatrix:\n  n: [1]\ncommand: 'true'\ntimeout: 5 parsecs\nresults: {keys: [n]}\n");
    let (code, out, err) = common::run(p.cmd().args(["validate", "--json"]));
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    assert_eq!(
        (&files[0]["path"], &files[0]["ok"], &files[0]["cells"]),
        (
            &Value::from("experiments/good.yaml"),
            &Value::from(true),
            &Value::from(2)
        )
    );
    assert_eq!(
        (&files[1]["path"], &files[1]["ok"]),
        (&Value::from("experiments/worse.yaml"), &Value::from(false))
    );
    assert_eq!(files[1]["problems"].as_array().unwrap().len(), 1);

    let (code, out, err) = common::run(p.cmd().arg("validate"));
    assert_eq!(code, 1);
    assert!(
        out.contains("2 experiment file(s) checked: 1 valid, 1 invalid"),
        "{out}"
    );
    assert!(
        err.contains("experiments/worse.yaml:5:10: `5 parsecs` is not a duration"),
        "{err}"
    );
    assert!(!err.contains("good.yaml"), "{err}");

    // Naming only the good one passes.
    let (code, out, _) = common::run(p.cmd().args(["validate", "good"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("1 experiment file(s) checked: 1 valid, 0 invalid"),
        "{out}"
    );
}

/// YAML double-quoted text for `s`.
fn yaml_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn hostile_parameter_values_are_data() {
    let p = Project::new();
    let marker = |tag: &str| p.root().join(format!("pwned-{tag}"));
    let root = p.root().display().to_string();
    assert!(!root.contains(['"', '\'', '\\', ' ']), "{root}");
    let values: Vec<String> = vec![
        "${{ github.token }}".into(),
        "${{ secrets.GITHUB_TOKEN }}\" && touch pwned-expr".into(),
        "'\"".into(),
        format!("$(touch {root}/pwned-subst)"),
        format!("`touch {root}/pwned-backtick`"),
        format!("'; touch {root}/pwned-quote; '"),
        format!("; touch {root}/pwned-semi #"),
        "a\nb".into(),
        "ü 日本".into(),
        "  two spaces  ".into(),
        "$OUTRUN_OUT".into(),
        "back\\slash".into(),
    ];
    let list: Vec<String> = values
        .iter()
        .map(|v| format!("    - {}\n", yaml_quoted(v)))
        .collect();
    let yaml = format!(
        "name: hostile\nmatrix:\n  x:\n{}command: |\n  printf '%s' \"$OUTRUN_P_X\" > \"$OUTRUN_OUT/value.txt\"\n  printf 'ok\\n1\\n' > \"$OUTRUN_OUT/results.csv\"\ntimeout: 20s\nresults:\n  keys: [x]\n",
        list.concat()
    );
    p.experiment("hostile", &yaml);

    let (code, out, err) = common::run(p.cmd().args(["validate", "hostile"]));
    assert_eq!(code, 0, "{out}\n{err}");

    let (code, out, err) = common::run(p.cmd().args(["plan", "hostile", "--json"]));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let planned: Vec<String> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["params"]["x"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(planned, values);
    let ids: Vec<&str> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
            "{id}"
        );
    }

    let (code, out, err) = common::run(
        p.cmd()
            .args(["run", "hostile", "--local", "-j", "2", "--json"]),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    let run_dir = Path::new(run["run_dir"].as_str().unwrap());
    let run_dir = if run_dir.is_absolute() {
        run_dir.to_path_buf()
    } else {
        p.root().join(run_dir)
    };
    for (id, value) in ids.iter().zip(&values) {
        let got = std::fs::read(run_dir.join(id).join("value.txt")).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), *value, "cell {id}");
        assert_eq!(got, value.as_bytes(), "cell {id}");
    }
    for tag in ["subst", "backtick", "quote", "semi", "expr"] {
        assert!(
            !marker(tag).exists(),
            "a parameter value was executed: {}",
            marker(tag).display()
        );
    }

    // The dataset holds the values exactly, too (CSV quoting, not mangling).
    let mut r = csv::Reader::from_path(p.root().join("data/evaluation/hostile.csv")).unwrap();
    let xi = r.headers().unwrap().iter().position(|h| h == "x").unwrap();
    let mut stored: Vec<String> = r
        .records()
        .map(|rec| rec.unwrap()[xi].to_string())
        .collect();
    let mut expected = values.clone();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
}

// ---- issue 7: hardening ----

#[test]
fn byte_order_mark_is_accepted_and_positions_stay_right() {
    let p = Project::new();
    p.experiment("good", &format!("\u{feff}{GOOD}"));
    let (code, out, err) = common::run(p.cmd().args(["validate", "good"]));
    assert_eq!(code, 0, "{out}\n{err}");
    // A problem on line 1 is placed by what the user sees, not one column off.
    one_problem(
        &p,
        "bomname",
        "\u{feff}name: \"../evil\"\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        1,
        7,
        &["unsafe experiment name `../evil`"],
        Some("a-z, 0-9"),
    );
}

#[test]
fn duplicate_key_is_placed_at_the_repeat() {
    let p = Project::new();
    one_problem(
        &p,
        "dupkey",
        "name: dupkey\nmatrix:\n  n: [1]\ncommand: 'true'\ncommand: 'false'\nresults: {keys: [n]}\n",
        5,
        1,
        &["duplicate key `command`", "line 4"],
        Some("give each key once"),
    );
    // Inside the matrix too, with the mapping named.
    one_problem(
        &p,
        "dupparam",
        "name: dupparam\nmatrix:\n  n: [1]\n  n: [2]\ncommand: 'true'\nresults: {keys: [n]}\n",
        4,
        3,
        &["duplicate key `n` in `matrix`", "line 3"],
        Some("give each key once"),
    );
}

#[test]
fn bytes_that_are_not_utf8_are_placed_and_reported_once() {
    let p = Project::new();
    let mut bytes = b"name: latin\ndescription: caf".to_vec();
    bytes.push(0xE9); // é in Latin-1
    bytes.extend_from_slice(b"\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n");
    std::fs::write(p.root().join("experiments/latin.yaml"), &bytes).unwrap();
    let (code, problems) = json_problems(&p, "latin");
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        (problems[0]["line"].as_u64(), problems[0]["column"].as_u64()),
        (Some(2), Some(17)),
        "{problems:#?}"
    );
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains("not UTF-8") && message.contains("0xE9"),
        "{message}"
    );
    let (code, _, err) = common::run(p.cmd().args(["validate", "latin"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("experiments/latin.yaml:2:17: the file is not UTF-8"),
        "{err}"
    );
    assert_eq!(
        err.matches("not UTF-8").count(),
        2,
        "the message and its label, nothing more:\n{err}"
    );
    assert!(!err.contains("stream did not contain valid UTF-8"), "{err}");
}

#[test]
fn alias_bomb_is_refused_naming_aliases() {
    let p = Project::new();
    let mut yaml =
        String::from("name: lol\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    yaml.push_str("matrix:\n  n: [1]\ncommand: 'true'\nresults: {keys: [n]}\n");
    // At the first alias, saying what was refused and why.
    one_problem(
        &p,
        "lol",
        &yaml,
        3,
        10,
        &["refused", "aliases", "expand to too much"],
        Some("anchors (`&name`) and aliases"),
    );
}

#[test]
fn tab_in_indentation_is_named() {
    let p = Project::new();
    one_problem(
        &p,
        "tab",
        "name: tab\nmatrix:\n\tn: [1]\ncommand: 'true'\nresults: {keys: [n]}\n",
        3,
        1,
        &["a tab in the indentation", "spaces only"],
        Some("replace the tab with spaces"),
    );
}

#[test]
fn timeout_banana_says_what_a_duration_is() {
    let p = Project::new();
    let (pr, _) = one_problem(
        &p,
        "banana",
        "name: banana\nmatrix:\n  n: [1]\ncommand: 'true'\ntimeout: banana\nresults: {keys: [n]}\n",
        5,
        10,
        &["`banana` is not a duration"],
        Some("for example 90s, 30m, 6h"),
    );
    // No wording from inside the duration parser.
    assert!(!pr["message"].as_str().unwrap().contains(" at 0"), "{pr}");
}

#[test]
fn every_schema_problem_is_reported_in_one_run() {
    let p = Project::new();
    // The file from the issue: four mistakes took four fix-and-rerun rounds.
    let yaml = "name: four\nrunner:\n  lables: [gpu]\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  file: results.txt\n  keys: [n]\ndataset:\n  layout: tall\ncompare:\n  measured: m.csv\n  on: [n]\n  predicted: p\n  actual: a\n  group_by: [n]\n";
    p.write("m.csv", "n,a\n1,2\n");
    p.experiment("four", yaml);
    let (code, problems) = json_problems(&p, "four");
    assert_eq!(code, 1);
    let got: Vec<(u64, u64, &str, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["column"].as_u64().unwrap(),
                p["message"].as_str().unwrap(),
                p["help"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(
        (got[0].0, got[0].1, got[0].3),
        (3, 3, "did you mean `labels`?")
    );
    assert!(
        got[0].2.starts_with(
            "runner: unknown field `lables`, expected one of `labels`, `container`, `job-timeout`"
        ),
        "{}",
        got[0].2
    );
    assert_eq!((got[1].0, got[1].1), (8, 9));
    assert!(
        got[1].2.contains("results file `results.txt`"),
        "{}",
        got[1].2
    );
    assert_eq!(
        (got[2].0, got[2].1, got[2].2),
        (
            11,
            11,
            "dataset.layout: unknown variant `tall`, expected `wide` or `long`"
        )
    );
    assert_eq!(
        (got[3].0, got[3].1, got[3].3),
        (17, 3, "did you mean `group-by`?")
    );
    assert!(
        got[3].2.starts_with("compare: unknown field `group_by`"),
        "{}",
        got[3].2
    );

    // Wrong types and missing fields, also together, each at its place.
    let yaml = "name: types\nissue: abc\nrunner: {labels: {a: 1}}\nmatrix: [n]\ntimeout: [1]\ngithub: {land: merge, refs: main}\n";
    p.experiment("types", yaml);
    let (code, problems) = json_problems(&p, "types");
    assert_eq!(code, 1);
    let got: Vec<(u64, u64, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["column"].as_u64().unwrap(),
                p["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, 1, "missing field `command`"),
            (1, 1, "missing field `results`"),
            (2, 8, "issue: invalid type: string \"abc\", expected u64"),
            (
                3,
                18,
                "runner.labels: invalid type: map, expected a string or a list of strings"
            ),
            (4, 9, "matrix: invalid type: sequence, expected a mapping"),
            (5, 10, "timeout: invalid type: sequence, expected a string"),
            (
                6,
                16,
                "github.land: unknown variant `merge`, expected one of `pull-request`, `branch`, `artifact`"
            ),
            (
                6,
                29,
                "github.refs: invalid type: string \"main\", expected a list of strings"
            ),
        ],
        "{problems:#?}"
    );
}

#[test]
fn a_huge_file_is_refused_naming_the_limit() {
    let p = Project::new();
    let mut yaml = String::from("name: huge\nmatrix:\n  n:\n");
    while yaml.len() <= 1024 * 1024 {
        yaml.push_str("    - a-value-that-is-long-enough-to-fill-a-megabyte-quickly\n");
    }
    yaml.push_str("command: 'true'\nresults: {keys: [n]}\n");
    p.experiment("huge", &yaml);
    let (code, problems) = json_problems(&p, "huge");
    assert_eq!(code, 1);
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the file is {} bytes", yaml.len()))
            && message.contains("at most 1048576 (1 MiB)"),
        "{message}"
    );
    let (code, _, err) = common::run(p.cmd().args(["generate", "huge"]));
    assert_ne!(code, 0);
    assert!(err.contains("at most 1048576 (1 MiB)"), "{err}");
    assert!(!p.root().join(".github/workflows/outrun-huge.yml").exists());
}

#[test]
fn a_long_description_is_refused() {
    let p = Project::new();
    let description = "word ".repeat(801);
    one_problem(
        &p,
        "long",
        &format!(
            "name: long\ndescription: {description}\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {{keys: [n]}}\n"
        ),
        2,
        14,
        &["the description is 4004 characters long", "at most 4000"],
        Some("room for the verdict"),
    );
    // 4,000 is fine.
    let ok = "x".repeat(4000);
    p.experiment("fits", &format!("name: fits\ndescription: {ok}\nmatrix:\n  n: [1]\ncommand: 'true'\nresults: {{keys: [n]}}\n"));
    let (code, out, err) = common::run(p.cmd().args(["validate", "fits"]));
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn the_largest_matrix_validates_in_linear_time() {
    let p = Project::new();
    // 256 × 256 = 65,536 cells, the documented maximum.
    let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let yaml = format!(
        "name: big\nmatrix:\n  a: [{}]\n  b: [{}]\ncommand: 'true'\nresults: {{keys: [a, b]}}\n",
        values(256),
        values(256)
    );
    p.experiment("big", &yaml);
    let started = std::time::Instant::now();
    let (code, problems) = json_problems(&p, "big");
    assert_eq!(code, 0, "{problems:?}");
    // Comparing every cell with every earlier one took minutes here; hashing takes well under
    // a second even in a debug build on a busy machine.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn deep_nesting_is_refused_quickly() {
    let p = Project::new();
    // libyaml's scanner is quadratic in flow nesting: half a megabyte of `[` took nine minutes.
    let yaml = format!("name: deep\nmatrix:\n  n: {}\n", "[".repeat(200_000));
    p.experiment("deep", &yaml);
    let started = std::time::Instant::now();
    let (code, problems) = json_problems(&p, "deep");
    assert_eq!(code, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("nested more than 256 levels"),
        "{problems:#?}"
    );
    assert_eq!(problems[0]["line"].as_u64(), Some(3));
}

/// `setup.cache` lands in `with:` of actions/cache: an expression or odd character is refused
/// at its position rather than pasted into the workflow.
#[test]
fn setup_cache_key_must_be_plain() {
    let p = Project::new();
    one_problem(
        &p,
        "cachekey",
        "name: cachekey\nsetup:\n  cache: {path: ~/tl, key: \"tl-${{ github.token }}\"}\nmatrix: {x: [1]}\ncommand: 'true'\nresults: {keys: [x]}\n",
        3,
        28,
        &["is not a plain cache key"],
        Some("letters, digits"),
    );
    one_problem(
        &p,
        "cachepath",
        "name: cachepath\nsetup:\n  cache: {path: ../outside, key: tl-1}\nmatrix: {x: [1]}\ncommand: 'true'\nresults: {keys: [x]}\n",
        3,
        17,
        &["is not a plain folder path"],
        Some("no `..`"),
    );
}
