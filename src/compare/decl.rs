//! Comparison declarations (`comparisons/NAME.yaml`): which datasets to join, on which keys,
//! in which units. Loading reads every dataset named, so that a missing column, a filter that
//! leaves two rows with one key, or a conversion without a clock is reported at once, each with
//! the file, line and column of the field that causes it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CompareError, norm};
use crate::experiment::locate::{Locator, Pos, Seg};
use crate::experiment::{self, InvalidFile, Problem, closest, is_relative_inside};

/// Largest declaration read, as for experiment files.
pub const MAX_FILE_BYTES: u64 = experiment::MAX_FILE_BYTES;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Declaration {
    #[serde(default)]
    pub description: String,
    /// The columns that identify a case on every side, e.g. `[layer, N]`.
    pub keys: Vec<String>,
    /// Statistics (and Mermaid charts) also per value of these key columns, e.g. `[N]`.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The output folder, relative to the project root (default `data/evaluation/compare-NAME`).
    #[serde(default)]
    pub out: Option<String>,
    /// What the series are compared with (e.g. measurements).
    pub reference: Source,
    /// The predictions, one per tool (or configuration).
    #[serde(default)]
    pub series: Vec<Source>,
    /// Sets of series that model the same thing in the same unit (the same accelerator array, in
    /// cycles), compared with each other and with a floor.
    #[serde(default)]
    pub agreement: Vec<Agreement>,
}

/// One column of one CSV file, restricted by `where`, in a stated unit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Source {
    pub label: String,
    /// A CSV file relative to the project root.
    pub path: String,
    /// The column holding the value.
    pub value: String,
    pub unit: Unit,
    /// The clock the cycles count at, to convert cycles into time (or time into cycles).
    #[serde(default)]
    pub clock_ghz: Option<f64>,
    /// A factor applied after the unit conversion (e.g. occurrences, or a calibration).
    #[serde(default)]
    pub scale: Option<f64>,
    /// A series only: a floor in the reference's unit, applied after the conversion: the
    /// value becomes max(value, at-least) (a launch/dispatch floor measured separately).
    #[serde(default)]
    pub at_least: Option<f64>,
    /// Only rows whose columns have these values (`dtype: float16`, `array_rows: 32`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, serde_yaml::Value>,
    /// The file's own name for a key column where it differs (`{N: batch}`).
    #[serde(default)]
    pub key_columns: BTreeMap<String, String>,
    /// How rows that share a key after the filter (repeated measurements) become one value;
    /// without it such rows are an error.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// A series only: state one worked example per group in the Markdown ("layer L at N=n:
    /// the tool predicted X, the reference measured Z"), the row of median error.
    #[serde(default)]
    pub example: bool,
    /// What produced the values, in words (tool and version, settings): shown beside the runs
    /// and commits the file's rows name (`outrun_run_id`, `outrun_commit`).
    #[serde(default)]
    pub provenance: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Mean,
    Median,
    Min,
    Max,
}

impl Aggregate {
    /// Of a non-empty list.
    fn apply(self, v: &[f64]) -> f64 {
        use super::stats;
        match self {
            Aggregate::Mean => stats::mean(v),
            Aggregate::Median => stats::median(v),
            Aggregate::Min => v.iter().copied().reduce(f64::min),
            Aggregate::Max => v.iter().copied().reduce(f64::max),
        }
        .unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    S,
    Ms,
    #[serde(alias = "µs")]
    Us,
    Ns,
    Cycles,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::S => "s",
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::Ns => "ns",
            Unit::Cycles => "cycles",
        }
    }
    /// The unit as (power of ten of a second, factor): `ms` is 10⁻³ s; a cycle at `g` GHz is
    /// 10⁻⁹ s / g. Kept apart so that µs → ms is exactly 10⁻³, not 1e-6 / 1e-3.
    fn seconds(self, clock_ghz: Option<f64>) -> Option<(i32, f64)> {
        match self {
            Unit::S => Some((0, 1.0)),
            Unit::Ms => Some((-3, 1.0)),
            Unit::Us => Some((-6, 1.0)),
            Unit::Ns => Some((-9, 1.0)),
            Unit::Cycles => clock_ghz.map(|g| (-9, 1.0 / g)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Agreement {
    pub label: String,
    /// The lower bound every series should stay above (e.g. ideal cycles = MACs / PEs).
    #[serde(default)]
    pub floor: Option<Source>,
    pub series: Vec<Source>,
}

/// A source's rows after its filter, by normalised key.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Every selected row in file order: its key and its value (or the text that is no number).
    pub rows: Vec<(Vec<String>, Result<f64, String>)>,
    index: HashMap<Vec<String>, usize>,
    /// For a dataset outrun wrote: the selected rows per run, as "RUN at COMMIT" (the commit's
    /// first 7 characters; "RUN" alone when the commit is blank) from its `outrun_run_id` and
    /// `outrun_commit` columns.
    pub runs: BTreeMap<String, usize>,
}

impl Table {
    pub fn get(&self, key: &[String]) -> Option<&Result<f64, String>> {
        self.index.get(key).map(|&i| &self.rows[i].1)
    }
}

/// A checked declaration with its data read.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file's stem: names the comparison and its default output folder.
    pub name: String,
    pub path: PathBuf,
    pub decl: Declaration,
    pub reference: Table,
    pub series: Vec<Table>,
    /// Per agreement: the floor's table, then each series'.
    pub agreement: Vec<(Option<Table>, Vec<Table>)>,
}

impl Loaded {
    pub fn out_dir(&self) -> PathBuf {
        match &self.decl.out {
            Some(o) => PathBuf::from(o),
            None => Path::new("data/evaluation").join(format!("compare-{}", self.name)),
        }
    }
}

/// The factor that turns a value in `from` into `to`: `Err` says what is missing.
pub fn factor(from: &Source, to_unit: Unit, to_clock: Option<f64>) -> Result<f64, String> {
    let scale = from.scale.unwrap_or(1.0);
    if from.unit == to_unit && (from.clock_ghz == to_clock || from.unit != Unit::Cycles) {
        return Ok(scale);
    }
    let (Some(a), Some(b)) = (from.unit.seconds(from.clock_ghz), to_unit.seconds(to_clock)) else {
        return Err(format!(
            "converting {} into {} needs the clock the cycles count at",
            from.unit.name(),
            to_unit.name()
        ));
    };
    Ok(10f64.powi(a.0 - b.0) * (a.1 / b.1) * scale)
}

/// Reads, checks and loads a declaration; `root` is what its data paths are relative to.
pub fn load(root: &Path, file: &Path) -> Result<Loaded, CompareError> {
    use std::io::Read as _;
    let io = |error| CompareError::Io {
        path: file.to_path_buf(),
        error,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    let shown = file.strip_prefix(root).unwrap_or(file).to_path_buf();
    let invalid = |text: String, mut problems: Vec<Problem>| {
        problems.sort_by_key(|p| (p.pos.line, p.pos.column));
        CompareError::Invalid(Box::new(InvalidFile::new(shown.clone(), text, problems)))
    };
    let at_start = |message: String| Problem {
        pos: Pos {
            line: 1,
            column: 1,
            ..Pos::default()
        },
        message,
        help: None,
    };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let msg = format!("the file is larger than {MAX_FILE_BYTES} bytes (1 MiB)");
        return Err(invalid(String::new(), vec![at_start(msg)]));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(invalid(
            String::new(),
            vec![at_start("the file is not UTF-8".into())],
        ));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
    let loc = Locator::new(&text);
    if let Some(pos) = experiment::too_deep(&text).or(loc.too_deep) {
        let p = Problem {
            pos,
            message: "refused: the document is nested too deeply".into(),
            help: None,
        };
        return Err(invalid(text, vec![p]));
    }
    let decl: Declaration = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            let problems = experiment::syntax_problems(&text, &e, &loc);
            return Err(invalid(text, problems));
        }
    };
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("comparison")
        .to_string();
    let mut c = Checker {
        loc: &loc,
        root,
        problems: Vec::new(),
    };
    c.check_decl(&decl, &name);
    let keys = &decl.keys;
    let reference = c.source(&[key("reference")], &decl.reference, keys, true);
    let series = (decl.series.iter().enumerate())
        .map(|(i, s)| c.source(&[key("series"), Seg::Index(i)], s, keys, false))
        .collect();
    let agreement = (decl.agreement.iter().enumerate())
        .map(|(i, a)| {
            let base = [key("agreement"), Seg::Index(i)];
            let floor = a.floor.as_ref().map(|f| {
                let p = [base.clone().as_slice(), &[key("floor")]].concat();
                c.source(&p, f, keys, false)
            });
            let series = (a.series.iter().enumerate())
                .map(|(j, s)| {
                    let p = [base.as_slice(), &[key("series"), Seg::Index(j)]].concat();
                    c.source(&p, s, keys, false)
                })
                .collect();
            (floor, series)
        })
        .collect();
    if !c.problems.is_empty() {
        return Err(invalid(text, c.problems));
    }
    Ok(Loaded {
        name,
        path: shown,
        decl,
        reference,
        series,
        agreement,
    })
}

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

fn with(base: &[Seg], more: &[&str]) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| key(k)));
    p
}

/// A `where` value as text: scalars only.
fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

struct Checker<'a> {
    loc: &'a Locator,
    root: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, p: &[Seg], message: impl Into<String>, help: Option<String>) {
        self.problems.push(Problem {
            pos: self.loc.value(p),
            message: message.into(),
            help,
        });
    }

    fn check_decl(&mut self, d: &Declaration, name: &str) {
        if !experiment::is_safe_name(name) {
            self.at(
                &[],
                format!("the file name `{name}` is not a safe comparison name"),
                Some("name the file with a-z, 0-9, `.`, `_` and `-`".into()),
            );
        }
        if d.keys.is_empty() {
            self.at(&[key("keys")], "name at least one key column", None);
        }
        for (i, k) in d.keys.iter().enumerate() {
            if k.trim().is_empty() || d.keys[..i].contains(k) {
                let p = [key("keys"), Seg::Index(i)];
                self.at(
                    &p,
                    format!("key column `{k}` is empty or listed twice"),
                    None,
                );
            }
        }
        for (i, g) in d.group_by.iter().enumerate() {
            if !d.keys.contains(g) {
                let p = [key("group-by"), Seg::Index(i)];
                self.at(
                    &p,
                    format!("group-by column `{g}` is not one of the keys"),
                    Some(format!("the keys are: {}", d.keys.join(", "))),
                );
            }
        }
        if let Some(o) = &d.out
            && !is_relative_inside(o)
        {
            self.at(
                &[key("out")],
                "the output folder must be a relative path inside the repository",
                None,
            );
        }
        if d.series.is_empty() && d.agreement.is_empty() {
            self.at(
                &[],
                "declare at least one `series` (or an `agreement`)",
                Some("a series is {label, path, value, unit}".into()),
            );
        }
        let mut labels: Vec<&str> = vec![&d.reference.label];
        for (i, s) in d.series.iter().enumerate() {
            let p = [key("series"), Seg::Index(i), key("label")];
            if labels.contains(&s.label.as_str()) {
                self.at(&p, format!("the label `{}` is used twice", s.label), None);
            }
            labels.push(&s.label);
            if let Err(why) = factor(s, d.reference.unit, d.reference.clock_ghz) {
                let p = [key("series"), Seg::Index(i), key("unit")];
                self.at(
                    &p,
                    format!(
                        "{why}: the reference `{}` is in {}",
                        d.reference.label,
                        d.reference.unit.name()
                    ),
                    Some("add `clock-ghz: 1.0` (the clock you assume) to this series".into()),
                );
            }
        }
        self.check_agreements(d);
    }

    /// Each agreement: two series at least (or one and a floor), distinct labels, one unit.
    fn check_agreements(&mut self, d: &Declaration) {
        for (i, a) in d.agreement.iter().enumerate() {
            let base = [key("agreement"), Seg::Index(i)];
            let n = a.series.len() + usize::from(a.floor.is_some());
            if a.series.is_empty() || n < 2 {
                self.at(
                    &with(&base, &["series"]),
                    "an agreement needs two series, or one series and a floor",
                    None,
                );
            }
            let mut seen: Vec<&str> = Vec::new();
            for (j, s) in a.series.iter().enumerate() {
                let p = [base.as_slice(), &[key("series"), Seg::Index(j)]].concat();
                if seen.contains(&s.label.as_str()) {
                    let at = with(&p, &["label"]);
                    self.at(&at, format!("the label `{}` is used twice", s.label), None);
                }
                seen.push(&s.label);
                if let Some(first) = a.series.first()
                    && (s.unit != first.unit || s.clock_ghz != first.clock_ghz)
                {
                    self.at(
                        &with(&p, &["unit"]),
                        format!(
                            "the series of one agreement share one unit: this is {}, the first is {}",
                            s.unit.name(),
                            first.unit.name()
                        ),
                        None,
                    );
                }
            }
            if let (Some(f), Some(first)) = (&a.floor, a.series.first())
                && (f.unit != first.unit || f.clock_ghz != first.clock_ghz)
            {
                self.at(
                    &with(&base, &["floor", "unit"]),
                    "the floor must be in the series' unit",
                    None,
                );
            }
        }
    }

    /// Checks one source and reads its rows (an empty table when it cannot be read).
    fn source(&mut self, base: &[Seg], s: &Source, keys: &[String], reference: bool) -> Table {
        let filter = self.source_fields(base, s, reference);
        let Some((mut r, header)) = self.open(base, s) else {
            return Table::default();
        };
        let Some(cols) = self.columns(base, s, keys, &header, &filter) else {
            return Table::default();
        };
        let Some(t) = self.rows(base, s, keys, &mut r, &cols) else {
            return Table::default();
        };
        if t.rows.is_empty() {
            self.at(
                &with(base, &["where"]),
                format!("no row of `{}` passes this source's filter", s.path),
                None,
            );
        }
        t
    }

    /// Checks a source's own fields; returns its filter, each value normalised.
    fn source_fields(
        &mut self,
        base: &[Seg],
        s: &Source,
        reference: bool,
    ) -> Vec<(String, String)> {
        // A clock converts cycles; on a time unit it would be silently ignored.
        if s.clock_ghz.is_some() && s.unit != Unit::Cycles {
            self.at(
                &with(base, &["clock-ghz"]),
                format!(
                    "`clock-ghz` converts cycles, but this source's unit is `{}`",
                    s.unit.name()
                ),
                Some("remove it, or declare `unit: cycles` for a column of cycles".into()),
            );
        }
        if reference && s.example {
            self.at(
                &with(base, &["example"]),
                "`example` belongs to a series (the reference is what examples are compared with)",
                None,
            );
        }
        if reference && s.at_least.is_some() {
            self.at(
                &with(base, &["at-least"]),
                "`at-least` belongs to a series (a floor under its predictions)",
                None,
            );
        }
        for (field, v) in [
            ("clock-ghz", s.clock_ghz),
            ("scale", s.scale),
            ("at-least", s.at_least),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                self.at(
                    &with(base, &[field]),
                    format!("`{field}` must be a positive number"),
                    None,
                );
            }
        }
        if reference && s.scale.is_some() {
            self.at(
                &with(base, &["scale"]),
                "the reference is not scaled; scale the series instead",
                None,
            );
        }
        if s.label.trim().is_empty() {
            self.at(&with(base, &["label"]), "the label is empty", None);
        }
        let mut filter: Vec<(String, String)> = Vec::new();
        for (col, v) in &s.filter {
            match scalar(v) {
                Some(t) => filter.push((col.clone(), norm(&t))),
                None => self.at(
                    &with(base, &["where", col]),
                    format!("`where.{col}` must be a single value (text or number)"),
                    None,
                ),
            }
        }
        filter
    }

    /// Says that a source's file cannot be read, and why.
    fn unreadable(&mut self, base: &[Seg], s: &Source, e: &dyn std::fmt::Display) {
        self.at(
            &with(base, &["path"]),
            format!("cannot read `{}`: {e}", s.path),
            None,
        );
    }

    /// Opens a source's file and reads its header (`None`, said, when it cannot).
    fn open(
        &mut self,
        base: &[Seg],
        s: &Source,
    ) -> Option<(csv::Reader<std::fs::File>, Vec<String>)> {
        if !is_relative_inside(&s.path) {
            self.at(
                &with(base, &["path"]),
                "the path must be relative to the project root and stay inside it",
                None,
            );
            return None;
        }
        let file = self.root.join(&s.path);
        let mut r = match csv::Reader::from_path(&file) {
            Ok(r) => r,
            Err(e) => {
                self.unreadable(base, s, &e);
                return None;
            }
        };
        let header: Vec<String> = match r.headers() {
            // A spreadsheet's byte-order mark is not part of the first column's name.
            Ok(h) => (h.iter().enumerate())
                .map(|(i, c)| {
                    if i == 0 {
                        c.trim_start_matches('\u{feff}')
                    } else {
                        c
                    }
                })
                .map(str::to_string)
                .collect(),
            Err(e) => {
                self.unreadable(base, s, &e);
                return None;
            }
        };
        Some((r, header))
    }

    /// Finds the value, key and filter columns in `header` (`None` when one is missing: each
    /// is said, with the closest name the file has).
    fn columns(
        &mut self,
        base: &[Seg],
        s: &Source,
        keys: &[String],
        header: &[String],
        filter: &[(String, String)],
    ) -> Option<Columns> {
        let mut missing = false;
        let mut col = |me: &mut Self, at: Vec<Seg>, name: &str| -> Option<usize> {
            let i = header.iter().position(|h| h == name);
            if i.is_none() {
                missing = true;
                let help = closest(name, header.iter().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("its columns are: {}", header.join(", "))));
                me.at(&at, format!("`{}` has no column `{name}`", s.path), help);
            }
            i
        };
        let value_i = col(self, with(base, &["value"]), &s.value);
        // A missing key column is the declaration's `keys` field, but the file is what lacks it.
        let key_i: Vec<Option<usize>> = keys
            .iter()
            .map(|k| match s.key_columns.get(k) {
                Some(named) => col(self, with(base, &["key-columns", k]), named),
                None => col(self, with(base, &["path"]), k),
            })
            .collect();
        for k in s.key_columns.keys() {
            if !keys.contains(k) {
                self.at(
                    &with(base, &["key-columns", k]),
                    format!("`{k}` is not one of the keys"),
                    Some(format!("the keys are: {}", keys.join(", "))),
                );
            }
        }
        let filter_i: Vec<(Option<usize>, String)> = filter
            .iter()
            .map(|(c, v)| (col(self, with(base, &["where", c]), c), v.clone()))
            .collect();
        if missing {
            return None;
        }
        let optional = |name: &str| header.iter().position(|h| h == name);
        Some(Columns {
            value: value_i.unwrap_or_default(),
            keys: key_i,
            filter: filter_i,
            run: optional("outrun_run_id").zip(optional("outrun_commit")),
        })
    }

    /// Reads the rows that pass the filter, one value a key (`None`, said, on a file that
    /// cannot be read or a key repeated without `aggregate`).
    fn rows(
        &mut self,
        base: &[Seg],
        s: &Source,
        keys: &[String],
        r: &mut csv::Reader<std::fs::File>,
        cols: &Columns,
    ) -> Option<Table> {
        let mut t = Table::default();
        let mut groups: Vec<Vec<Result<f64, String>>> = Vec::new();
        let mut first_line: HashMap<Vec<String>, u64> = HashMap::new();
        for rec in r.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    self.unreadable(base, s, &e);
                    return None;
                }
            };
            let field = |i: Option<usize>| rec.get(i.unwrap_or(usize::MAX)).unwrap_or("");
            if !cols.filter.iter().all(|(i, v)| norm(field(*i)) == *v) {
                continue;
            }
            let k: Vec<String> = cols.keys.iter().map(|i| norm(field(*i))).collect();
            let line = rec.position().map_or(0, |p| p.line());
            if let Some(first) = first_line.get(&k)
                && s.aggregate.is_none()
            {
                let shown: Vec<String> = keys
                    .iter()
                    .zip(&k)
                    .map(|(a, b)| format!("{a}={b}"))
                    .collect();
                self.at(
                    &with(base, &["where"]),
                    format!(
                        "lines {first} and {line} of `{}` both have {} after the filter",
                        s.path,
                        shown.join(", ")
                    ),
                    Some("add a `where` condition on the column that tells them apart (e.g. dataflow, dtype), or `aggregate: median` (mean, min, max) to combine repeated rows".into()),
                );
                return None;
            }
            if let Some((run, commit)) = cols.run {
                let (run, commit) = (field(Some(run)), field(Some(commit)));
                // A run outside git (or a file that leaves it blank) has no commit to name.
                let named = match commit.get(..7).unwrap_or(commit) {
                    "" => run.to_string(),
                    short => format!("{run} at {short}"),
                };
                *t.runs.entry(named).or_default() += 1;
            }
            let raw = rec.get(cols.value).unwrap_or("").trim();
            let v = raw
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| raw.to_string());
            match t.index.get(&k) {
                Some(&i) => groups[i].push(v),
                None => {
                    first_line.insert(k.clone(), line);
                    t.index.insert(k.clone(), t.rows.len());
                    t.rows.push((k, Err(String::new())));
                    groups.push(vec![v]);
                }
            }
        }
        // Several rows of one key (repeated measurements) become one value as declared; a
        // value among them that is no number makes the key's value no number (never hidden).
        for ((_, value), vals) in t.rows.iter_mut().zip(groups) {
            *value = match vals.iter().find_map(|v| v.as_ref().err()) {
                Some(raw) => Err(raw.clone()),
                None => {
                    let nums: Vec<f64> = vals.into_iter().flatten().collect();
                    Ok(match s.aggregate {
                        Some(a) => a.apply(&nums),
                        None => nums[0],
                    })
                }
            };
        }
        Some(t)
    }
}

/// Where a source's columns are in its file.
struct Columns {
    value: usize,
    keys: Vec<Option<usize>>,
    /// The filter's columns, each with the value a row must have.
    filter: Vec<(Option<usize>, String)>,
    /// `outrun_run_id` and `outrun_commit`, when the file has both.
    run: Option<(usize, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(unit: Unit, clock: Option<f64>, scale: Option<f64>) -> Source {
        Source {
            label: "x".into(),
            path: "x.csv".into(),
            value: "v".into(),
            unit,
            clock_ghz: clock,
            scale,
            at_least: None,
            filter: BTreeMap::new(),
            key_columns: BTreeMap::new(),
            aggregate: None,
            example: false,
            provenance: None,
        }
    }

    #[test]
    fn unit_factors() {
        // 1 GHz: one cycle is 1 ns = 0.001 µs.
        let f = factor(&src(Unit::Cycles, Some(1.0), None), Unit::Us, None).unwrap();
        assert!((f - 1e-3).abs() < 1e-15);
        // 2 GHz, scaled by 3: 3 × 0.5 ns = 1.5e-3 µs.
        let f = factor(&src(Unit::Cycles, Some(2.0), Some(3.0)), Unit::Us, None).unwrap();
        assert!((f - 1.5e-3).abs() < 1e-15);
        assert_eq!(
            factor(&src(Unit::Ms, None, None), Unit::Us, None),
            Ok(1000.0)
        );
        assert_eq!(
            factor(&src(Unit::Cycles, None, None), Unit::Cycles, None),
            Ok(1.0)
        );
        assert!(factor(&src(Unit::Cycles, None, None), Unit::Us, None).is_err());
        // µs at 1.5 GHz into cycles: 1 µs = 1500 cycles.
        let f = factor(&src(Unit::Us, None, None), Unit::Cycles, Some(1.5)).unwrap();
        assert!((f - 1500.0).abs() < 1e-9);
    }
}
