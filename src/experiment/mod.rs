//! Experiment files: loading with positions, validation, and the matrix → cells expansion.

mod error;
pub mod filter;
pub mod locate;
mod matrix;
pub(crate) mod schema;
mod types;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ExperimentError, InvalidFile, Problem};
pub use matrix::Cell;
pub use types::{
    Compare, DatasetSpec, ExperimentFile, GithubSpec, History, Land, Layout, Results, Runner,
    Setup, SetupCache,
};

use locate::{Locator, Pos, Seg};

/// The folder experiment files live in, relative to the project root.
pub const EXPERIMENTS_DIR: &str = "experiments";

/// Most cells one experiment may have: 256 jobs of at most 256 cells each.
pub(crate) const MAX_CELLS: usize = 256 * 256;

/// Largest experiment file read (1 MiB). A file this size already holds the largest matrix
/// written out by hand many times over; without a limit a 50 MB file took seconds and half a
/// gigabyte to validate and became a 50 MB workflow.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Longest description, in characters. It heads the report comment, which GitHub cuts at
/// 65,536 characters: the verdict and the table that follow it must keep their room, even after
/// the description's HTML escaping.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 4000;

/// A validated experiment and its cells, in matrix order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: ExperimentFile,
    /// Where it was read from, relative to the project root.
    pub path: PathBuf,
    pub timeout: Duration,
    /// How long one job may run on the experiment's runners (`runner.job-timeout`, else 6 h).
    pub job_limit: Duration,
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
pub fn experiment_files(root: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
    let dir = root.join(EXPERIMENTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(ExperimentError::Io { path: dir, error }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Finds and loads the experiment called `name`.
pub fn load_named(root: &Path, name: &str) -> Result<Plan, ExperimentError> {
    let files = experiment_files(root)?;
    let stem = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string()
    };
    if let Some(p) = files.iter().find(|p| stem(p) == name) {
        return load(root, p);
    }
    let names: Vec<String> = files.iter().map(stem).collect();
    let hint = match closest(name, names.iter().map(String::as_str)) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None if names.is_empty() => " (the folder has no experiment files)".into(),
        None => format!(" (there are: {})", names.join(", ")),
    };
    Err(ExperimentError::NotFound {
        name: name.into(),
        dir: root.join(EXPERIMENTS_DIR),
        hint,
    })
}

/// Reads, parses and validates one experiment file, reporting every problem it can find.
pub fn load(root: &Path, path: &Path) -> Result<Plan, ExperimentError> {
    let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let io = |error| ExperimentError::Io {
        path: path.to_path_buf(),
        error,
    };
    // Read at most one byte past the limit: a huge file is refused without being read whole.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ExperimentError::TooLarge { path: rel, size });
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse(root, &rel, text),
        Err(e) => Err(not_utf8(&rel, e)),
    }
}

/// A file that is not UTF-8, positioned at its first bad byte.
fn not_utf8(rel: &Path, e: std::string::FromUtf8Error) -> ExperimentError {
    let bad = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    // Positions count from after a byte-order mark, as they do for valid files.
    let start = if bytes.starts_with(BOM.as_bytes()) && bad >= BOM.len() {
        BOM.len()
    } else {
        0
    };
    let prefix = std::str::from_utf8(&bytes[start..bad]).unwrap_or_default();
    let line = prefix.matches('\n').count() + 1;
    let column = prefix
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    // The lossy text agrees with the file up to the bad byte, which becomes one U+FFFD.
    let text = String::from_utf8_lossy(&bytes[start..]).into_owned();
    let offset = bad - start;
    let problem = Problem {
        pos: Pos {
            offset,
            len: char::REPLACEMENT_CHARACTER.len_utf8(),
            line,
            column,
        },
        message: format!(
            "the file is not UTF-8: byte 0x{:02X} cannot be part of a character here",
            bytes[bad]
        ),
        help: Some("save the file as UTF-8".into()),
    };
    ExperimentError::Invalid(Box::new(InvalidFile {
        path: rel.to_path_buf(),
        text,
        problems: vec![problem],
    }))
}

/// A UTF-8 byte-order mark, which some Windows editors write at the start of a file.
const BOM: &str = "\u{feff}";

/// Parses and validates experiment text; `rel` names it in messages.
pub fn parse(root: &Path, rel: &Path, text: String) -> Result<Plan, ExperimentError> {
    // The mark is not part of the document: serde_yaml would read it as the start of the first
    // key (`missing field`) and every column on line 1 would be one off.
    let text = match text.strip_prefix(BOM) {
        Some(rest) => rest.to_string(),
        None => text,
    };
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ExperimentError::TooLarge {
            path: rel.to_path_buf(),
            size: text.len() as u64,
        });
    }
    let invalid = |text: String, mut problems: Vec<Problem>| {
        problems.sort_by_key(|p| (p.pos.line, p.pos.column));
        ExperimentError::Invalid(Box::new(InvalidFile {
            path: rel.to_path_buf(),
            text,
            problems,
        }))
    };
    let loc = Locator::new(&text);
    if let Some(pos) = too_deep(&text).or(loc.too_deep) {
        let problem = Problem {
            pos,
            message: format!(
                "refused: the document is nested more than {} levels deep",
                locate::MAX_DEPTH
            ),
            help: Some(
                "an experiment file needs a few levels; check for unclosed `[` or `{`".into(),
            ),
        };
        return Err(invalid(text, vec![problem]));
    }
    let value: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let problems = syntax_problems(&text, &e, &loc);
            return Err(invalid(text, problems));
        }
    };
    let stem = rel.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    // The shape first, field by field, so that every unknown field and wrong type is reported
    // in one run; serde would stop at the first.
    let checked = schema::check(value, &loc, stem);
    let file: ExperimentFile = if checked.problems.is_empty() {
        match serde_yaml::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                let problem = yaml_problem(&text, &e);
                return Err(invalid(text, vec![problem]));
            }
        }
    } else {
        // The repaired document lets the checks below find the problems in everything else.
        match serde_yaml::to_string(&checked.value)
            .ok()
            .and_then(|t| serde_yaml::from_str(&t).ok())
        {
            Some(f) => f,
            None => return Err(invalid(text, checked.problems)),
        }
    };
    let mut v = Validator {
        loc: &loc,
        problems: checked.problems,
        placeholders: checked.placeholders,
    };
    let timeout = v.check_fields(&file, stem, root);
    let job_limit = v.check_job_timeout(&file.runner);
    let cells = matrix::expand(&file.matrix, &mut v);
    if v.problems.is_empty()
        && let Some(timeout) = timeout
        && let Some(job_limit) = job_limit
    {
        return Ok(Plan {
            file,
            path: rel.to_path_buf(),
            timeout,
            job_limit,
            cells,
        });
    }
    Err(invalid(text, v.problems))
}

/// Collects problems with their positions.
pub(crate) struct Validator<'a> {
    loc: &'a Locator,
    pub problems: Vec<Problem>,
    /// Values that stand in for missing or mistyped ones (already reported): problems found in
    /// them would only repeat that.
    placeholders: Vec<Vec<Seg>>,
}

pub(crate) fn path(parts: &[&str]) -> Vec<Seg> {
    parts.iter().map(|p| Seg::Key(p.to_string())).collect()
}

impl Validator<'_> {
    fn in_placeholder(&self, p: &[Seg]) -> bool {
        self.placeholders.iter().any(|ph| p.starts_with(ph))
    }
    pub(crate) fn at_value(&mut self, p: &[Seg], message: impl Into<String>, help: Option<String>) {
        if self.in_placeholder(p) {
            return;
        }
        let pos = self.loc.value(p);
        self.problems.push(Problem {
            pos,
            message: message.into(),
            help,
        });
    }
    pub(crate) fn at_key(&mut self, p: &[Seg], message: impl Into<String>, help: Option<String>) {
        if self.in_placeholder(p) {
            return;
        }
        let pos = self.loc.key(p);
        self.problems.push(Problem {
            pos,
            message: message.into(),
            help,
        });
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
                Some(format!(
                    "rename the file to `{}.yaml` or the experiment to `{stem}`",
                    f.name
                )),
            );
        }
        let chars = f.description.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            self.at_value(
                &path(&["description"]),
                format!("the description is {chars} characters long; at most {MAX_DESCRIPTION_CHARS} are allowed"),
                Some("it heads the report on the issue, which must keep room for the verdict; link to a longer text instead".into()),
            );
        }
        if f.issue == Some(0) {
            self.at_value(&path(&["issue"]), "issue numbers start at 1", None);
        }
        if f.runner.labels.is_empty() {
            self.at_key(
                &path(&["runner", "labels"]),
                "give at least one runner label",
                None,
            );
        }
        for (i, l) in f.runner.labels.iter().enumerate() {
            if l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                let mut p = path(&["runner", "labels"]);
                p.push(Seg::Index(i));
                self.at_value(
                    &p,
                    format!(
                        "runner label `{}` has characters outside a-z, 0-9, `.`, `_`, `-`",
                        l.escape_debug()
                    ),
                    None,
                );
            }
        }
        if let Some(img) = &f.runner.container
            && (img.is_empty()
                || !img
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c)))
        {
            self.at_value(
                &path(&["runner", "container"]),
                format!(
                    "`{}` is not a container image reference",
                    img.escape_debug()
                ),
                None,
            );
        }
        if let Some(py) = &f.setup.python
            && (py.is_empty()
                || !py
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)))
        {
            self.at_value(
                &path(&["setup", "python"]),
                format!("`{}` is not a Python version", py.escape_debug()),
                Some("for example \"3.11\"".into()),
            );
        }
        if let Some(c) = &f.setup.cache {
            // Both land in `with:` of actions/cache as YAML scalars: plain words only, so no
            // `${{ }}` expression and no odd character reaches the workflow.
            let ok = |s: &str, extra: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || extra.contains(ch))
            };
            if !ok(&c.path, "._-/~") || c.path.contains("..") {
                self.at_value(
                    &path(&["setup", "cache", "path"]),
                    format!("`{}` is not a plain folder path", c.path.escape_debug()),
                    Some("letters, digits and . _ - / ~, no `..`, e.g. ~/timeloop".into()),
                );
            }
            if !ok(&c.key, "._-") {
                self.at_value(
                    &path(&["setup", "cache", "key"]),
                    format!("`{}` is not a plain cache key", c.key.escape_debug()),
                    Some("letters, digits and . _ -, e.g. timeloop-6b41058".into()),
                );
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
        if !is_results || !is_relative_inside(&res.file) || !is_safe_path(&res.file) {
            self.at_value(
                &path(&["results", "file"]),
                format!(
                    "results file `{}` must be a relative path ending in .csv or .jsonl",
                    res.file.escape_debug()
                ),
                Some(SAFE_PATH_HELP.into()),
            );
        }
        if res.keys.is_empty() {
            self.at_key(
                &path(&["results", "keys"]),
                "name at least one key column",
                Some("key columns identify a row: e.g. [layer, batch]".into()),
            );
        }
        self.check_columns(&["results", "keys"], &res.keys);
        if let Some(p) = &f.dataset.path
            && (!p.ends_with(".csv") || !is_relative_inside(p) || !is_safe_path(p))
        {
            self.at_value(&path(&["dataset", "path"]), format!("dataset path `{}` must be a relative path inside the repository ending in .csv", p.escape_debug()), Some(SAFE_PATH_HELP.into()));
        }
        if let Some(c) = &f.compare {
            self.check_compare(c, root);
        }
        self.check_github(&f.github);

        match humantime::parse_duration(f.timeout.trim()) {
            Ok(t) if t.as_secs() >= 1 && t <= Duration::from_secs(5 * 24 * 3600) => Some(t),
            Ok(_) => {
                self.at_value(
                    &path(&["timeout"]),
                    "the timeout must be between 1s and 5 days (a self-hosted job's limit)",
                    None,
                );
                None
            }
            Err(e) => {
                // humantime's own words ("expected number at 0") point into its parser.
                let why = match e {
                    humantime::DurationError::UnknownUnit { unit, .. } => {
                        format!(": unknown unit `{}`", unit.escape_debug())
                    }
                    humantime::DurationError::NumberOverflow => ": the number is too large".into(),
                    _ => String::new(),
                };
                self.at_value(
                    &path(&["timeout"]),
                    format!("`{}` is not a duration{why}", f.timeout.escape_debug()),
                    Some("write a number and a unit, for example 90s, 30m, 6h or 1h30m".into()),
                );
                None
            }
        }
    }

    /// `runner.job-timeout`: GitHub stops a job at 6 h on its hosted runners and at 5 days on
    /// self-hosted ones; outrun packs cells into jobs to fit it (see `workflow::pack`).
    fn check_job_timeout(&mut self, r: &types::Runner) -> Option<Duration> {
        use crate::workflow::pack::{HOSTED_JOB_LIMIT, SELF_HOSTED_JOB_LIMIT, is_hosted};
        let Some(text) = &r.job_timeout else {
            return Some(HOSTED_JOB_LIMIT);
        };
        let p = path(&["runner", "job-timeout"]);
        let hosted = is_hosted(&r.labels);
        match humantime::parse_duration(text.trim()) {
            Ok(t) if t < Duration::from_secs(30 * 60) => {
                self.at_value(
                    &p,
                    "a job needs at least 30 minutes (15 of them for checkout, setup and upload)",
                    None,
                );
                None
            }
            Ok(t) if hosted && t > HOSTED_JOB_LIMIT => {
                self.at_value(
                    &p,
                    format!("GitHub-hosted runners ({}) stop a job after 6 h", r.labels.join(", ")),
                    Some("use at most 6h, or run on self-hosted runners (`labels: [self-hosted, …]`), which allow up to 5 days".into()),
                );
                None
            }
            Ok(t) if t > SELF_HOSTED_JOB_LIMIT => {
                self.at_value(
                    &p,
                    "GitHub stops any job after 5 days",
                    Some("use at most 5d".into()),
                );
                None
            }
            Ok(t) => Some(t),
            Err(_) => {
                self.at_value(
                    &p,
                    format!("`{}` is not a duration", text.escape_debug()),
                    Some("write a number and a unit, for example 6h or 5d".into()),
                );
                None
            }
        }
    }

    fn check_github(&mut self, g: &GithubSpec) {
        for (i, r) in g.refs.iter().enumerate() {
            if !is_branch_name(r) {
                let mut p = path(&["github", "refs"]);
                p.push(Seg::Index(i));
                self.at_value(
                    &p,
                    format!(
                        "`{}` is not a branch name (globs `*` and `?` allowed)",
                        r.escape_debug()
                    ),
                    None,
                );
            }
        }
        match (&g.land, &g.branch) {
            (Land::Branch, None) => self.at_key(
                &path(&["github", "land"]),
                "`land: branch` needs `branch:`, the branch to commit to",
                None,
            ),
            (_, Some(b)) if !is_branch_name(b) || b.contains(['*', '?']) => self.at_value(
                &path(&["github", "branch"]),
                format!("`{}` is not a branch name", b.escape_debug()),
                None,
            ),
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
            self.at_key(
                &path(&["compare", "on"]),
                "name the columns that join predictions to measurements",
                None,
            );
        }
        self.check_columns(&["compare", "on"], &c.on);
        if !is_relative_inside(&c.measured) {
            self.at_value(
                &path(&["compare", "measured"]),
                "the measured file must be a relative path inside the repository",
                None,
            );
            return;
        }
        // The measured file is checked now so that a typo surfaces at `validate`, not after a
        // six-hour run.
        let file = root.join(&c.measured);
        match csv::Reader::from_path(&file).and_then(|mut r| r.headers().cloned()) {
            Err(e) => self.at_value(
                &path(&["compare", "measured"]),
                format!("cannot read `{}`: {e}", c.measured),
                None,
            ),
            Ok(h) => {
                let have: Vec<&str> = h.iter().collect();
                let mut need: Vec<(Vec<Seg>, &String)> =
                    c.on.iter()
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
pub(crate) fn is_safe_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A git branch name of the usual characters (letters, digits, `._/-`, and `*`/`?` as globs).
pub(crate) fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['/', '-', '.'])
        && !s.ends_with(['/', '.'])
        && !s.contains("..")
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-*?".contains(c))
}

const SAFE_PATH_HELP: &str =
    "use letters, digits, `.`, `_`, `-` and `/`; no part may start with `-` or `.`";

/// A path of `[A-Za-z0-9._/-]` whose parts do not start with `-` or `.` (no option look-alike,
/// no hidden or `..` part): it reaches workflow YAML (the artifact upload's `path:`), shell
/// commands and Git trees, and none of them can read these characters as syntax.
pub(crate) fn is_safe_path(p: &str) -> bool {
    p.len() <= 255
        && p.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with(['-', '.'])
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

/// A relative path that stays inside the directory it is relative to.
pub(crate) fn is_relative_inside(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

/// The closest candidate within a small edit distance, for "did you mean".
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(word.len().min(c.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Where `[` and `{` first stand more than [`locate::MAX_DEPTH`] deep. Both YAML scanners
/// (libyaml's and saphyr's) take time quadratic in the depth of flow nesting before their first
/// event — 200,000 `[` took most of a minute — so it is counted on the raw text, first. Quotes
/// and comments are not skipped: a file would need hundreds of unclosed brackets in its text to
/// be refused wrongly, while skipping them would let an attacker hide the brackets.
pub(crate) fn too_deep(text: &str) -> Option<Pos> {
    let mut depth = 0usize;
    let (mut line, mut line_start) = (1, 0);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => (line, line_start) = (line + 1, i + 1),
            _ => {}
        }
        if depth > locate::MAX_DEPTH {
            let column = text[line_start..i].chars().count() + 1;
            return Some(Pos {
                offset: i,
                len: 1,
                line,
                column,
            });
        }
    }
    None
}

/// The problems of a document serde_yaml could not read as YAML at all.
pub(crate) fn syntax_problems(text: &str, e: &serde_yaml::Error, loc: &Locator) -> Vec<Problem> {
    let message = e.to_string();
    // serde_yaml places a repeated struct field at 1:1; the span-keeping pass knows where each
    // repeat is, in every mapping.
    if message.contains("duplicate entry") && !loc.duplicates.is_empty() {
        return loc
            .duplicates
            .iter()
            .map(|(p, pos, first)| {
                let key = match p.last() {
                    Some(Seg::Key(k)) => k.escape_debug().to_string(),
                    _ => String::new(),
                };
                let within = if p.len() > 1 {
                    format!(" in `{}`", locate::display_path(&p[..p.len() - 1]))
                } else {
                    String::new()
                };
                Problem {
                    pos: *pos,
                    message: format!(
                        "duplicate key `{key}`{within}: it is already given at line {}",
                        first.line
                    ),
                    help: Some("give each key once; remove or merge one of them".into()),
                }
            })
            .collect();
    }
    // Aliases that expand to more than serde_yaml's repetition limit: an alias bomb ("billion
    // laughs"), refused before it takes the memory it asks for.
    if message.starts_with("repetition limit exceeded") {
        let pos = loc.first_alias.unwrap_or(Pos {
            line: 1,
            column: 1,
            ..Pos::default()
        });
        return vec![Problem {
            pos,
            message: "refused: the YAML aliases (`*name`) in this file expand to too much data".into(),
            help: Some("anchors (`&name`) and aliases (`*name`) repeat values; write the values out instead of nesting aliases".into()),
        }];
    }
    let mut p = yaml_problem(text, e);
    // libyaml says "found character that cannot start any token" for a tab in indentation,
    // without naming the character.
    if message.contains("cannot start any token")
        && let Some(tab) = tab_in_indentation(text, p.pos.line)
    {
        p = Problem {
            pos: tab,
            message: "a tab in the indentation: YAML indents with spaces only".into(),
            help: Some("replace the tab with spaces".into()),
        };
    }
    vec![p]
}

/// The first tab in the leading whitespace of `line` (1-based).
fn tab_in_indentation(text: &str, line: usize) -> Option<Pos> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let l = text.get(start..)?.lines().next()?;
    let i = l.find(|c: char| c != ' ' && c != '\t')?;
    let tab = l[..i].find('\t')?;
    Some(Pos {
        offset: start + tab,
        len: 1,
        line,
        column: l[..tab].chars().count() + 1,
    })
}

/// Turns a serde_yaml error into a positioned problem, with "did you mean" for unknown fields.
pub(crate) fn yaml_problem(text: &str, e: &serde_yaml::Error) -> Problem {
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
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .unwrap_or("")
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        help = match closest(field, expected.iter().copied()) {
            Some(c) => Some(format!("did you mean `{c}`?")),
            None if !expected.is_empty() => Some(format!("known fields: {}", expected.join(", "))),
            None => None,
        };
    }
    let len = text[offset.min(text.len())..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ':')
        .map(char::len_utf8)
        .sum();
    Problem {
        pos: Pos {
            offset: offset.min(text.len()),
            len,
            line,
            column,
        },
        message,
        help,
    }
}
