//! The dataset's history and its one-pass merge, through the binary: one row per key by
//! default, an older run never replacing a newer one, `merge --migrate`, cells whose keys
//! clash, a layout switch, and datasets from elsewhere (an earlier outrun, hand edits).

use serde_json::Value;

use crate::common::{self, Project, WRITE_ROW, tiny_experiment};
use crate::dataset::{
    WRITE_ROW_BUMPED, dataset_bytes, dataset_path, dataset_rows, report_json, run_local,
};

/// (n, mode, value) of the report's results.
fn results(p: &Project, name: &str) -> Vec<(String, String, String)> {
    let rep = report_json(p, name);
    rep["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["n"].as_str().unwrap().into(),
                r["mode"].as_str().unwrap().into(),
                r["value"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn expected(bump: u32) -> Vec<(String, String, String)> {
    [1, 2, 3]
        .iter()
        .flat_map(|n| {
            ["a", "b"].map(|m| (n.to_string(), m.to_string(), (n * 10 + bump).to_string()))
        })
        .collect()
}

fn run_ok(p: &Project, name: &str, bump: &str) -> String {
    let (code, v, err) = run_local(p, name, &[("BUMP", bump)]);
    assert_eq!(code, 0, "{v}\n{err}");
    v["run_id"].as_str().unwrap().to_string()
}

#[test]
fn dataset_newest_history_keeps_one_row_per_key() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW_BUMPED));
    let run1 = run_ok(&p, "tiny", "0");
    let (code, second, err) = run_local(&p, "tiny", &[("BUMP", "5")]);
    assert_eq!(code, 0, "{err}");
    let run2 = second["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            &second["merge"]["rows_replaced"],
            &second["merge"]["rows_added"],
            &second["merge"]["rows_total"]
        ),
        (&Value::from(6), &Value::from(0), &Value::from(6)),
        "{second}"
    );
    let (_, rows) = dataset_rows(&p, "tiny");
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["outrun_run_id"] == run2), "{rows:?}");
    assert_eq!(results(&p, "tiny"), expected(5));
    let after = dataset_bytes(&p, "tiny");

    // The older run merged again, later: it replaces nothing, and says why.
    let from = format!(".outrun/runs/tiny/{run1}");
    let (code, out, err) = common::run(p.cmd().args(["merge", "tiny", "--from", &from]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(unchanged)"), "{out}");
    assert!(
        err.contains("6 row(s) not merged: the dataset has a newer run's row for their key"),
        "{err}"
    );
    let (_, out, _) = common::run(p.cmd().args(["merge", "tiny", "--from", &from, "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &v["summary"]["rows_older_ignored"],
            &v["summary"]["changed"]
        ),
        (&Value::from(6), &Value::from(false)),
        "{v}"
    );
    assert_eq!(dataset_bytes(&p, "tiny"), after);

    // The newest run merged again: byte for byte the same file.
    let (code, out, _) = common::run(p.cmd().args([
        "merge",
        "tiny",
        "--from",
        &format!(".outrun/runs/tiny/{run2}"),
    ]));
    assert_eq!(code, 0);
    assert!(
        out.contains("0 rows added, 6 replaced, 6 in all (unchanged)"),
        "{out}"
    );
    assert_eq!(dataset_bytes(&p, "tiny"), after);
}

#[test]
fn dataset_migrate_keeps_the_newest_run_per_key() {
    let p = Project::new();
    let all = format!(
        "{}dataset:\n  history: all\n",
        tiny_experiment("tiny", WRITE_ROW_BUMPED)
    );
    p.experiment("tiny", &all);
    run_ok(&p, "tiny", "0");
    let run2 = run_ok(&p, "tiny", "5");
    assert_eq!(dataset_rows(&p, "tiny").1.len(), 12);
    let before = String::from_utf8(dataset_bytes(&p, "tiny")).unwrap();
    assert_eq!(results(&p, "tiny"), expected(5));

    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW_BUMPED));
    let (code, out, err) = common::run(p.cmd().args(["merge", "tiny", "--migrate"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("6 older row(s) dropped, 6 in all"), "{out}");
    let (_, rows) = dataset_rows(&p, "tiny");
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["outrun_run_id"] == run2));
    // The lines kept are the old file's, unchanged and in order.
    let now = String::from_utf8(dataset_bytes(&p, "tiny")).unwrap();
    let mut old_lines = before.lines();
    for l in now.lines() {
        assert!(old_lines.any(|o| o == l), "a line changed: {l}");
    }
    assert_eq!(results(&p, "tiny"), expected(5));
    // Twice is once.
    let (code, out, _) = common::run(p.cmd().args(["merge", "tiny", "--migrate"]));
    assert_eq!(code, 0);
    assert!(out.contains("(unchanged)"), "{out}");
    assert_eq!(dataset_bytes(&p, "tiny"), now.as_bytes());
}

const OLD_HEADER: &str = "n,mode,value,outrun_experiment,outrun_cell,outrun_source,outrun_run_id,outrun_attempt,outrun_commit,outrun_started_at,outrun_finished_at";

#[test]
fn dataset_from_an_earlier_outrun_is_upgraded() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    // Keys the runs below never produce, from before rows carried their run's start.
    p.write(
        "data/evaluation/tiny.csv",
        &format!("{OLD_HEADER}\n9,a,1,tiny,old-a,local,local-1,1,,2025-01-01T00:00:00Z,2025-01-01T00:01:00Z\n9,b,2,tiny,old-b,local,local-1,1,,2025-01-01T00:00:05Z,2025-01-01T00:01:00Z\n"),
    );
    run_ok(&p, "tiny", "0");
    let (header, rows) = dataset_rows(&p, "tiny");
    assert_eq!(
        header.iter().filter(|h| h.starts_with("outrun_")).count(),
        9,
        "{header:?}"
    );
    let at = |h: &str| header.iter().position(|c| c == h).unwrap();
    assert_eq!(at("outrun_run_started_at") + 1, at("outrun_started_at"));
    assert_eq!(rows.len(), 8);
    let old: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["n"] == "9")
        .map(|r| {
            (
                r["outrun_run_started_at"].as_str(),
                r["outrun_started_at"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        old,
        [
            ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            ("2025-01-01T00:00:05Z", "2025-01-01T00:00:05Z")
        ]
    );
    // Sorted by key, numbers as numbers: the n=9 rows last.
    let ns: Vec<&str> = rows.iter().map(|r| r["n"].as_str()).collect();
    assert_eq!(ns, ["1", "1", "2", "2", "3", "3", "9", "9"]);
}

#[test]
fn dataset_edited_by_hand_keeps_its_columns_and_is_sorted_again() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW_BUMPED));
    run_ok(&p, "tiny", "0");
    let (header, rows) = dataset_rows(&p, "tiny");
    // Columns reordered (mode before n), a `note` column added, one row for a key of its own,
    // and the rows out of order.
    let mut cols: Vec<String> = vec!["note".into(), "mode".into(), "n".into()];
    cols.extend(header.iter().filter(|h| *h != "n" && *h != "mode").cloned());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&cols).unwrap();
    let mut extra = rows[0].clone();
    extra.insert("n".into(), "7".into());
    extra.insert("note".into(), "checked by hand, see lab book".into());
    for r in std::iter::once(&extra).chain(rows.iter().rev()) {
        w.write_record(
            cols.iter()
                .map(|c| r.get(c).map(String::as_str).unwrap_or("")),
        )
        .unwrap();
    }
    std::fs::write(dataset_path(&p, "tiny"), w.into_inner().unwrap()).unwrap();

    let run2 = run_ok(&p, "tiny", "5");
    let (header, rows) = dataset_rows(&p, "tiny");
    assert_eq!(
        &header[..4],
        ["note", "mode", "n", "value"],
        "the file's own column order stays"
    );
    let got: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["n"].as_str(),
                r["mode"].as_str(),
                r["value"].as_str(),
                r["note"].as_str(),
            )
        })
        .collect();
    let mut want: Vec<(String, &str, String, &str)> = expected(5)
        .into_iter()
        .map(|(n, m, v)| (n, if m == "a" { "a" } else { "b" }, v, ""))
        .collect();
    want.push((
        "7".into(),
        "a",
        "10".into(),
        "checked by hand, see lab book",
    ));
    let want: Vec<(&str, &str, &str, &str)> = want
        .iter()
        .map(|(n, m, v, o)| (n.as_str(), *m, v.as_str(), *o))
        .collect();
    assert_eq!(got, want);

    // Sorted now: the same run merged again leaves the bytes alone.
    let before = dataset_bytes(&p, "tiny");
    let run = report_json(&p, "tiny");
    assert_eq!(run["results_total"], 7);
    let (code, out, err) = common::run(p.cmd().args([
        "merge",
        "tiny",
        "--from",
        &format!(".outrun/runs/tiny/{run2}"),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(unchanged)"), "{out}");
    assert_eq!(dataset_bytes(&p, "tiny"), before);
}

#[test]
fn dataset_malformed_line_is_named_and_nothing_is_written() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW_BUMPED));
    run_ok(&p, "tiny", "0");
    let mut text = String::from_utf8(dataset_bytes(&p, "tiny")).unwrap();
    // Line 5 of the file: too few fields.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(4, "2,a,20");
    text = lines.join("\n") + "\n";
    std::fs::write(dataset_path(&p, "tiny"), &text).unwrap();
    let (code, v, err) = run_local(&p, "tiny", &[("BUMP", "5")]);
    assert_ne!(code, 0, "{v}");
    assert!(
        err.contains("tiny.csv, line 5: 3 fields where the header has 12"),
        "{err}"
    );
    assert_eq!(dataset_bytes(&p, "tiny"), text.as_bytes());
}

#[test]
fn dataset_cells_producing_the_same_key_both_fail() {
    let p = Project::new();
    // Keyed by `n` alone, but mode b writes n=7 whatever its own n: cells (1, b) and (2, b)
    // produce the same key.
    let command = r#"'if [ "$OUTRUN_P_MODE" = b ]; then n=7; else n=$OUTRUN_P_N; fi; printf "n,value\n%s,1\n" "$n" > "$OUTRUN_OUT/results.csv"'"#;
    let yaml = tiny_experiment("clash", command)
        .replace("n: [1, 2, 3]", "n: [1, 2]")
        .replace("keys: [n, mode]", "keys: [n]");
    p.experiment("clash", &yaml);
    let (code, v, err) = run_local(&p, "clash", &[]);
    assert_eq!(code, 1, "{v}\n{err}");
    let cells = v["report"]["cells"].as_array().unwrap();
    let failed: Vec<&Value> = cells.iter().filter(|c| c["status"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{v}");
    let ids: Vec<&str> = failed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for (c, other) in failed.iter().zip(ids.iter().rev()) {
        assert_eq!(c["params"]["mode"], "b");
        let e = c["error"].as_str().unwrap();
        assert!(
            e.contains("produces the key (7)") && e.contains(&format!("cell `{other}`")),
            "{e}"
        );
    }
    let (_, rows) = dataset_rows(&p, "clash");
    let ns: Vec<&str> = rows.iter().map(|r| r["n"].as_str()).collect();
    assert_eq!(ns, ["1", "2"]);
}

#[test]
fn dataset_layout_switch_is_refused() {
    let p = Project::new();
    p.experiment("tiny", &tiny_experiment("tiny", WRITE_ROW));
    run_ok(&p, "tiny", "0");
    let before = dataset_bytes(&p, "tiny");
    p.experiment(
        "tiny",
        &format!(
            "{}dataset:\n  layout: long\n",
            tiny_experiment("tiny", WRITE_ROW)
        ),
    );
    let (code, _, err) = common::run(p.cmd().args(["run", "tiny", "--local"]));
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "was written in the wide layout and the experiment now declares `layout: long`"
        ),
        "{err}"
    );
    assert_eq!(dataset_bytes(&p, "tiny"), before);
}

/// The report a run prints is gathered while the merge writes the dataset (no second pass over
/// the file); `outrun report` reads the file. Both must show the same newest rows, in either
/// layout and history, after runs that replace rows — and after the file was shuffled by hand
/// (the merge then sorts it and the report falls back to reading it).
#[test]
fn the_report_gathered_during_the_merge_is_the_report_of_the_file() {
    let two_values = r#"'printf "n,mode,value,twice\n%s,%s,%s,%s\n" "$OUTRUN_P_N" "$OUTRUN_P_MODE" "$((OUTRUN_P_N * 10 + ${BUMP:-0}))" "$((OUTRUN_P_N * 20 + ${BUMP:-0}))" > "$OUTRUN_OUT/results.csv"'"#;
    for (layout, history) in [
        ("wide", "newest"),
        ("wide", "all"),
        ("long", "newest"),
        ("long", "all"),
    ] {
        let p = Project::new();
        p.experiment(
            "t",
            &format!(
                "{}dataset:\n  layout: {layout}\n  history: {history}\n",
                tiny_experiment("t", two_values)
            ),
        );
        for (round, bump) in ["0", "5", "7"].into_iter().enumerate() {
            if round == 2 {
                // Rows out of order, as a hand edit might leave them.
                let path = dataset_path(&p, "t");
                let text = std::fs::read_to_string(&path).unwrap();
                let mut lines: Vec<&str> = text.lines().collect();
                lines[1..].reverse();
                std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            }
            let (code, run, err) = run_local(&p, "t", &[("BUMP", bump)]);
            assert_eq!(code, 0, "{layout}/{history}: {err}");
            let file = report_json(&p, "t");
            for field in ["columns", "results", "results_total", "comparison"] {
                assert_eq!(
                    run["report"][field], file[field],
                    "{layout}/{history}, run {round}: `{field}` differs"
                );
            }
            let want = (1..=3)
                .flat_map(|n| ["a", "b"].map(|m| (n, m)))
                .map(|(n, m)| {
                    let b: u32 = bump.parse().unwrap();
                    (n.to_string(), m.to_string(), (n * 10 + b).to_string())
                })
                .collect::<Vec<_>>();
            assert_eq!(results(&p, "t"), want, "{layout}/{history}, run {round}");
        }
    }
}
