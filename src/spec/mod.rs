//! Experiment files: loading with positions, validation, and the matrix → cells expansion.

mod error;
pub mod filter;
pub mod locate;
mod matrix;
mod types;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{InvalidFile, Problem, SpecError};
pub use matrix::Cell;
pub use types::{Compare, DatasetSpec, ExperimentFile, GithubSpec, History, Land, Layout, Results, Runner, Setup};

use locate::{Locator, Pos, Seg};

/// The folder experiment files live in, relative to the project root.
pub const EXPERIMENTS_DIR: &str = "experiments";

/// Most cells one experiment may have: 256 jobs of at most 256 cells each.
pub const MAX_CELLS: usize = 256 * 256;

/// A validated experiment and its cells, in matrix order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: ExperimentFile,
    /// Where it was read from, relative to the project root.
    pub path: PathBuf,
    pub timeout: Duration,
    pub cells: Vec<Cell>,
}

impl Plan {
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// `data/evaluation/NAME.csv` unless the file says otherwise.
    pub fn dataset_path(&self) -> PathBuf {
        match &self.file.dataset.path {
            Some(p) => PathBuf::from(p),
            None => Path::new("data/evaluation").join(format!("{}.csv", self.file.name)),
        }
    }

    /// The parameter names, in the order they were declared (include-only ones last).
    pub fn param_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for c in &self.cells {
            for (k, _) in &c.params {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        names
    }
}

/// Every `experiments/*.yaml` (and `.yml`) below `root`, sorted by name.
pub fn experiment_files(root: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let dir = root.join(EXPERIMENTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SpecError::Io { path: dir, source }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Finds and loads the experiment called `name`.
pub fn load_named(root: &Path, name: &str) -> Result<Plan, SpecError> {
    let files = experiment_files(root)?;
    let stem = |p: &PathBuf| p.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
    if let Some(p) = files.iter().find(|p| stem(p) == name) {
        return load(root, p);
    }
    let names: Vec<String> = files.iter().map(stem).collect();
    let hint = match closest(name, names.iter().map(String::as_str)) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None if names.is_empty() => " (the folder has no experiment files)".into(),
        None => format!(" (there are: {})", names.join(", ")),
    };
    Err(SpecError::NotFound { name: name.into(), dir: root.join(EXPERIMENTS_DIR), hint })
}

/// Reads, parses and validates one experiment file, reporting every problem it can find.
pub fn load(root: &Path, path: &Path) -> Result<Plan, SpecError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SpecError::Io { path: path.to_path_buf(), source })?;
    let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    parse(root, &rel, text)
}

/// Parses and validates experiment text; `rel` names it in messages.
pub fn parse(root: &Path, rel: &Path, text: String) -> Result<Plan, SpecError> {
    let invalid = |text: String, problems: Vec<Problem>| {
        SpecError::Invalid(Box::new(InvalidFile { path: rel.to_path_buf(), text, problems }))
    };
    let file: ExperimentFile = match serde_yaml::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            let problem = yaml_problem(&text, &e);
            return Err(invalid(text, vec![problem]));
        }
    };
    let loc = Locator::new(&text);
    let mut v = Validator { loc: &loc, problems: Vec::new() };
    let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let timeout = v.check_fields(&file, stem, root);
    let cells = matrix::expand(&file.matrix, &mut v);
    if v.problems.is_empty() {
        if let Some(timeout) = timeout {
            return Ok(Plan { file, path: rel.to_path_buf(), timeout, cells });
        }
    }
    let mut problems = v.problems;
    problems.sort_by_key(|p| (p.pos.line, p.pos.column));
    Err(invalid(text, problems))
}

/// Collects problems with their positions.
pub(crate) struct Validator<'a> {
    loc: &'a Locator,
    pub problems: Vec<Problem>,
}

pub(crate) fn path(parts: &[&str]) -> Vec<Seg> {
    parts.iter().map(|p| Seg::Key(p.to_string())).collect()
}

impl Validator<'_> {
    pub fn at_value(&mut self, p: &[Seg], message: impl Into<String>, help: Option<String>) {
        let pos = self.loc.value(p);
        self.problems.push(Problem { pos, message: message.into(), help });
    }
    pub fn at_key(&mut self, p: &[Seg], message: impl Into<String>, help: Option<String>) {
        let pos = self.loc.key(p);
        self.problems.push(Problem { pos, message: message.into(), help });
    }

    /// Checks everything but the matrix; returns the parsed timeout when it is valid.
    fn check_fields(&mut self, f: &ExperimentFile, stem: &str, root: &Path) -> Option<Duration> {
        if !is_safe_name(&f.name) {
            self.at_value(
                &path(&["name"]),
                format!("unsafe experiment name `{}`", f.name.escape_debug()),
                Some("use 1-63 characters from a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit".into()),
            );
        } else if f.name != stem {
            self.at_value(
                &path(&["name"]),
                format!("the name `{}` differs from the file name `{stem}`", f.name),
                Some(format!("rename the file to `{}.yaml` or the experiment to `{stem}`", f.name)),
            );
        }
        if f.issue == Some(0) {
            self.at_value(&path(&["issue"]), "issue numbers start at 1", None);
        }
        if f.runner.labels.is_empty() {
            self.at_key(&path(&["runner", "labels"]), "give at least one runner label", None);
        }
        for (i, l) in f.runner.labels.iter().enumerate() {
            if l.is_empty() || !l.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                let mut p = path(&["runner", "labels"]);
                p.push(Seg::Index(i));
                self.at_value(&p, format!("runner label `{}` has characters outside a-z, 0-9, `.`, `_`, `-`", l.escape_debug()), None);
            }
        }
        if let Some(img) = &f.runner.container {
            if img.is_empty() || !img.chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c)) {
                self.at_value(&path(&["runner", "container"]), format!("`{}` is not a container image reference", img.escape_debug()), None);
            }
        }
        if let Some(py) = &f.setup.python {
            if py.is_empty() || !py.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) {
                self.at_value(&path(&["setup", "python"]), format!("`{}` is not a Python version", py.escape_debug()), Some("for example \"3.11\"".into()));
            }
        }
        for (i, s) in f.setup.steps.iter().enumerate() {
            let mut p = path(&["setup", "steps"]);
            p.push(Seg::Index(i));
            self.check_shell_text(&p, s);
        }
        if f.command.trim().is_empty() {
            self.at_value(&path(&["command"]), "the command is empty", None);
        }
        self.check_shell_text(&path(&["command"]), &f.command);

        let res = &f.results;
        let is_results = res.file.ends_with(".csv") || res.file.ends_with(".jsonl");
        if !is_results || !is_relative_inside(&res.file) {
            self.at_value(
                &path(&["results", "file"]),
                format!("results file `{}` must be a relative path ending in .csv or .jsonl", res.file.escape_debug()),
                None,
            );
        }
        if res.keys.is_empty() {
            self.at_key(&path(&["results", "keys"]), "name at least one key column", Some("key columns identify a row: e.g. [layer, batch]".into()));
        }
        self.check_columns(&["results", "keys"], &res.keys);
        if let Some(p) = &f.dataset.path {
            if !p.ends_with(".csv") || !is_relative_inside(p) {
                self.at_value(&path(&["dataset", "path"]), format!("dataset path `{}` must be a relative path inside the repository ending in .csv", p.escape_debug()), None);
            }
        }
        if let Some(c) = &f.compare {
            self.check_compare(c, root);
        }
        self.check_github(&f.github);

        let t = match humantime::parse_duration(f.timeout.trim()) {
            Ok(t) if t.as_secs() >= 1 && t <= Duration::from_secs(5 * 24 * 3600) => Some(t),
            Ok(_) => {
                self.at_value(&path(&["timeout"]), "the timeout must be between 1s and 5 days (a self-hosted job's limit)", None);
                None
            }
            Err(e) => {
                self.at_value(&path(&["timeout"]), format!("`{}` is not a duration: {e}", f.timeout), Some("for example 90s, 30m or 6h".into()));
                None
            }
        };
        t
    }

    fn check_github(&mut self, g: &GithubSpec) {
        for (i, r) in g.refs.iter().enumerate() {
            if !is_branch_name(r) {
                let mut p = path(&["github", "refs"]);
                p.push(Seg::Index(i));
                self.at_value(&p, format!("`{}` is not a branch name (globs `*` and `?` allowed)", r.escape_debug()), None);
            }
        }
        match (&g.land, &g.branch) {
            (Land::Branch, None) => self.at_key(&path(&["github", "land"]), "`land: branch` needs `branch:`, the branch to commit to", None),
            (_, Some(b)) if !is_branch_name(b) || b.contains(['*', '?']) => {
                self.at_value(&path(&["github", "branch"]), format!("`{}` is not a branch name", b.escape_debug()), None)
            }
            _ => {}
        }
        if let Some(cmd) = &g.install {
            self.check_shell_text(&path(&["github", "install"]), cmd);
        }
    }

    fn check_columns(&mut self, at: &[&str], cols: &[String]) {
        for (i, c) in cols.iter().enumerate() {
            let mut p = path(at);
            p.push(Seg::Index(i));
            if c.trim().is_empty() {
                self.at_value(&p, "empty column name", None);
            } else if cols[..i].contains(c) {
                self.at_value(&p, format!("column `{c}` is listed twice"), None);
            }
        }
    }

    fn check_compare(&mut self, c: &Compare, root: &Path) {
        if c.on.is_empty() {
            self.at_key(&path(&["compare", "on"]), "name the columns that join predictions to measurements", None);
        }
        self.check_columns(&["compare", "on"], &c.on);
        if !is_relative_inside(&c.measured) {
            self.at_value(&path(&["compare", "measured"]), "the measured file must be a relative path inside the repository", None);
            return;
        }
        // The measured file is checked now so that a typo surfaces at `validate`, not after a
        // six-hour run.
        let file = root.join(&c.measured);
        match csv::Reader::from_path(&file).and_then(|mut r| r.headers().cloned()) {
            Err(e) => self.at_value(&path(&["compare", "measured"]), format!("cannot read `{}`: {e}", c.measured), None),
            Ok(h) => {
                let have: Vec<&str> = h.iter().collect();
                let mut need: Vec<(Vec<Seg>, &String)> = c
                    .on
                    .iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let mut p = path(&["compare", "on"]);
                        p.push(Seg::Index(i));
                        (p, col)
                    })
                    .collect();
                need.push((path(&["compare", "actual"]), &c.actual));
                for (p, col) in need {
                    if !have.contains(&col.as_str()) {
                        let help = closest(col, have.iter().copied())
                            .map(|s| format!("did you mean `{s}`?"))
                            .or_else(|| Some(format!("its columns are: {}", have.join(", "))));
                        self.at_value(&p, format!("`{}` has no column `{col}`", c.measured), help);
                    }
                }
            }
        }
    }

    /// Text that becomes shell on the runner must not carry GitHub expressions: they would be
    /// expanded into the script before bash sees it (template injection).
    fn check_shell_text(&mut self, p: &[Seg], s: &str) {
        if s.contains('\0') {
            self.at_value(p, "shell text must not contain a NUL character", None);
        }
        if s.contains("${{") {
            self.at_value(
                p,
                "shell text must not contain `${{ … }}`",
                Some("GitHub would paste the expression into the script; read parameters from $OUTRUN_P_NAME instead".into()),
            );
        }
    }
}

/// `[a-z0-9][a-z0-9._-]{0,62}`: safe in paths, artifact names, workflow file names and URLs.
pub fn is_safe_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A git branch name of the usual characters (letters, digits, `._/-`, and `*`/`?` as globs).
pub fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['/', '-', '.'])
        && !s.ends_with(['/', '.'])
        && !s.contains("..")
        && !s.contains("//")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._/-*?".contains(c))
}

/// A relative path that stays inside the directory it is relative to.
pub fn is_relative_inside(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && path.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// The closest candidate within a small edit distance, for "did you mean".
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(word.len().min(c.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Turns a serde_yaml error into a positioned problem, with "did you mean" for unknown fields.
fn yaml_problem(text: &str, e: &serde_yaml::Error) -> Problem {
    let (line, column, offset) = match e.location() {
        Some(l) => (l.line(), l.column(), l.index()),
        None => (1, 1, 0),
    };
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C" (given separately), and for syntax errors
    // ", while parsing a flow sequence at line L column C": that context says where the broken
    // construct began (the unclosed `[`), so only the first position is removed.
    if let Some(i) = message.find(" at line ") {
        let end = message[i..].find(',').map_or(message.len(), |j| i + j);
        message.replace_range(i..end, "");
    }
    let mut help = None;
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest.split("expected ").nth(1).unwrap_or("").split('`').skip(1).step_by(2).collect();
        help = match closest(field, expected.iter().copied()) {
            Some(c) => Some(format!("did you mean `{c}`?")),
            None if !expected.is_empty() => Some(format!("known fields: {}", expected.join(", "))),
            None => None,
        };
    }
    let len = text[offset.min(text.len())..].chars().take_while(|c| !c.is_whitespace() && *c != ':').map(char::len_utf8).sum();
    Problem { pos: Pos { offset: offset.min(text.len()), len, line, column }, message, help }
}
