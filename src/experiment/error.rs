//! What can be wrong with experiment files, and how it is shown: every problem of a file at
//! once, each with its file, line and column and an excerpt of the line (`Excerpt`), printed
//! plainly or through miette.

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
    /// What miette is shown (see [`Excerpt`]), made when first asked for.
    excerpt: std::sync::OnceLock<Excerpt>,
}

impl InvalidFile {
    pub fn new(path: PathBuf, text: String, problems: Vec<Problem>) -> Self {
        InvalidFile {
            path,
            text,
            problems,
            excerpt: std::sync::OnceLock::new(),
        }
    }

    fn excerpt(&self) -> &Excerpt {
        self.excerpt
            .get_or_init(|| Excerpt::new(&self.text, &self.problems))
    }
}

/// The most characters of one line that the rendering shows: miette pads to a problem's column
/// with a format width, which panics past 65,535, and a longer line is unreadable anyway.
pub(crate) const SHOWN_COLUMNS: usize = 240;

/// The file's text as miette is handed it: every line longer than [`SHOWN_COLUMNS`] cut to a
/// window around the first problem on it (`…` where text was left out), with each problem's
/// span moved to match. Lines keep their numbers; the message keeps the true line and column.
#[derive(Debug, Default)]
pub(crate) struct Excerpt {
    text: String,
    /// Each problem's (offset, length) in `text`.
    spans: Vec<(usize, usize)>,
}

/// One line of the original text and where its shown part went.
struct Cut {
    start: usize,
    end: usize,
    /// The shown part, in the original's offsets.
    shown: std::ops::Range<usize>,
    /// Where the shown part starts in the excerpt.
    at: usize,
}

impl Excerpt {
    fn new(text: &str, problems: &[Problem]) -> Excerpt {
        let mut out = String::with_capacity(text.len().min(1 << 20));
        let mut cuts = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let end = start + line.len();
            let body = line.trim_end_matches(['\n', '\r']);
            let body_end = start + body.len();
            let line_start = out.len();
            if body.len() <= SHOWN_COLUMNS || body.chars().count() <= SHOWN_COLUMNS {
                out.push_str(line);
                cuts.push(Cut {
                    start,
                    end,
                    shown: start..end,
                    at: line_start,
                });
            } else {
                let anchor = problems
                    .iter()
                    .map(|p| p.pos.offset)
                    .find(|o| (start..body_end).contains(o))
                    .unwrap_or(start)
                    - start;
                let chars: Vec<usize> = body.char_indices().map(|(i, _)| i).collect();
                let anchor_char = chars.partition_point(|&i| i < anchor);
                let first = anchor_char.saturating_sub(SHOWN_COLUMNS / 4);
                let last = (first + SHOWN_COLUMNS).min(chars.len());
                let from = chars[first];
                let to = chars.get(last).copied().unwrap_or(body.len());
                if first > 0 {
                    out.push('…');
                }
                let at = out.len();
                out.push_str(&body[from..to]);
                if to < body.len() {
                    out.push('…');
                }
                out.push_str(&line[body.len()..]);
                cuts.push(Cut {
                    start,
                    end,
                    shown: start + from..start + to,
                    at,
                });
            }
            start = end;
        }
        let map = |o: usize| -> usize {
            let i = cuts.partition_point(|c| c.end <= o);
            match cuts.get(i) {
                None => out.len(),
                Some(c) if o < c.shown.start => c.at,
                Some(c) if o >= c.shown.end && c.shown.end < c.end => c.at + c.shown.len(),
                Some(c) => c.at + (o.min(c.shown.end) - c.shown.start),
            }
        };
        let spans = problems
            .iter()
            .map(|p| {
                let a = map(p.pos.offset);
                let b = map(p.pos.offset + p.pos.len);
                (a, b.saturating_sub(a))
            })
            .collect();
        debug_assert!(cuts.iter().all(|c| c.start <= c.shown.start));
        Excerpt { text: out, spans }
    }
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
        Some(&self.excerpt().text)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let spans = &self.excerpt().spans;
        Some(Box::new(self.problems.iter().zip(spans).map(
            |(p, &(at, len))| miette::LabeledSpan::new(Some(p.message.clone()), at, len.max(1)),
        )))
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
