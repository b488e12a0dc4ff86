//! The existing dataset file, read record by record in the output's columns.

use std::cmp::Ordering;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use csv::ByteRecord;

use super::merge::Counts;
use super::order::{Fields, Order, Rec};
use super::{CELL, DatasetError, RUN_ID, RUN_STARTED, STARTED};

/// The dataset's header; `None` for a missing or empty file.
pub(super) fn header(path: &Path) -> Result<Option<Vec<String>>, DatasetError> {
    super::settle(path);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DatasetError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut r = csv::Reader::from_reader(BufReader::new(file));
    let h = r.byte_headers().map_err(|e| malformed(path, e))?;
    if h.is_empty() {
        return Ok(None);
    }
    let columns: Vec<String> = h
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    // A hand-edited header may name a column twice: reading by name would silently take the
    // first and drop the second's values on rewrite.
    let mut seen: foldhash::HashMap<&str, usize> = foldhash::HashMapExt::new();
    for (i, c) in columns.iter().enumerate() {
        if let Some(first) = seen.insert(c.as_str(), i) {
            return Err(DatasetError::DuplicateColumn {
                path: path.to_path_buf(),
                column: c.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    for c in [RUN_ID, CELL] {
        if !columns.iter().any(|h| h == c) {
            return Err(DatasetError::Foreign {
                path: path.to_path_buf(),
                column: c.into(),
            });
        }
    }
    Ok(Some(columns))
}

pub(super) fn malformed(path: &Path, e: csv::Error) -> DatasetError {
    // A read that failed is not a malformed line: keep the error itself (and its source).
    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
        return csv_io(path, e);
    }
    let line = e.position().map(|p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    };
    DatasetError::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// For each wanted column, where it is in the file: by name, so reordered columns read right;
/// a dataset from before rows carried their run's start gets the cell's start in its place.
pub(super) fn column_map(header: &[String], wanted: &[String]) -> Vec<Option<usize>> {
    // A map, not a search per column: linear in the columns however wide the results are.
    let index = column_index(header);
    let at = |c: &str| index.get(c).copied();
    wanted
        .iter()
        .map(|w| at(w).or_else(|| if w == RUN_STARTED { at(STARTED) } else { None }))
        .collect()
}

/// The existing file, record by record, in the output's columns.
pub(super) struct FileRows {
    path: std::path::PathBuf,
    reader: csv::Reader<File>,
    /// Where each output column is in the file's records.
    map: Vec<Option<usize>>,
    /// The file's columns are the output's, in order: no remapping.
    identity: bool,
    raw: ByteRecord,
    /// Whether the records must come in [`Order`] (a merge's streaming pass).
    check_order: bool,
    prev: Option<Rec>,
}

/// Why a streaming pass stopped early.
pub(super) enum Stop {
    /// The file is not in order: sort it in memory and start again.
    Unsorted,
    /// The merged file would be byte for byte the old one: leave it alone.
    Unchanged(Counts),
    Err(DatasetError),
}

impl From<DatasetError> for Stop {
    fn from(e: DatasetError) -> Stop {
        Stop::Err(e)
    }
}

impl FileRows {
    pub(super) fn open(
        path: &Path,
        columns: &[String],
        check_order: bool,
    ) -> Result<Option<FileRows>, DatasetError> {
        let Some(header) = header(path)? else {
            return Ok(None);
        };
        let file = File::open(path).map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .buffer_capacity(1 << 16)
            .from_reader(file);
        reader.byte_headers().map_err(|e| malformed(path, e))?;
        let map = column_map(&header, columns);
        Ok(Some(FileRows {
            path: path.to_path_buf(),
            reader,
            identity: map.len() == header.len()
                && map.iter().enumerate().all(|(i, m)| *m == Some(i)),
            map,
            raw: ByteRecord::new(),
            check_order,
            prev: None,
        }))
    }

    /// The next record into `out` (reusing its buffers); `false` at the end.
    pub(super) fn next_into(&mut self, out: &mut Rec, order: &Order) -> Result<bool, Stop> {
        // A file in the output's columns (the usual case) is read straight into `out`.
        let into = if self.identity {
            &mut out.fields
        } else {
            &mut self.raw
        };
        if !self
            .reader
            .read_byte_record(into)
            .map_err(|e| malformed(&self.path, e))?
        {
            return Ok(false);
        }
        if !self.identity {
            out.fields.clear();
            for m in &self.map {
                out.fields
                    .push_field(m.and_then(|i| self.raw.get(i)).unwrap_or(b""));
            }
        }
        out.index(order);
        if self.check_order {
            if let Some(p) = &self.prev
                && p.cmp(out, order) == Ordering::Greater
            {
                return Err(Stop::Unsorted);
            }
            self.prev.get_or_insert_with(Rec::default).copy_from(out);
        }
        Ok(true)
    }
}

pub(super) fn stop_err(s: Stop) -> DatasetError {
    match s {
        Stop::Err(e) => e,
        _ => DatasetError::Io {
            path: Default::default(),
            source: std::io::Error::other("unexpected stop"),
        },
    }
}

pub(super) fn csv_io(path: &Path, e: csv::Error) -> DatasetError {
    DatasetError::Csv {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Each column's position by name (the first, if a name repeats).
pub(super) fn column_index(columns: &[String]) -> foldhash::HashMap<&str, usize> {
    let mut index: foldhash::HashMap<&str, usize> =
        foldhash::HashMapExt::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        index.entry(c.as_str()).or_insert(i);
    }
    index
}
