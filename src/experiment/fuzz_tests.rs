//! No panic on any input (issue 21 item 11): random experiment and comparison files, from a
//! seeded generator, through everything `validate`, `plan`, `list` and `generate` do in-process —
//! parse and validate, the error's rendering (miette, as the binary prints it), the limit
//! warnings, the workflow and its cells file, the jobs. A panic fails the test with the seed and
//! the input.
//!
//! The normal suite runs [`CASES`] cases; the ignored `fuzz_many` runs more:
//! `OUTRUN_FUZZ_CASES=200000 OUTRUN_FUZZ_SEED=7 cargo test --release --lib fuzz_many -- --ignored`.

use std::path::Path;

/// Cases in the normal suite (a few seconds in a debug build).
const CASES: u64 = 3_000;

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const KEYS: &[&str] = &[
    "name",
    "description",
    "issue",
    "runner",
    "labels",
    "container",
    "job-timeout",
    "setup",
    "python",
    "steps",
    "cache",
    "path",
    "key",
    "matrix",
    "include",
    "command",
    "timeout",
    "results",
    "file",
    "keys",
    "dataset",
    "layout",
    "history",
    "compare",
    "measured",
    "on",
    "predicted",
    "actual",
    "group-by",
    "github",
    "refs",
    "land",
    "branch",
    "install",
    "comand",
    "x",
    "A",
    "a",
    "OUTRUN_P_X",
];

const ATOMS: &[&str] = &[
    "",
    "x",
    "1",
    "-1",
    "0",
    "1.5",
    "1e400",
    "99999999999999999999999",
    "true",
    "null",
    "~",
    "1m",
    "6h",
    "5d",
    "0s",
    "wide",
    "long",
    "all",
    "newest",
    "artifact",
    "results.csv",
    "r.jsonl",
    "data/evaluation/x.csv",
    "../x.csv",
    "/etc/passwd",
    "ubuntu-latest",
    "self-hosted",
    "${{ secrets.X }}",
    "\\u0024{{ x }}",
    "echo \u{1f680}",
    "a\u{2028}b",
    "a\u{85}b",
    "a\u{feff}b",
    "é",
    "*",
    "[",
    "{",
    "&a",
    "*a",
    "!!binary",
    "|",
    ">",
    "- ",
    ": ",
    "#",
    "'",
    "\"",
    "\t",
    "%YAML 1.2",
    "---",
    "...",
];

/// A random scalar, sometimes quoted, sometimes long.
fn scalar(r: &mut Rng) -> String {
    let s = if r.chance(40) {
        // A long line: errors past column 65,535 once panicked in miette.
        "y".repeat(60_000 + r.below(20_000))
    } else if r.chance(5) {
        (0..r.below(12))
            .map(|_| match r.below(6) {
                0 => char::from_u32(r.below(0x11_0000) as u32).unwrap_or('?'),
                1 => *r.pick(&['\n', '\r', '\0', '\u{2028}', '\u{2029}', '\u{85}', '\t']),
                _ => (b' ' + r.below(95) as u8) as char,
            })
            .collect()
    } else {
        r.pick(ATOMS).to_string()
    };
    match r.below(4) {
        0 => format!("{s:?}"),
        1 => format!("'{}'", s.replace('\'', "''")),
        _ => s,
    }
}

/// A random YAML value at `indent`, at most `depth` levels deep.
fn value(r: &mut Rng, indent: usize, depth: usize) -> String {
    if depth == 0 || r.chance(2) {
        return scalar(r);
    }
    let pad = " ".repeat(indent + 2);
    match r.below(4) {
        0 => {
            let items: Vec<String> = (0..r.below(4)).map(|_| scalar(r)).collect();
            format!("[{}]", items.join(", "))
        }
        1 => {
            let items: Vec<String> = (0..r.below(3))
                .map(|_| format!("{}: {}", r.pick(KEYS), scalar(r)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        2 => {
            let mut s = String::new();
            for _ in 0..1 + r.below(3) {
                s.push_str(&format!("\n{pad}- {}", value(r, indent + 2, depth - 1)));
            }
            s
        }
        _ => mapping(r, indent + 2, depth - 1),
    }
}

fn mapping(r: &mut Rng, indent: usize, depth: usize) -> String {
    let pad = " ".repeat(indent);
    let mut s = String::new();
    for _ in 0..1 + r.below(4) {
        s.push_str(&format!(
            "\n{pad}{}: {}",
            r.pick(KEYS),
            value(r, indent, depth)
        ));
    }
    s
}

/// A random experiment file: a valid one mutated, or one built from random keys and values.
fn experiment(r: &mut Rng) -> String {
    const BASE: &str =
        "name: fz\nmatrix:\n  a: [1, 2]\n  b: [x]\ncommand: ./run.sh\nresults:\n  keys: [a]\n";
    let mut text = match r.below(3) {
        0 => BASE.to_string(),
        1 => mapping(r, 0, 3).trim_start().to_string(),
        _ => format!("{BASE}{}", mapping(r, 0, 3).trim_start()),
    };
    for _ in 0..r.below(4) {
        match r.below(5) {
            // Replace a value.
            0 => {
                let at: Vec<usize> = text.match_indices(": ").map(|(i, _)| i).collect();
                if !at.is_empty() {
                    let i = *r.pick(&at) + 2;
                    let end = text[i..].find('\n').map_or(text.len(), |e| i + e);
                    text.replace_range(i..end, &scalar(r));
                }
            }
            // Insert random text at a random char boundary.
            1 => {
                let mut at = r.below(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, &scalar(r));
            }
            // Append a (possibly misspelt) key on a long flow line.
            2 => text.push_str(&format!(
                "\n{}: {}",
                r.pick(KEYS),
                value(r, 0, 2).trim_start()
            )),
            // Cut the file somewhere.
            3 => {
                let mut at = r.below(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            _ => text = text.replace('\n', if r.chance(2) { "\r\n" } else { "\n\t" }),
        }
    }
    text
}

/// Everything `validate`, `plan`, `list` and `generate` do with one experiment text; whether
/// it was valid.
fn exercise(root: &Path, text: String) -> bool {
    match super::parse(root, Path::new("experiments/fz.yaml"), text) {
        Ok(plan) => {
            let _ = crate::workflow::limit_warnings(&plan);
            let _ = crate::workflow::render_all(root, &plan);
            let _ = crate::workflow::jobs(&plan, plan.cells.iter().map(|c| c.id.as_str()));
            true
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = format!("{:?}", miette::Report::new(e));
            false
        }
    }
}

/// A comparison file's text through `compare`'s loader and the same rendering.
fn exercise_compare(root: &Path, text: &str) {
    let file = root.join("comparisons/fz.yaml");
    std::fs::write(&file, text).expect("write");
    if let Err(e) = crate::compare::decl::load(root, &file) {
        let _ = e.to_string();
        let _ = format!("{:?}", miette::Report::new(e));
    }
}

fn run(seed: u64, cases: u64) {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("comparisons")).expect("mkdir");
    let mut r = Rng(seed | 1);
    let mut valid = 0;
    for case in 0..cases {
        let text = experiment(&mut r);
        let compare = r.chance(10);
        let shown = text.chars().take(2_000).collect::<String>();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if compare {
                exercise_compare(root.path(), &text);
                false
            } else {
                exercise(root.path(), text)
            }
        }));
        match outcome {
            Ok(ok) => valid += usize::from(ok),
            Err(_) => {
                panic!("seed {seed}, case {case} panicked (compare: {compare}) on:\n{shown:?}")
            }
        }
    }
    eprintln!("{cases} cases, {valid} valid experiments rendered");
    // The generator reaches the rendering, not only the parser's errors.
    assert!(
        valid as u64 * 20 >= cases,
        "only {valid} of {cases} cases were valid"
    );
}

/// The two cases, always: a misspelt key past column 65,535 in an experiment file and
/// in a comparison file.
#[test]
fn an_error_past_column_65535_is_reported_not_a_panic() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("comparisons")).expect("mkdir");
    let long = "x".repeat(70_000);
    let text = format!(
        "{{name: fz, matrix: {{a: [1]}}, command: \"{long}\", results: {{keys: [a]}}, comand: y}}\n"
    );
    let column = text.find("comand: y").expect("the key") + 1;
    let Err(e) = super::parse(root.path(), Path::new("experiments/fz.yaml"), text) else {
        panic!("the misspelt key is an error");
    };
    // The message keeps the true position; the rendering shows a window of the line.
    let message = e.to_string();
    assert!(
        message.contains(&format!("experiments/fz.yaml:1:{column}")),
        "{message}"
    );
    let shown = format!("{:?}", miette::Report::new(e));
    assert!(shown.contains("comand"), "{shown}");
    assert!(shown.len() < 5_000, "{} bytes", shown.len());
    exercise_compare(
        root.path(),
        &format!("experiment: x\ncolumns: {{a: \"{long}\", bogus: 1, misspelt_key: 2}}\n"),
    );
}

#[test]
fn random_experiment_files_never_panic() {
    run(21, CASES);
}

#[test]
#[ignore = "the long fuzz run: OUTRUN_FUZZ_CASES, OUTRUN_FUZZ_SEED"]
fn fuzz_many() {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    run(
        var("OUTRUN_FUZZ_SEED", 1),
        var("OUTRUN_FUZZ_CASES", 100_000),
    );
}
