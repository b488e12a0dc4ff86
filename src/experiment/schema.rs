//! The experiment file's shape, checked field by field on the parsed YAML value before serde
//! sees it.
//!
//! serde stops at the first unknown field or wrong type, so a file with four mistakes took four
//! fix-and-rerun rounds. This pass reports every unknown field (with the likely intended name),
//! wrong type, bad choice and missing field at once, in serde's words, and hands back a repaired
//! value — offending optional values dropped (their defaults apply), required ones replaced by
//! placeholders — so that the semantic checks can still run on everything else.
//!
//! It must describe exactly what `types.rs` accepts; a unit test below holds the two together.

use serde_yaml::{Mapping, Value};

use super::closest;
use super::error::Problem;
use super::locate::{Locator, Seg, display_path};

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Any scalar: serde_yaml reads `3.11`, `5` or `true` as text where a string is wanted.
    Text,
    /// A non-negative integer (`issue`).
    Count,
    /// A list of scalars.
    TextList,
    /// One scalar or a list of them (`labels: gpu`).
    TextOrList,
    /// A mapping whose contents are checked elsewhere, with positions (the matrix).
    AnyMapping,
    /// One of these words.
    Choice(&'static [&'static str]),
    Struct(&'static [Field]),
    /// A struct that an empty value leaves out (`compare:` is no comparison).
    OptStruct(&'static [Field]),
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}
const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

use Kind::{AnyMapping, Choice, Count, OptStruct, Struct, Text, TextList, TextOrList};

const TOP: &[Field] = &[
    req("name", Text),
    opt("description", Text),
    opt("issue", Count),
    opt("runner", Struct(RUNNER)),
    opt("setup", Struct(SETUP)),
    req("matrix", AnyMapping),
    req("command", Text),
    opt("timeout", Text),
    req("results", Struct(RESULTS)),
    opt("dataset", Struct(DATASET)),
    opt("compare", OptStruct(COMPARE)),
    opt("github", Struct(GITHUB)),
];
const RUNNER: &[Field] = &[
    opt("labels", TextOrList),
    opt("container", Text),
    opt("job-timeout", Text),
];
const SETUP: &[Field] = &[
    opt("python", Text),
    opt("steps", TextList),
    opt("cache", Struct(SETUP_CACHE)),
];
const SETUP_CACHE: &[Field] = &[req("path", Text), req("key", Text)];
const RESULTS: &[Field] = &[
    opt("file", Text),
    req("keys", TextList),
    opt("max-size", Text),
];
const DATASET: &[Field] = &[
    opt("path", Text),
    opt("layout", Choice(&["wide", "long"])),
    opt("history", Choice(&["newest", "all"])),
];
const COMPARE: &[Field] = &[
    req("measured", Text),
    req("on", TextList),
    req("predicted", Text),
    req("actual", Text),
    opt("group-by", TextList),
];
const GITHUB: &[Field] = &[
    opt("refs", TextList),
    opt("land", Choice(&["pull-request", "branch", "artifact"])),
    opt("branch", Text),
    opt("install", Text),
];

/// The path of every text field of the experiment file (`["runner", "labels"]`; lists and the
/// matrix included), from the same shape the checks use: a test feeds each one hostile text, so
/// a field added later is covered without anyone remembering to add it.
#[cfg(test)]
pub(crate) fn text_fields() -> Vec<(Vec<&'static str>, bool)> {
    fn walk(
        at: &[&'static str],
        fields: &'static [Field],
        out: &mut Vec<(Vec<&'static str>, bool)>,
    ) {
        for f in fields {
            let mut p = at.to_vec();
            p.push(f.name);
            match f.kind {
                Text => out.push((p, false)),
                TextList | TextOrList => out.push((p, true)),
                Struct(inner) | OptStruct(inner) => walk(&p, inner, out),
                AnyMapping => out.push((p, false)),
                Count | Choice(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&[], TOP, &mut out);
    out
}

/// What the shape check found.
pub(crate) struct Checked {
    /// The document with every offending value dropped or replaced by a placeholder.
    pub value: Value,
    pub problems: Vec<Problem>,
    /// Paths whose values are placeholders: problems the semantic checks find there are
    /// consequences of problems already reported.
    pub placeholders: Vec<Vec<Seg>>,
}

/// Checks the whole document against the experiment file's shape.
pub(crate) fn check(value: Value, loc: &Locator, stem: &str) -> Checked {
    let mut c = Checker {
        loc,
        stem,
        problems: Vec::new(),
        placeholders: Vec::new(),
    };
    let value = match value {
        Value::Mapping(m) => Value::Mapping(c.fields(&[], m, TOP)),
        Value::Null => Value::Mapping(c.fields(&[], Mapping::new(), TOP)),
        other => {
            c.at_value(
                &[],
                format!(
                    "invalid type: {}, expected a mapping of the experiment's fields",
                    unexpected(&other)
                ),
                None,
            );
            Value::Mapping(c.fields(&[], Mapping::new(), TOP))
        }
    };
    Checked {
        value,
        problems: c.problems,
        placeholders: c.placeholders,
    }
}

struct Checker<'a> {
    loc: &'a Locator,
    stem: &'a str,
    problems: Vec<Problem>,
    placeholders: Vec<Vec<Seg>>,
}

impl Checker<'_> {
    /// serde_yaml's message style: the dotted path, then what is wrong.
    fn message(path: &[Seg], m: String) -> String {
        if path.is_empty() {
            m
        } else {
            format!("{}: {m}", display_path(path))
        }
    }
    fn at_value(&mut self, path: &[Seg], m: String, help: Option<String>) {
        let pos = self.loc.value(path);
        self.problems.push(Problem {
            pos,
            message: Self::message(path, m),
            help,
        });
    }

    /// The fields of one struct: unknown keys, each known field's value, then missing fields.
    fn fields(&mut self, at: &[Seg], map: Mapping, fields: &'static [Field]) -> Mapping {
        let mut out = Mapping::new();
        // Fields offered as "did you mean": `comand` is not also reported as a missing `command`.
        let mut suggested: Vec<&str> = Vec::new();
        for (k, v) in map {
            let key = match &k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            let mut path = at.to_vec();
            path.push(Seg::Key(key.clone()));
            let Some(field) = fields.iter().find(|f| Value::String(f.name.into()) == k) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                // `group_by` for `group-by`: the distance is one, so closest() finds it.
                let help = match closest(&key, names.iter().copied()) {
                    Some(c) => {
                        suggested.push(c);
                        Some(format!("did you mean `{c}`?"))
                    }
                    None => Some(format!("known fields: {}", names.join(", "))),
                };
                let pos = self.loc.key(&path);
                let message = Self::message(
                    at,
                    format!("unknown field `{key}`, {}", one_of(&names, "fields")),
                );
                self.problems.push(Problem { pos, message, help });
                continue;
            };
            match self.value(&path, v, field.kind) {
                Some(v) => {
                    out.insert(k, v);
                }
                None if field.required => {
                    out.insert(k, self.placeholder(&path, field.kind));
                }
                None => {}
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            if !out.contains_key(f.name) {
                if !suggested.contains(&f.name) {
                    let pos = if at.is_empty() {
                        self.loc.value(at)
                    } else {
                        self.loc.key(at)
                    };
                    self.problems.push(Problem {
                        pos,
                        message: Self::message(at, format!("missing field `{}`", f.name)),
                        help: None,
                    });
                }
                let mut path = at.to_vec();
                path.push(Seg::Key(f.name.into()));
                let v = self.placeholder(&path, f.kind);
                out.insert(Value::String(f.name.into()), v);
            }
        }
        out
    }

    /// The value if it has the right shape (repaired inside), or None after reporting why not.
    fn value(&mut self, path: &[Seg], v: Value, kind: Kind) -> Option<Value> {
        // A tagged value (`!foo x`) is rare enough to leave to serde, which reports it itself.
        if matches!(v, Value::Tagged(_)) {
            return Some(v);
        }
        match kind {
            Text => {
                if is_scalar(&v) {
                    return Some(v);
                }
                self.at_value(
                    path,
                    format!("invalid type: {}, expected a string", unexpected(&v)),
                    None,
                );
                None
            }
            Count => self.count(path, v),
            TextList | TextOrList => self.text_list(path, v, kind),
            AnyMapping => match v {
                Value::Mapping(_) => Some(v),
                Value::Null => Some(Value::Mapping(Mapping::new())),
                v => {
                    self.at_value(
                        path,
                        format!("invalid type: {}, expected a mapping", unexpected(&v)),
                        None,
                    );
                    None
                }
            },
            Choice(words) => self.choice(path, v, words),
            Struct(fields) | OptStruct(fields) => match v {
                Value::Mapping(m) => Some(Value::Mapping(self.fields(path, m, fields))),
                // An empty `compare:` is no comparison (left out); an empty `runner:` or
                // `results:` is an empty mapping to serde_yaml.
                Value::Null if matches!(kind, OptStruct(_)) => None,
                Value::Null => Some(Value::Mapping(self.fields(path, Mapping::new(), fields))),
                v => {
                    self.at_value(
                        path,
                        format!("invalid type: {}, expected a mapping", unexpected(&v)),
                        None,
                    );
                    None
                }
            },
        }
    }

    /// A `Count`: a non-negative integer, or nothing.
    fn count(&mut self, path: &[Seg], v: Value) -> Option<Value> {
        match &v {
            Value::Null => Some(v),
            Value::Number(n) if n.as_u64().is_some() => Some(v),
            Value::Number(_) => {
                self.at_value(
                    path,
                    format!("invalid value: {}, expected u64", unexpected(&v)),
                    None,
                );
                None
            }
            _ => {
                self.at_value(
                    path,
                    format!("invalid type: {}, expected u64", unexpected(&v)),
                    None,
                );
                None
            }
        }
    }

    /// A `TextList` (or a `TextOrList`, which also takes one string): every item a scalar.
    fn text_list(&mut self, path: &[Seg], v: Value, kind: Kind) -> Option<Value> {
        match v {
            // `keys:` with nothing after it is an empty list to serde_yaml.
            Value::Null => Some(Value::Sequence(Vec::new())),
            Value::Sequence(items) => {
                let mut ok = Vec::with_capacity(items.len());
                let mut bad = false;
                for (i, item) in items.into_iter().enumerate() {
                    let mut p = path.to_vec();
                    p.push(Seg::Index(i));
                    if is_scalar(&item) || matches!(item, Value::Tagged(_)) {
                        ok.push(item);
                    } else {
                        self.at_value(
                            &p,
                            format!("invalid type: {}, expected a string", unexpected(&item)),
                            None,
                        );
                        bad = true;
                    }
                }
                (!bad).then_some(Value::Sequence(ok))
            }
            v if matches!(kind, TextOrList) && is_scalar(&v) => Some(v),
            v => {
                let want = if matches!(kind, TextOrList) {
                    "a string or a list of strings"
                } else {
                    "a list of strings"
                };
                self.at_value(
                    path,
                    format!("invalid type: {}, expected {want}", unexpected(&v)),
                    None,
                );
                None
            }
        }
    }

    /// A `Choice`: one of `words`, or left out.
    fn choice(&mut self, path: &[Seg], v: Value, words: &'static [&'static str]) -> Option<Value> {
        match &v {
            // Left out, so that the default applies (every choice is optional).
            Value::Null => None,
            Value::String(s) if words.contains(&s.as_str()) => Some(v),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                let word = match &v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                let help =
                    closest(&word, words.iter().copied()).map(|c| format!("did you mean `{c}`?"));
                self.at_value(
                    path,
                    format!("unknown variant `{word}`, {}", one_of(words, "variants")),
                    help,
                );
                None
            }
            _ => {
                self.at_value(
                    path,
                    format!(
                        "invalid type: {}, {}",
                        unexpected(&v),
                        one_of(words, "variants")
                    ),
                    None,
                );
                None
            }
        }
    }

    /// A stand-in for a required value that is missing or wrong, so that the rest of the file
    /// can still be checked.
    fn placeholder(&mut self, path: &[Seg], kind: Kind) -> Value {
        self.placeholders.push(path.to_vec());
        match kind {
            Text if path == [Seg::Key("name".into())] => Value::String(self.stem.into()),
            Text => Value::String("true".into()),
            Count => Value::Null,
            TextList | TextOrList => Value::Sequence(Vec::new()),
            AnyMapping => Value::Mapping(Mapping::new()),
            Choice(words) => Value::String(words[0].into()),
            Struct(fields) | OptStruct(fields) => {
                Value::Mapping(self.fields_placeholder(path, fields))
            }
        }
    }

    fn fields_placeholder(&mut self, path: &[Seg], fields: &'static [Field]) -> Mapping {
        let mut m = Mapping::new();
        for f in fields.iter().filter(|f| f.required) {
            let mut p = path.to_vec();
            p.push(Seg::Key(f.name.into()));
            let v = self.placeholder(&p, f.kind);
            m.insert(Value::String(f.name.into()), v);
        }
        m
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    )
}

/// serde's words for what was found (`serde::de::Unexpected`).
fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "unit value".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Sequence(_) => "sequence".into(),
        Value::Mapping(_) => "map".into(),
        Value::Tagged(_) => "tagged value".into(),
    }
}

/// serde's list of what was expected: "expected `a`", "expected `a` or `b`", "expected one of …".
fn one_of(names: &[&str], what: &str) -> String {
    match names {
        [] => format!("there are no {what}"),
        [a] => format!("expected `{a}`"),
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => format!(
            "expected one of {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::types::ExperimentFile;

    /// Every field serde knows is in the shape, and nothing more: serialising a file with every
    /// optional part present gives exactly the shape's keys.
    #[test]
    fn the_shape_matches_the_types() {
        let text = "name: x\nmatrix: {n: [1]}\ncommand: c\nresults: {keys: [n]}\nsetup: {cache: {path: p, key: k}}\ncompare: {measured: m.csv, on: [n], predicted: p, actual: a}\n";
        let f: ExperimentFile = serde_yaml::from_str(text).unwrap();
        let v = serde_yaml::to_value(&f).unwrap();
        fn walk(v: &Value, fields: &[Field], at: &str) {
            let Value::Mapping(m) = v else {
                panic!("{at} is not a mapping")
            };
            let keys: Vec<&str> = m.keys().map(|k| k.as_str().unwrap()).collect();
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            assert_eq!(keys, names, "at {at}");
            for f in fields {
                if let Kind::Struct(inner) | Kind::OptStruct(inner) = f.kind {
                    walk(&m[f.name], inner, f.name);
                }
            }
        }
        walk(&v, TOP, "top");
        // The choices are the enums' variants.
        for (text, field) in [("wide", "layout"), ("long", "layout")] {
            let d: crate::experiment::types::DatasetSpec =
                serde_yaml::from_str(&format!("{field}: {text}")).unwrap();
            assert_eq!(
                serde_yaml::to_value(d.layout).unwrap(),
                Value::String(text.into())
            );
        }
        for text in ["pull-request", "branch", "artifact"] {
            let g: crate::experiment::types::GithubSpec =
                serde_yaml::from_str(&format!("land: {text}")).unwrap();
            assert_eq!(
                serde_yaml::to_value(g.land).unwrap(),
                Value::String(text.into())
            );
        }
        let Kind::Choice(w) = DATASET[1].kind else {
            panic!()
        };
        assert_eq!(w, ["wide", "long"]);
        for text in ["newest", "all"] {
            let d: crate::experiment::types::DatasetSpec =
                serde_yaml::from_str(&format!("history: {text}")).unwrap();
            assert_eq!(
                serde_yaml::to_value(d.history).unwrap(),
                Value::String(text.into())
            );
        }
        let Kind::Choice(w) = DATASET[2].kind else {
            panic!()
        };
        assert_eq!(w, ["newest", "all"]);
        let Kind::Choice(w) = GITHUB[1].kind else {
            panic!()
        };
        assert_eq!(w, ["pull-request", "branch", "artifact"]);
    }

    #[test]
    fn every_problem_at_once() {
        let text = "name: x\nrunner:\n  lables: [gpu]\nmatrix: {n: [1]}\ncommand: c\nresults: {keys: [n]}\ndataset: {layout: tall}\ncompare: {measured: m.csv, on: [n], predicted: p, actual: a, group_by: [n]}\n";
        let loc = Locator::new(text);
        let c = check(serde_yaml::from_str(text).unwrap(), &loc, "x");
        let got: Vec<(usize, usize, &str)> = c
            .problems
            .iter()
            .map(|p| (p.pos.line, p.pos.column, p.message.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert_eq!((got[0].0, got[0].1), (3, 3));
        assert!(
            got[0].2.starts_with("runner: unknown field `lables`"),
            "{}",
            got[0].2
        );
        assert_eq!(
            c.problems[0].help.as_deref(),
            Some("did you mean `labels`?")
        );
        assert_eq!(
            got[1],
            (
                7,
                19,
                "dataset.layout: unknown variant `tall`, expected `wide` or `long`"
            )
        );
        assert_eq!(
            c.problems[2].help.as_deref(),
            Some("did you mean `group-by`?")
        );
        assert!(c.placeholders.is_empty());
    }
}
