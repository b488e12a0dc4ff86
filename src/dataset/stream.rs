//! The dataset, record by record: merging in one pass and reading the newest row per key.
//!
//! The file is kept sorted by [`Order`] (keys, numbers as numbers; then run order; then cell),
//! so a merge is a merge of two sorted streams — the incoming rows, sorted in memory, and the
//! existing file, read one record at a time — and the newest row of a key is the last of its
//! run of equal keys. Memory grows with the incoming rows, never with the dataset. A file that
//! is not in that order (edited by hand, or written by an outrun whose order differed) is
//! sorted in memory once; the merge writes it back in order, so the next one streams again.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use csv::ByteRecord;

use super::prefix;
use super::{
    ATTEMPT, CELL, DatasetError, FINISHED, METRIC, MergeSummary, PROVENANCE, RUN_ID, RUN_STARTED,
    STARTED, VALUE,
};
use crate::contract::CellRecord;
use crate::experiment::{History, Layout, Plan};
use crate::outputs::{CellOutcome, Row};

/// A field read as a number when it is one (NaN is not: it would break the order's totality).
pub(super) fn number(b: &[u8]) -> Option<f64> {
    // Only something that can start a number is worth a parse.
    match b.first() {
        Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'i' | b'I') => {}
        _ => return None,
    }
    std::str::from_utf8(b)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|x| !x.is_nan())
}

/// The one comparison of values: numbers as numbers (8 before 32; `8` before `8.0`), numbers
/// before text, text by its bytes. A total order, so sorting can neither panic nor depend on
/// the order rows arrived in.
pub(super) fn cmp_field(a: &[u8], na: Option<f64>, b: &[u8], nb: Option<f64>) -> Ordering {
    match (na, nb) {
        (Some(x), Some(y)) => x
            .partial_cmp(&y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| cmp_bytes(a, b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => cmp_bytes(a, b),
    }
}

/// Byte order. Sort fields are mostly a few bytes, mostly equal to their neighbour's (the same
/// cell, the same mode): compared inline, not through a call to `memcmp` for each (15 % of a
/// one-cell merge in `perf`).
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    if a.len() <= 16 && b.len() <= 16 {
        for (x, y) in a.iter().zip(b) {
            if x != y {
                return x.cmp(y);
            }
        }
        return a.len().cmp(&b.len());
    }
    a.cmp(b)
}

pub(super) fn compare_str(a: &str, b: &str) -> Ordering {
    cmp_field(
        a.as_bytes(),
        number(a.as_bytes()),
        b.as_bytes(),
        number(b.as_bytes()),
    )
}

/// Where the sort columns are in a record: the key (keys, plus `metric` in the long layout),
/// then run start, run id, attempt and cell.
#[derive(Debug, Clone)]
pub(super) struct Order {
    cols: Vec<usize>,
    /// How many of `cols` form the key.
    key: usize,
    /// How many of `cols` form the row's key for widening (the keys without `metric`).
    wide_key: usize,
}

impl Order {
    pub(super) fn new(plan: &Plan, columns: &[String]) -> Order {
        let at = |c: &str| columns.iter().position(|h| h == c);
        let mut cols: Vec<usize> = plan
            .file
            .results
            .keys
            .iter()
            .filter_map(|k| at(k))
            .collect();
        let wide_key = cols.len();
        if plan.file.dataset.layout == Layout::Long
            && let Some(m) = at(METRIC)
        {
            cols.push(m);
        }
        let key = cols.len();
        cols.extend(
            [RUN_STARTED, RUN_ID, ATTEMPT, CELL]
                .iter()
                .filter_map(|c| at(c)),
        );
        Order {
            cols,
            key,
            wide_key,
        }
    }

    fn run_id(&self) -> Option<usize> {
        self.cols.get(self.key + 1).copied()
    }

    fn cell(&self) -> Option<usize> {
        self.cols.get(self.key + 3).copied()
    }
}

/// A record in the output's column order, with its sort columns read as numbers once.
#[derive(Debug, Clone, Default)]
pub(super) struct Rec {
    pub(super) fields: ByteRecord,
    nums: Vec<Option<f64>>,
}

impl Rec {
    fn index(&mut self, order: &Order) {
        self.nums.clear();
        self.nums.extend(
            order
                .cols
                .iter()
                .map(|&c| number(self.fields.get(c).unwrap_or(b""))),
        );
    }

    /// `self` becomes a copy of `other`, in the buffers it has: the derived `clone_from`
    /// allocates anew, and this runs once per row.
    fn copy_from(&mut self, other: &impl Fields) {
        self.fields.clear();
        for c in 0..other.width() {
            self.fields.push_field(other.at(c));
        }
        self.nums.clear();
        self.nums.extend((0..other.nums()).map(|j| other.num(j)));
    }
}

/// A row as the order sees it: its fields by column and its sort columns as numbers. Existing
/// rows stream through one reused [`Rec`]; incoming rows live in one [`Incoming`] buffer.
pub(super) trait Fields {
    fn width(&self) -> usize;
    fn at(&self, c: usize) -> &[u8];
    fn nums(&self) -> usize;
    /// The `j`-th sort column (`order.cols[j]`) as a number.
    fn num(&self, j: usize) -> Option<f64>;

    fn field(&self, c: Option<usize>) -> &[u8] {
        c.map(|c| self.at(c)).unwrap_or(b"")
    }

    fn cmp_from(&self, other: &impl Fields, order: &Order, from: usize, to: usize) -> Ordering {
        for j in from..to {
            let c = order.cols[j];
            let o = cmp_field(self.at(c), self.num(j), other.at(c), other.num(j));
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    fn cmp(&self, other: &impl Fields, order: &Order) -> Ordering {
        self.cmp_from(other, order, 0, order.cols.len())
    }

    /// The same key: byte for byte (`8` and `8.0` are different keys, as they always were).
    fn same_key_upto(&self, other: &impl Fields, order: &Order, n: usize) -> bool {
        order.cols[..n]
            .iter()
            .all(|&c| cmp_bytes(self.at(c), other.at(c)).is_eq())
    }

    fn same_key(&self, other: &impl Fields, order: &Order) -> bool {
        self.same_key_upto(other, order, order.key)
    }

    /// Run start, run id, attempt: which run is newer.
    fn cmp_run(&self, other: &impl Fields, order: &Order) -> Ordering {
        self.cmp_from(
            other,
            order,
            order.key,
            (order.key + 3).min(order.cols.len()),
        )
    }

    fn key_text(&self, order: &Order) -> String {
        order.cols[..order.key]
            .iter()
            .map(|&c| String::from_utf8_lossy(self.at(c)).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn cell_text(&self, order: &Order) -> String {
        String::from_utf8_lossy(self.field(order.cell())).into_owned()
    }
}

impl Fields for Rec {
    fn width(&self) -> usize {
        self.fields.len()
    }
    fn at(&self, c: usize) -> &[u8] {
        self.fields.get(c).unwrap_or(b"")
    }
    fn nums(&self) -> usize {
        self.nums.len()
    }
    fn num(&self, j: usize) -> Option<f64> {
        self.nums.get(j).copied().flatten()
    }
}

/// The incoming rows in one buffer, fields in the output's column order, sort columns parsed
/// once: a record per row cost four allocations a row, a third of a 1 M-row merge.
#[derive(Debug, Default)]
struct Incoming {
    bytes: Vec<u8>,
    /// The end of every field in `bytes`, `width` a row.
    ends: Vec<usize>,
    nums: Vec<Option<f64>>,
    width: usize,
    nnum: usize,
    /// Row numbers in the order's order (see [`Incoming::sort`]).
    sorted: Vec<usize>,
}

impl Incoming {
    fn new(width: usize, order: &Order) -> Incoming {
        Incoming {
            width,
            nnum: order.cols.len(),
            ..Incoming::default()
        }
    }

    fn len(&self) -> usize {
        self.ends.len() / self.width.max(1)
    }

    fn reserve(&mut self, rows: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.ends.reserve(rows * self.width);
        self.nums.reserve(rows * self.nnum);
    }

    fn push(&mut self, fields: &[&str], order: &Order) {
        for f in fields {
            self.bytes.extend_from_slice(f.as_bytes());
            self.ends.push(self.bytes.len());
        }
        let row = self.len() - 1;
        for &c in &order.cols {
            let n = number(InRow { inc: self, row }.at(c));
            self.nums.push(n);
        }
    }

    /// Sorts the row numbers by the order, ties by arrival (what a stable sort of the rows
    /// gives). Rows arrive in any order (a simulator's, a parallel script's), so this is most
    /// of a merge's CPU: each row carries fixed-size prefixes of its leading sort columns (see
    /// [`prefix`]) and only rows whose prefixes tie are compared field by field.
    fn sort(&mut self, order: &Order) {
        self.sorted = match order.cols.len().min(order.key.max(1)) {
            0 => (0..self.len()).collect(),
            1 => self.sort_by_prefixes::<1>(order),
            2 => self.sort_by_prefixes::<2>(order),
            3 => self.sort_by_prefixes::<3>(order),
            _ => self.sort_by_prefixes::<4>(order),
        };
    }

    /// The rows sorted by the prefixes of the first `K` sort columns, then the full order, then
    /// the row number; `K` a constant so each element is one flat array moved as a whole.
    fn sort_by_prefixes<const K: usize>(&self, order: &Order) -> Vec<usize> {
        let mut rows: Vec<([u128; K], usize)> = (0..self.len())
            .map(|r| {
                let row = self.row(r);
                let mut ps = [0u128; K];
                for (j, p) in ps.iter_mut().enumerate() {
                    *p = prefix::prefix(row.at(order.cols[j]), row.num(j));
                }
                (ps, r)
            })
            .collect();
        let all = order.cols.len();
        rows.sort_unstable_by(|(pa, a), (pb, b)| {
            // From the first column whose prefixes tie without holding the whole field.
            let mut from = K;
            for (j, (x, y)) in pa.iter().zip(pb).enumerate() {
                if x != y {
                    return x.cmp(y);
                }
                if !prefix::exact(*x) {
                    from = j;
                    break;
                }
            }
            self.row(*a)
                .cmp_from(&self.row(*b), order, from, all)
                .then(a.cmp(b))
        });
        rows.into_iter().map(|(_, r)| r).collect()
    }

    fn row(&self, row: usize) -> InRow<'_> {
        InRow { inc: self, row }
    }

    /// The rows in sorted order.
    fn iter(&self) -> impl Iterator<Item = InRow<'_>> {
        self.sorted.iter().map(|&r| self.row(r))
    }
}

#[derive(Debug, Clone, Copy)]
struct InRow<'a> {
    inc: &'a Incoming,
    row: usize,
}

impl Fields for InRow<'_> {
    fn width(&self) -> usize {
        self.inc.width
    }
    fn at(&self, c: usize) -> &[u8] {
        if c >= self.inc.width {
            return b"";
        }
        let i = self.row * self.inc.width + c;
        let start = if i == 0 { 0 } else { self.inc.ends[i - 1] };
        &self.inc.bytes[start..self.inc.ends[i]]
    }
    fn nums(&self) -> usize {
        self.inc.nnum
    }
    fn num(&self, j: usize) -> Option<f64> {
        self.inc.nums[self.row * self.inc.nnum + j]
    }
}

/// A row the merge writes: one of the file's, or an incoming one.
#[derive(Clone, Copy)]
enum Out<'a> {
    Old(&'a Rec),
    New(InRow<'a>),
}

impl Fields for Out<'_> {
    fn width(&self) -> usize {
        match self {
            Out::Old(r) => r.width(),
            Out::New(r) => r.width(),
        }
    }
    fn at(&self, c: usize) -> &[u8] {
        match self {
            Out::Old(r) => r.at(c),
            Out::New(r) => r.at(c),
        }
    }
    fn nums(&self) -> usize {
        match self {
            Out::Old(r) => r.nums(),
            Out::New(r) => r.nums(),
        }
    }
    fn num(&self, j: usize) -> Option<f64> {
        match self {
            Out::Old(r) => r.num(j),
            Out::New(r) => r.num(j),
        }
    }
}

/// The dataset's header; `None` for a missing or empty file.
pub(super) fn header(path: &Path) -> Result<Option<Vec<String>>, DatasetError> {
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
fn column_map(header: &[String], wanted: &[String]) -> Vec<Option<usize>> {
    // A map, not a search per column: linear in the columns however wide the results are.
    let index = column_index(header);
    let at = |c: &str| index.get(c).copied();
    wanted
        .iter()
        .map(|w| at(w).or_else(|| if w == RUN_STARTED { at(STARTED) } else { None }))
        .collect()
}

/// The existing file, record by record, in the output's columns.
struct FileRows {
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
enum Stop {
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
    fn open(
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
    fn next_into(&mut self, out: &mut Rec, order: &Order) -> Result<bool, Stop> {
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

/// The existing rows: streamed from the file, or sorted in memory when the file was not.
enum OldRows {
    File(Box<FileRows>),
    Memory(std::vec::IntoIter<Rec>),
    None,
}

impl OldRows {
    fn next(&mut self, out: &mut Rec, order: &Order) -> Result<bool, Stop> {
        match self {
            OldRows::File(f) => f.next_into(out, order),
            OldRows::Memory(it) => Ok(it.next().map(|r| *out = r).is_some()),
            OldRows::None => Ok(false),
        }
    }
}

/// Compares what is written with the old file as it goes, so an unchanged merge is known at
/// the end without a second pass or holding either file.
struct SameAs<'a> {
    inner: &'a mut dyn Write,
    old: Option<BufReader<File>>,
    same: bool,
    buf: Vec<u8>,
}

impl Write for SameAs<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        if self.same {
            match &mut self.old {
                Some(old) => {
                    self.buf.resize(n, 0);
                    self.same = old.read_exact(&mut self.buf).is_ok() && self.buf[..] == data[..n];
                }
                None => self.same = false,
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl SameAs<'_> {
    fn finished_same(&mut self) -> bool {
        self.same
            && self
                .old
                .as_mut()
                .is_some_and(|o| o.read(&mut [0u8; 1]).is_ok_and(|n| n == 0))
    }
}

/// The columns a set of outcomes contributes: keys, then `metric,value` (long) or the results'
/// own columns in the order first seen (wide).
pub(super) fn incoming_columns(plan: &Plan, outcomes: &[CellOutcome]) -> Vec<String> {
    let keys = &plan.file.results.keys;
    let mut columns: Vec<String> = keys.clone();
    if plan.file.dataset.layout == Layout::Long {
        columns.extend([METRIC.to_string(), VALUE.to_string()]);
    } else {
        let mut seen: foldhash::HashSet<&str> = foldhash::HashSetExt::new();
        seen.extend(keys.iter().map(String::as_str));
        for o in outcomes.iter().filter(|o| o.ok()) {
            for c in &o.columns {
                if seen.insert(c.as_str()) {
                    columns.push(c.clone());
                }
            }
        }
    }
    columns
}

/// Each column's position by name (the first, if a name repeats).
pub(crate) fn column_index(columns: &[String]) -> foldhash::HashMap<&str, usize> {
    let mut index: foldhash::HashMap<&str, usize> =
        foldhash::HashMapExt::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        index.entry(c.as_str()).or_insert(i);
    }
    index
}

/// A cell's provenance: each provenance column with its value for the cell's rows.
fn provenance<'a>(
    r: &'a CellRecord,
    attempt: &'a str,
    run_started_at: &'a str,
) -> [(&'static str, &'a str); 9] {
    [
        ("outrun_experiment", r.experiment.as_str()),
        (CELL, r.cell.as_str()),
        ("outrun_source", r.source.as_str()),
        (RUN_ID, r.run_id.as_str()),
        (ATTEMPT, attempt),
        ("outrun_commit", r.commit.as_deref().unwrap_or("")),
        (RUN_STARTED, run_started_at),
        (STARTED, r.started_at.as_str()),
        (FINISHED, r.finished_at.as_str()),
    ]
}

/// The incoming rows in `columns`' order, unsorted.
fn incoming_records(
    plan: &Plan,
    outcomes: &[CellOutcome],
    run_started_at: &str,
    columns: &[String],
    order: &Order,
) -> Incoming {
    let keys = &plan.file.results.keys;
    let long = plan.file.dataset.layout == Layout::Long;
    let index = column_index(columns);
    let prov_at = |c: &str| index.get(c).copied();
    let (m_at, v_at) = (prov_at(METRIC), prov_at(VALUE));
    let mut out = Incoming::new(columns.len(), order);
    // Reserved once: grown by doubling, a 1 M-row buffer is copied ~20 times over.
    let ok = || outcomes.iter().filter(|o| o.ok());
    let per_row = if long {
        ok().map(|o| o.columns.len().saturating_sub(keys.len()))
            .max()
            .unwrap_or(1)
    } else {
        1
    };
    let rows: usize = ok().map(|o| o.rows.len()).sum::<usize>() * per_row;
    let bytes: usize = ok()
        .map(|o| {
            let attempt = o.record.attempt.to_string();
            let prov: usize = provenance(&o.record, &attempt, run_started_at)
                .iter()
                .map(|(_, v)| v.len())
                .sum();
            (o.rows.text_len() + o.rows.len() * prov) * per_row
        })
        .sum();
    out.reserve(rows, bytes);
    for o in outcomes.iter().filter(|o| o.ok()) {
        let r = &o.record;
        let attempt = r.attempt.to_string();
        let prov: Vec<(Option<usize>, &str)> = provenance(r, &attempt, run_started_at)
            .into_iter()
            .map(|(c, v)| (prov_at(c), v))
            .collect();
        // (name, where in the cell's rows) of each metric, in the long layout.
        let metrics: Vec<(&String, usize)> = if long {
            o.columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !keys.contains(c))
                .map(|(i, c)| (c, i))
                .collect()
        } else {
            Vec::new()
        };
        // Where each output column is in this cell's rows (the long layout takes only the keys
        // from there), worked out once per cell, not per row.
        let cell_index = column_index(&o.columns);
        let from: Vec<Option<usize>> = columns
            .iter()
            .map(|c| {
                if long && !keys.contains(c) {
                    None
                } else {
                    cell_index.get(c.as_str()).copied()
                }
            })
            .collect();
        // One buffer of field slices for the cell's rows: per row only what is kept is allocated.
        let mut fields: Vec<&str> = Vec::with_capacity(columns.len());
        for row in 0..o.rows.len() {
            let mut fill = |metric: Option<usize>| {
                fields.clear();
                fields.extend(
                    from.iter()
                        .map(|at| at.and_then(|i| o.rows.get(row, i)).unwrap_or("")),
                );
                if let (Some((m, at)), Some(mi), Some(vi)) =
                    (metric.map(|k| metrics[k]), m_at, v_at)
                {
                    fields[mi] = m.as_str();
                    fields[vi] = o.rows.get(row, at).unwrap_or("");
                }
                for (i, v) in &prov {
                    if let Some(i) = i {
                        fields[*i] = *v;
                    }
                }
                out.push(&fields, order);
            };
            if long {
                for k in 0..metrics.len() {
                    fill(Some(k));
                }
            } else {
                fill(None);
            }
        }
    }
    out
}

/// The output's columns: result columns in the order first seen (nothing is ever dropped, so a
/// column added by hand stays), then the provenance block in its current order.
fn output_columns(old: &[String], incoming: &[String]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    let mut seen: foldhash::HashSet<&str> = foldhash::HashSetExt::new();
    for c in old.iter().chain(incoming.iter()) {
        if !PROVENANCE.contains(&c.as_str()) && seen.insert(c.as_str()) {
            columns.push(c.clone());
        }
    }
    columns.extend(PROVENANCE.iter().map(|s| s.to_string()));
    columns
}

/// A layout switch on an existing dataset would leave a file with both layouts' columns.
fn check_layout(
    path: &Path,
    plan: &Plan,
    old: &[String],
    incoming: &[String],
) -> Result<(), DatasetError> {
    let has = |cols: &[String], c: &str| cols.iter().any(|h| h == c);
    let old_long = has(old, METRIC) && has(old, VALUE);
    let layout = plan.file.dataset.layout;
    let clash = match layout {
        Layout::Long => !old_long,
        // A wide result may have its own `metric` and `value` columns.
        Layout::Wide => old_long && !(has(incoming, METRIC) && has(incoming, VALUE)),
    };
    if clash {
        let (was, now) = if layout == Layout::Long {
            ("wide", "long")
        } else {
            ("long", "wide")
        };
        return Err(DatasetError::LayoutChanged {
            path: path.to_path_buf(),
            was: was.into(),
            now: now.into(),
        });
    }
    Ok(())
}

/// Cells of one run that produce the same key (their parameters are not key columns): with
/// both merged, one would hide the other. Returns (cell, other cell, key) per clash.
pub fn key_clashes(plan: &Plan, outcomes: &[CellOutcome]) -> Vec<(String, String, String)> {
    let columns = output_columns(&[], &incoming_columns(plan, outcomes));
    let order = Order::new(plan, &columns);
    let mut inc = incoming_records(plan, outcomes, "", &columns, &order);
    inc.sort(&order);
    let mut clashes: Vec<(String, String, String)> = Vec::new();
    for (a, b) in inc.iter().zip(inc.iter().skip(1)) {
        if a.same_key(&b, &order) && a.field(order.cell()) != b.field(order.cell()) {
            let (x, y) = (a.cell_text(&order), b.cell_text(&order));
            if !clashes.iter().any(|(p, q, _)| (p, q) == (&x, &y)) {
                clashes.push((x, y, a.key_text(&order)));
            }
        }
    }
    clashes
}

/// What a merge does with the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Merge the incoming rows by the experiment's `dataset.history`.
    Merge,
    /// Also keep only the newest run's row of every key already in the file (`--migrate`).
    Migrate,
}

/// Merges the successful cells of `outcomes` into the dataset at `path` in one pass; see the
/// module's comment. The caller holds the dataset's lock.
/// Merges `outcomes` into the dataset at `path`. With `watch`, also hands it the newest row per
/// key of the merged dataset as it is written (see [`NewestRows`]) and returns the dataset's
/// columns — or `None` when what `watch` saw must be thrown away and the file read instead (a
/// file that was out of order is sorted in a second pass).
pub(super) fn merge(
    path: &Path,
    rel: &Path,
    plan: &Plan,
    outcomes: &[CellOutcome],
    run_started_at: &str,
    mode: Mode,
    watch: Option<&mut dyn FnMut(Newest<'_>)>,
) -> Result<(MergeSummary, Option<Vec<String>>), DatasetError> {
    let old_header = header(path)?;
    let in_cols = incoming_columns(plan, outcomes);
    if let Some(h) = &old_header {
        check_layout(path, plan, h, &in_cols)?;
    }
    let columns = output_columns(old_header.as_deref().unwrap_or(&[]), &in_cols);
    let order = Order::new(plan, &columns);
    let mut incoming = incoming_records(plan, outcomes, run_started_at, &columns, &order);
    incoming.sort(&order);
    if let Some((a, b)) = incoming
        .iter()
        .zip(incoming.iter().skip(1))
        .find(|(a, b)| a.same_key(b, &order))
    {
        return Err(clash(&a, &b, &order));
    }
    let mut summary = MergeSummary {
        path: rel.display().to_string(),
        cells_merged: outcomes.iter().filter(|o| o.ok()).count(),
        cells_skipped: outcomes.iter().filter(|o| !o.ok()).count(),
        ..MergeSummary::default()
    };
    // Nothing to add to a dataset that does not exist yet: don't create an empty file.
    if old_header.is_none() && incoming.len() == 0 {
        return Ok((summary, Some(Vec::new())));
    }
    // Per cell, not per row: the (cell, run) pairs are few however many rows they bring.
    let mut replaced: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for o in outcomes.iter().filter(|o| o.ok() && !o.rows.is_empty()) {
        replaced
            .entry(o.record.cell.as_bytes().to_vec())
            .or_default()
            .push(o.record.run_id.as_bytes().to_vec());
    }
    let newest = plan.file.dataset.history == History::Newest || mode == Mode::Migrate;
    let pass = Pass {
        order: &order,
        columns: &columns,
        incoming: &incoming,
        replaced: &replaced,
        newest,
        migrate: mode == Mode::Migrate,
        crlf: ends_lines_with_crlf(path),
    };

    let old = match FileRows::open(path, &columns, true)? {
        Some(f) => OldRows::File(Box::new(f)),
        None => OldRows::None,
    };
    let mut sink = watch.map(|f| NewestRows::new(plan, &columns, &order, f));
    let mut result = pass.run(path, old, sink.as_mut());
    if matches!(result, Err(Stop::Unsorted)) {
        sink = None;
        // Not in order: sort what is there once (memory for this merge only), write it in order.
        let mut all = Vec::new();
        if let Some(mut f) = FileRows::open(path, &columns, false)? {
            let mut r = Rec::default();
            while f.next_into(&mut r, &order).map_err(stop_err)? {
                all.push(std::mem::take(&mut r));
            }
        }
        all.sort_by(|a, b| a.cmp(b, &order));
        result = pass.run(path, OldRows::Memory(all.into_iter()), sink.as_mut());
    }
    match result {
        Ok(counts) => {
            summary.changed = true;
            counts.into_summary(&mut summary);
        }
        Err(Stop::Unchanged(counts)) => counts.into_summary(&mut summary),
        Err(Stop::Unsorted) => {
            return Err(DatasetError::Unsorted {
                path: path.to_path_buf(),
            });
        }
        Err(Stop::Err(e)) => return Err(e),
    }
    // Worth a word only where one row per key is the rule and `--migrate` would make it so.
    summary.several_runs_per_key &= newest && mode != Mode::Migrate;
    let watched = match sink {
        Some(s) if !s.unsorted => {
            s.finish();
            Some(columns)
        }
        _ => None,
    };
    Ok((summary, watched))
}

fn stop_err(s: Stop) -> DatasetError {
    match s {
        Stop::Err(e) => e,
        _ => DatasetError::Io {
            path: Default::default(),
            source: std::io::Error::other("unexpected stop"),
        },
    }
}

#[derive(Debug, Default)]
struct Counts {
    added: usize,
    replaced: usize,
    older_ignored: usize,
    total: usize,
    several_per_key: bool,
    duplicated: usize,
}

impl Counts {
    fn into_summary(self, s: &mut MergeSummary) {
        s.rows_replaced = self.replaced;
        s.rows_added = self.added;
        s.rows_older_ignored = self.older_ignored;
        s.rows_total = self.total;
        s.several_runs_per_key = self.several_per_key;
        s.rows_duplicated = self.duplicated;
    }
}

struct Pass<'a> {
    order: &'a Order,
    columns: &'a [String],
    incoming: &'a Incoming,
    /// (cell, run id) of every incoming row: the rows they replace from the same run.
    /// Looked up by the row's cell without copying it (once per existing row).
    replaced: &'a HashMap<Vec<u8>, Vec<Vec<u8>>>,
    newest: bool,
    migrate: bool,
    /// The file ends its lines with CRLF (written on Windows, or by a tool that does): the
    /// rewrite keeps them, or every line would show as changed in the diff.
    crlf: bool,
}

/// Whether the file's first line ends with CRLF (false for a missing or empty file).
fn ends_lines_with_crlf(path: &Path) -> bool {
    use std::io::BufRead as _;
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut line = Vec::new();
    BufReader::new(f).read_until(b'\n', &mut line).is_ok() && line.ends_with(b"\r\n")
}

impl Pass<'_> {
    /// Writes the merged file (temp, fsync, rename) unless it would be the old one.
    ///
    /// `watch`, when given, sees every row written, in order (the rows of an unchanged file
    /// too): the merge's output is the dataset, so a report needs no second pass.
    fn run<F: FnMut(Newest<'_>)>(
        &self,
        path: &Path,
        old: OldRows,
        mut watch: Option<&mut NewestRows<'_, F>>,
    ) -> Result<Counts, Stop> {
        let mut stop: Option<Stop> = None;
        let mut counts = Counts::default();
        let written = crate::fsutil::write_atomic_with(path, |out| {
            let old_file = File::open(path)
                .ok()
                .map(|f| BufReader::with_capacity(1 << 16, f));
            let mut same = SameAs {
                inner: out,
                old: old_file,
                same: true,
                buf: Vec::new(),
            };
            let res = {
                let mut w = csv::WriterBuilder::new()
                    .buffer_capacity(1 << 16)
                    .terminator(if self.crlf {
                        csv::Terminator::CRLF
                    } else {
                        csv::Terminator::Any(b'\n')
                    })
                    .from_writer(&mut same);
                let r = w
                    .write_record(self.columns)
                    .map_err(|e| Stop::Err(csv_io(path, e)))
                    .and_then(|_| {
                        self.stream(old, |rec| {
                            if let Some(w) = watch.as_deref_mut() {
                                // Sorted by construction; were it not, `w` says so and the
                                // caller reads the file instead.
                                w.push(&rec);
                            }
                            match rec {
                                Out::Old(r) => w.write_byte_record(&r.fields),
                                Out::New(r) => w.write_record((0..r.width()).map(|c| r.at(c))),
                            }
                            .map_err(|e| Stop::Err(csv_io(path, e)))
                        })
                    });
                let flushed = w.flush();
                r.and_then(|c| {
                    flushed.map(|_| c).map_err(|source| {
                        Stop::Err(DatasetError::Io {
                            path: path.to_path_buf(),
                            source,
                        })
                    })
                })
            };
            let unchanged = res.is_ok() && same.finished_same();
            match res {
                Ok(c) if unchanged => {
                    stop = Some(Stop::Unchanged(c));
                    Err(std::io::Error::other("unchanged"))
                }
                Ok(c) => {
                    counts = c;
                    Ok(())
                }
                Err(s) => {
                    stop = Some(s);
                    Err(std::io::Error::other("stopped"))
                }
            }
        });
        match (written, stop) {
            (Ok(()), _) => Ok(counts),
            (Err(_), Some(s)) => Err(s),
            (Err(e), None) => Err(Stop::Err(e.into())),
        }
    }

    /// The merge of the two sorted streams; `emit` gets the output's records in order.
    fn stream(
        &self,
        mut old: OldRows,
        mut emit: impl FnMut(Out<'_>) -> Result<(), Stop>,
    ) -> Result<Counts, Stop> {
        let order = self.order;
        let mut c = Counts::default();
        let mut inc = self.incoming.iter().peekable();
        let (mut o, mut next) = (Rec::default(), Rec::default());
        let mut have_o = old.next(&mut o, order)?;
        // With `--migrate`, one record of look-ahead: an older row of the same key goes.
        let mut have_next = have_o && self.migrate && old.next(&mut next, order)?;
        let mut last_old_key: Option<Rec> = None;
        let mut emitted_incoming = 0usize;
        loop {
            if have_o {
                let from_replaced_run = self
                    .replaced
                    .get(o.field(order.cell()))
                    .is_some_and(|runs| runs.iter().any(|r| r == o.field(order.run_id())));
                let superseded = self.migrate && have_next && o.same_key(&next, order) && {
                    if o.cmp_run(&next, order) == Ordering::Equal
                        && o.field(order.cell()) != next.field(order.cell())
                    {
                        return Err(Stop::Err(clash(&o, &next, order)));
                    }
                    true
                };
                let decision = if from_replaced_run || superseded {
                    Some(false)
                } else {
                    match inc.peek() {
                        None => Some(true),
                        Some(i) => {
                            let same = o.same_key(i, order);
                            if same
                                && o.field(order.run_id()) == i.field(order.run_id())
                                && o.field(order.cell()) != i.field(order.cell())
                            {
                                return Err(Stop::Err(clash(&o, i, order)));
                            }
                            if o.cmp(i, order) != Ordering::Greater {
                                // Older (or the same) run: replaced by the newer row in newest mode.
                                Some(!(self.newest && same))
                            } else if self.newest && same {
                                // The dataset's row is from a newer run than the incoming one:
                                // an older run merged late never replaces it.
                                c.older_ignored += 1;
                                inc.next();
                                continue;
                            } else {
                                None
                            }
                        }
                    }
                };
                if let Some(keep) = decision {
                    if keep {
                        if let Some(prev) = &last_old_key
                            && prev.same_key(&o, order)
                        {
                            if prev.cmp_run(&o, order) == Ordering::Equal
                                && prev.field(order.cell()) == o.field(order.cell())
                            {
                                c.duplicated += 1;
                            } else {
                                c.several_per_key = true;
                            }
                        }
                        emit(Out::Old(&o))?;
                        c.total += 1;
                        last_old_key.get_or_insert_with(Rec::default).copy_from(&o);
                    } else {
                        c.replaced += 1;
                    }
                    if self.migrate {
                        std::mem::swap(&mut o, &mut next);
                        have_o = have_next;
                        have_next = have_o && old.next(&mut next, order)?;
                    } else {
                        have_o = old.next(&mut o, order)?;
                    }
                    continue;
                }
            }
            match inc.next() {
                Some(i) => {
                    emit(Out::New(i))?;
                    c.total += 1;
                    emitted_incoming += 1;
                }
                None => break,
            }
        }
        c.added = emitted_incoming.saturating_sub(c.replaced);
        Ok(c)
    }
}

fn clash(a: &impl Fields, b: &impl Fields, order: &Order) -> DatasetError {
    DatasetError::KeyClash {
        a: a.cell_text(order),
        b: b.cell_text(order),
        key: a.key_text(order),
    }
}

fn csv_io(path: &Path, e: csv::Error) -> DatasetError {
    DatasetError::Csv {
        path: path.to_path_buf(),
        source: e,
    }
}

/// One newest row as [`for_each_newest`] hands it over: read straight from the file's record
/// (the wide layout), or one key of the long layout with its metrics — no map is built for a
/// row nobody keeps (`into_row` builds it).
pub enum Newest<'a> {
    Fields {
        columns: &'a [String],
        fields: &'a ByteRecord,
    },
    /// The long layout's rows of one key: the first one's fields (its `metric` and `value`
    /// columns at `skip` are not the row's), and (metric, value) pairs, one after the other.
    Wide {
        columns: &'a [String],
        fields: &'a ByteRecord,
        skip: (usize, usize),
        metrics: &'a ByteRecord,
    },
    Row(Row),
}

impl Newest<'_> {
    /// A column's value (`None` when missing or not UTF-8).
    pub fn get(&self, column: &str) -> Option<&str> {
        match self {
            Newest::Fields { columns, fields } => columns
                .iter()
                .position(|c| c == column)
                .and_then(|i| fields.get(i))
                .and_then(|v| std::str::from_utf8(v).ok()),
            Newest::Wide {
                columns,
                fields,
                skip,
                metrics,
            } => {
                // A metric named like a column wins, as it does in the widened row.
                let mut value = None;
                let mut pairs = metrics.iter();
                while let (Some(m), Some(v)) = (pairs.next(), pairs.next()) {
                    if m == column.as_bytes() {
                        value = std::str::from_utf8(v).ok();
                    }
                }
                value.or_else(|| {
                    let i = columns.iter().position(|c| c == column)?;
                    if i == skip.0 || i == skip.1 {
                        return None;
                    }
                    fields.get(i).and_then(|v| std::str::from_utf8(v).ok())
                })
            }
            Newest::Row(r) => r.get(column).map(String::as_str),
        }
    }

    pub fn into_row(self) -> Row {
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        match self {
            Newest::Fields { columns, fields } => columns
                .iter()
                .cloned()
                .zip(fields.iter().map(text))
                .collect(),
            Newest::Wide {
                columns,
                fields,
                skip,
                metrics,
            } => {
                let mut row: Row = columns
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip.0 && *i != skip.1)
                    .map(|(i, c)| (c.clone(), text(fields.get(i).unwrap_or(b""))))
                    .collect();
                let mut pairs = metrics.iter();
                while let (Some(m), Some(v)) = (pairs.next(), pairs.next()) {
                    row.insert(text(m), text(v));
                }
                row
            }
            Newest::Row(r) => r,
        }
    }
}

/// Picks the newest row per key (per key and metric, widened back to one row per key in the
/// long layout) out of rows that arrive in the order's order, and hands each to `f`.
///
/// Memory does not grow with the rows: the newest row of a key is the last of its run of equal
/// keys. The same sink reads a dataset ([`for_each_newest`]) or watches a merge write one, so a
/// report after a merge needs no second pass over the file.
pub(super) struct NewestRows<'a, F: FnMut(Newest<'_>)> {
    columns: &'a [String],
    order: &'a Order,
    long: bool,
    metric_at: Option<(usize, usize)>,
    best: Option<Rec>,
    /// In the long layout: the first record of the key being gathered and its (metric, value)
    /// pairs, in buffers reused from key to key.
    wide: Option<(Rec, ByteRecord)>,
    f: F,
    /// A row came that went back in key order: what `f` saw is not the newest per key.
    unsorted: bool,
}

impl<'a, F: FnMut(Newest<'_>)> NewestRows<'a, F> {
    pub(super) fn new(plan: &Plan, columns: &'a [String], order: &'a Order, f: F) -> Self {
        let at = |c: &str| columns.iter().position(|h| h == c);
        NewestRows {
            columns,
            order,
            long: plan.file.dataset.layout == Layout::Long,
            metric_at: at(METRIC).zip(at(VALUE)),
            best: None,
            wide: None,
            f,
            unsorted: false,
        }
    }

    /// The next row; `false` if it goes back in key order (the rows are not sorted).
    fn push(&mut self, cur: &impl Fields) -> bool {
        let order = self.order;
        match &mut self.best {
            Some(b) if b.same_key(cur, order) => {
                // Of one run's rows the later line stands (as in `newest_per_key` and
                // `merge --migrate`): the file's order says which is newer.
                if b.cmp_run(cur, order) != Ordering::Greater {
                    b.copy_from(cur);
                }
            }
            Some(b) => {
                if self.unsorted || b.cmp_from(cur, order, 0, order.key) == Ordering::Greater {
                    self.unsorted = true;
                    return false;
                }
                let mut b = self.best.take().expect("matched");
                self.emit(&b);
                // The flushed record's buffers are reused for the next key.
                b.copy_from(cur);
                self.best = Some(b);
            }
            None => {
                let mut b = Rec::default();
                b.copy_from(cur);
                self.best = Some(b);
            }
        }
        true
    }

    fn finish(mut self) {
        if let Some(b) = self.best.take() {
            self.emit(&b);
        }
        if let Some((first, metrics)) = self.wide.take() {
            self.flush_wide(&first, &metrics);
        }
    }

    fn flush_wide(&mut self, first: &Rec, metrics: &ByteRecord) {
        let skip = self.metric_at.unwrap_or((usize::MAX, usize::MAX));
        (self.f)(Newest::Wide {
            columns: self.columns,
            fields: &first.fields,
            skip,
            metrics,
        });
    }

    fn emit(&mut self, r: &Rec) {
        if !self.long {
            (self.f)(Newest::Fields {
                columns: self.columns,
                fields: &r.fields,
            });
            return;
        }
        // Rows of one key are together (sorted by key, then metric): gather their metrics.
        let (first, mut metrics) = match self.wide.take() {
            Some((first, metrics)) if first.same_key_upto(r, self.order, self.order.wide_key) => {
                (first, metrics)
            }
            Some((mut first, mut metrics)) => {
                self.flush_wide(&first, &metrics);
                first.copy_from(r);
                metrics.clear();
                (first, metrics)
            }
            None => {
                let mut first = Rec::default();
                first.copy_from(r);
                (first, ByteRecord::new())
            }
        };
        if let Some((m, v)) = self.metric_at {
            metrics.push_field(r.at(m));
            metrics.push_field(r.at(v));
        }
        self.wide = Some((first, metrics));
    }
}

/// Streams the newest row per key of the dataset at `path` (see [`NewestRows`]), in key order,
/// to `f`. Returns the dataset's columns (none for no dataset). A file out of order (as a
/// hand-edited one may be) is an `Unsorted` error: the caller reads it whole instead.
pub fn for_each_newest(
    path: &Path,
    plan: &Plan,
    f: impl FnMut(Newest<'_>),
) -> Result<Vec<String>, DatasetError> {
    let Some(header) = header(path)? else {
        return Ok(Vec::new());
    };
    let mut columns = header.clone();
    if !columns.iter().any(|c| c == RUN_STARTED) {
        columns.push(RUN_STARTED.into());
    }
    let order = Order::new(plan, &columns);
    let Some(mut rows) = FileRows::open(path, &columns, false)? else {
        return Ok(Vec::new());
    };
    let mut sink = NewestRows::new(plan, &columns, &order, f);
    let mut cur = Rec::default();
    while rows.next_into(&mut cur, &order).map_err(stop_err)? {
        if !sink.push(&cur) {
            // Out of order: `f` has seen keys the rest of the file may repeat.
            return Err(DatasetError::Unsorted {
                path: path.to_path_buf(),
            });
        }
    }
    sink.finish();
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_total() {
        // Mixed numbers and text once made a cycle (2 < 10 < 1x < 2): numbers now come first.
        let vals = [
            "10", "2", "1x", "-1", "abc", "8", "8.0", "1e1", "inf", "NaN", "", " 3", "-0", "0",
        ];
        for a in vals {
            for b in vals {
                assert_eq!(
                    compare_str(a, b),
                    compare_str(b, a).reverse(),
                    "{a:?} {b:?}"
                );
                for c in vals {
                    if compare_str(a, b).is_le() && compare_str(b, c).is_le() {
                        assert!(compare_str(a, c).is_le(), "{a:?} ≤ {b:?} ≤ {c:?}");
                    }
                }
            }
        }
        let mut v = vals.to_vec();
        v.sort_by(|a, b| compare_str(a, b));
        assert_eq!(
            v,
            [
                "-1", "-0", "0", "2", "8", "8.0", "10", "1e1", "inf", "", " 3", "1x", "NaN", "abc"
            ]
        );
    }

    #[test]
    fn bytes_compare_as_slices_do() {
        let vals: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abc",
            b"b",
            b"\xff",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
        ];
        for a in vals {
            for b in vals {
                assert_eq!(cmp_bytes(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    /// Random rows from tricky atoms: the same number written several ways (`8`, `8.0`,
    /// `8e0`), signed zeros, NaN and infinity as text, long shared prefixes, duplicates.
    fn random_field(seed: &mut u64) -> String {
        const ATOMS: &[&str] = &[
            "8",
            "8.0",
            "8e0",
            "+8",
            "-0",
            "0",
            "+0",
            "0.0",
            "-0.0",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "",
            "a",
            "ab",
            "abc",
            "1x",
            " 3",
            "-1.5",
            "10",
            "2",
            "1.0000000001",
            "1.00000000011",
            "abcdefghijklmnopqrstu",
            "abcdefghijklmnopqrstv",
            "abcdefghijklmno",
            "abcdefghijklmnop",
            "12345678901234567890",
            "12345678901234567891",
            "1234567",
            "12345678",
        ];
        let mut next = || {
            // xorshift64: reproducible, and no crate for a test's random numbers.
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut f = ATOMS[(next() % ATOMS.len() as u64) as usize].to_string();
        // Now and then two atoms run together: shared prefixes of every length.
        if next() % 4 == 0 {
            f.push_str(ATOMS[(next() % ATOMS.len() as u64) as usize]);
        }
        f
    }

    #[test]
    fn sorting_by_prefixes_gives_the_stable_sort_by_the_full_order() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for width in 1..=6 {
            for key in 1..=width {
                let order = Order {
                    cols: (0..width).collect(),
                    key,
                    wide_key: key,
                };
                let mut inc = Incoming::new(width, &order);
                for _ in 0..3000 {
                    let row: Vec<String> = (0..width).map(|_| random_field(&mut seed)).collect();
                    let fields: Vec<&str> = row.iter().map(String::as_str).collect();
                    inc.push(&fields, &order);
                }
                // The comparator before the prefixes: a stable sort by the whole order.
                let mut want: Vec<usize> = (0..inc.len()).collect();
                want.sort_by(|&a, &b| inc.row(a).cmp(&inc.row(b), &order));
                inc.sort(&order);
                assert_eq!(inc.sorted, want, "width {width}, key {key}");
            }
        }
    }
}
