use std::fmt;
use std::path::PathBuf;

use super::locate::Pos;

/// Everything that can be wrong with experiment files.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    // The io error is part of the message, not a `source`: miette would print it twice.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: the file is {size} bytes; an experiment file may have at most {} (1 MiB)", path.display(), super::MAX_FILE_BYTES)]
    TooLarge { path: PathBuf, size: u64 },
    #[error(transparent)]
    Invalid(Box<InvalidFile>),
    #[error("no experiment named `{name}` in {}{hint}", dir.display())]
    NotFound {
        name: String,
        dir: PathBuf,
        hint: String,
    },
    #[error("--cells `{filter}`: {message}")]
    Filter { filter: String, message: String },
}

/// One experiment file and every problem found in it, each with its position.
#[derive(Debug)]
pub struct InvalidFile {
    pub path: PathBuf,
    pub text: String,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for InvalidFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                p.pos.line,
                p.pos.column,
                p.message
            )?;
            if let Some(h) = &p.help {
                write!(f, "\n  help: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for InvalidFile {}

/// Rendered by miette at the edge: the file's text with every problem underlined.
impl miette::Diagnostic for InvalidFile {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("outrun::invalid_experiment"))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.text)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.problems.iter().map(|p| {
            miette::LabeledSpan::new(Some(p.message.clone()), p.pos.offset, p.pos.len.max(1))
        })))
    }
}

impl miette::Diagnostic for ExperimentError {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self {
            ExperimentError::Invalid(f) => f.source_code(),
            _ => None,
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self {
            ExperimentError::Invalid(f) => f.labels(),
            _ => None,
        }
    }
}
