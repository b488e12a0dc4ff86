//! Validation of a parsed experiment file: every problem at once, each with its position.

use std::path::Path;
use std::time::Duration;

use super::MAX_DESCRIPTION_CHARS;
use super::error::Problem;
use super::locate::{Locator, Seg};
use super::types::{self, Compare, ExperimentFile, GithubSpec, Land};

/// Collects problems with their positions.
pub(crate) struct Validator<'a> {
    pub(crate) loc: &'a Locator,
    pub problems: Vec<Problem>,
    /// Values that stand in for missing or mistyped ones (already reported): problems found in
    /// them would only repeat that.
    pub(crate) placeholders: Vec<Vec<Seg>>,
}

pub(crate) fn path(parts: &[&str]) -> Vec<Seg> {
    parts.iter().map(|p| Seg::Key(p.to_string())).collect()
}

impl Validator<'_> {
    pub(crate) fn in_placeholder(&self, p: &[Seg]) -> bool {
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
    pub(crate) fn check_fields(
        &mut self,
        f: &ExperimentFile,
        stem: &str,
        root: &Path,
    ) -> Option<Duration> {
        self.check_name(&f.name, stem);
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
        self.check_runner_fields(&f.runner);
        self.check_setup(&f.setup);
        if f.command.trim().is_empty() {
            self.at_value(&path(&["command"]), "the command is empty", None);
        }
        self.check_shell_text(&path(&["command"]), &f.command);

        self.check_results(&f.results);
        if let Some(p) = &f.dataset.path
            && (!p.ends_with(".csv") || !is_relative_inside(p) || !is_safe_path(p))
        {
            self.at_value(&path(&["dataset", "path"]), format!("dataset path `{}` must be a relative path inside the repository ending in .csv", p.escape_debug()), Some(SAFE_PATH_HELP.into()));
        }
        if let Some(c) = &f.compare {
            self.check_compare(c, root);
        }
        self.check_github(&f.github);

        self.check_timeout(&f.timeout)
    }

    /// `name`: safe, and the same as the file's name (`stem`).
    fn check_name(&mut self, name: &str, stem: &str) {
        if !is_safe_name(name) {
            self.at_value(
                &path(&["name"]),
                format!("unsafe experiment name `{}`", name.escape_debug()),
                Some("use 1-63 characters from a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit".into()),
            );
        } else if name != stem {
            self.at_value(
                &path(&["name"]),
                format!("the name `{}` differs from the file name `{stem}`", name),
                Some(format!(
                    "rename the file to `{}.yaml` or the experiment to `{stem}`",
                    name
                )),
            );
        }
    }

    /// `runner.labels` and `runner.container`: plain words that reach the workflow.
    fn check_runner_fields(&mut self, runner: &types::Runner) {
        if runner.labels.is_empty() {
            self.at_key(
                &path(&["runner", "labels"]),
                "give at least one runner label",
                None,
            );
        }
        for (i, l) in runner.labels.iter().enumerate() {
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
        if let Some(img) = &runner.container
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
    }

    /// `setup`: the Python version, the cache and the steps.
    fn check_setup(&mut self, setup: &types::Setup) {
        if let Some(py) = &setup.python
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
        if let Some(c) = &setup.cache {
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
        for (i, s) in setup.steps.iter().enumerate() {
            let mut p = path(&["setup", "steps"]);
            p.push(Seg::Index(i));
            self.check_shell_text(&p, s);
        }
    }

    /// `results`: the file, the key columns and `max-size`.
    fn check_results(&mut self, res: &types::Results) {
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
        if let Some(size) = &res.max_size {
            match types::parse_size(size) {
                Some(n) if (1..=types::MAX_RESULTS_MAX_SIZE).contains(&n) => {}
                Some(_) => self.at_value(
                    &path(&["results", "max-size"]),
                    format!(
                        "`max-size` must be between 1 byte and 64GiB, not `{}`",
                        size.escape_debug()
                    ),
                    None,
                ),
                None => self.at_value(
                    &path(&["results", "max-size"]),
                    format!(
                        "`max-size` must be a size such as `1GiB`, `500MB` or `4096`, not `{}`",
                        size.escape_debug()
                    ),
                    Some(
                        "units: B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)"
                            .into(),
                    ),
                ),
            }
        }
    }

    /// `timeout`: a duration from 1 s to 5 days, returned when it is valid.
    fn check_timeout(&mut self, timeout: &str) -> Option<Duration> {
        match humantime::parse_duration(timeout.trim()) {
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
                    format!("`{}` is not a duration{why}", timeout.escape_debug()),
                    Some("write a number and a unit, for example 90s, 30m, 6h or 1h30m".into()),
                );
                None
            }
        }
    }

    /// `runner.job-timeout`: GitHub stops a job at 6 h on its hosted runners and at 5 days on
    /// self-hosted ones; outrun packs cells into jobs to fit it (see `workflow::pack`, and `crate::limits` for the limits).
    pub(crate) fn check_job_timeout(&mut self, r: &types::Runner) -> Option<Duration> {
        use crate::limits::{HOSTED_JOB_LIMIT, SELF_HOSTED_JOB_LIMIT, is_hosted};
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

    pub(crate) fn check_github(&mut self, g: &GithubSpec) {
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

    pub(crate) fn check_columns(&mut self, at: &[&str], cols: &[String]) {
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

    pub(crate) fn check_compare(&mut self, c: &Compare, root: &Path) {
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
    pub(crate) fn check_shell_text(&mut self, p: &[Seg], s: &str) {
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
