//! Experiment files: loading with positions, validation, and the matrix → cells expansion.

mod error;
pub mod filter;
pub mod locate;
mod matrix;
pub(crate) mod schema;
mod syntax;
mod types;
mod validate;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ExperimentError, InvalidFile, Problem};
pub use matrix::Cell;
pub(crate) use matrix::legacy_cell_id;
pub use types::{
    Compare, DatasetSpec, ExperimentFile, GithubSpec, History, Land, Layout, Results, Runner,
    Setup, SetupCache,
};

use locate::{Locator, Pos};
pub(crate) use syntax::{syntax_problems, too_deep, yaml_problem};
pub(crate) use validate::{Validator, closest, is_relative_inside, is_safe_name, path};

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
    ExperimentError::Invalid(Box::new(InvalidFile::new(
        rel.to_path_buf(),
        text,
        vec![problem],
    )))
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
        ExperimentError::Invalid(Box::new(InvalidFile::new(
            rel.to_path_buf(),
            text,
            problems,
        )))
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

#[cfg(test)]
mod fuzz_tests;
