//! The dataset, merged in one pass.
//!
//! The file is kept sorted by [`Order`], so a merge is a merge of two sorted streams — the
//! incoming rows, sorted in memory, and the existing file, read one record at a time. Memory
//! grows with the incoming rows, never with the dataset. A file that is not in that order
//! (edited by hand, or written by an outrun whose order differed) is sorted in memory once; the
//! merge writes it back in order, so the next one streams again.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use super::file::{Counts, FileRows, Stop, column_index, csv_io, header, stop_err};
use super::newest::{Newest, NewestRows};
use super::order::{Fields, InCell, InRow, Incoming, Order, Rec, Src};
use super::{
    ATTEMPT, CELL, DatasetError, FINISHED, METRIC, MergeSummary, PROVENANCE, RUN_ID, RUN_STARTED,
    STARTED, VALUE,
};
use crate::contract::CellRecord;
use crate::experiment::{History, Layout, Plan};
use crate::outputs::CellOutcome;

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

/// The incoming rows in `columns`' order, unsorted: read in place from the cells' rows.
fn incoming_records<'a>(
    plan: &Plan,
    outcomes: &'a [CellOutcome],
    run_started_at: &str,
    columns: &[String],
    order: &Order,
) -> Incoming<'a> {
    let keys = &plan.file.results.keys;
    let long = plan.file.dataset.layout == Layout::Long;
    let mut out = Incoming::new(columns.len(), order);
    let ok = || outcomes.iter().filter(|o| o.ok());
    let metrics_of = |o: &'a CellOutcome| -> Vec<(&'a str, usize)> {
        if !long {
            return Vec::new();
        }
        o.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !keys.contains(c))
            .map(|(i, c)| (c.as_str(), i))
            .collect()
    };
    // Reserved once: grown by doubling, a 1 M-row buffer is copied ~20 times over.
    let rows: usize = ok()
        .map(|o| o.rows.len() * if long { metrics_of(o).len() } else { 1 })
        .sum();
    out.reserve(rows);
    for o in ok() {
        let r = &o.record;
        let attempt = r.attempt.to_string();
        let prov = provenance(r, &attempt, run_started_at);
        // Where each output column's field comes from, worked out once per cell, not per row.
        let cell_index = column_index(&o.columns);
        let from: Vec<Src> = columns
            .iter()
            .map(|c| {
                if let Some(j) = prov.iter().position(|(p, _)| *p == c.as_str()) {
                    Src::Const(j)
                } else if long && c == METRIC {
                    Src::MetricName
                } else if long && c == VALUE {
                    Src::MetricValue
                } else if long && !keys.contains(c) {
                    Src::Empty
                } else {
                    cell_index
                        .get(c.as_str())
                        .map_or(Src::Empty, |&i| Src::Col(i))
                }
            })
            .collect();
        let metrics = metrics_of(o);
        let per_row = if long { metrics.len() } else { 1 };
        out.add_cell(
            InCell {
                rows: &o.rows,
                from,
                consts: prov.iter().map(|(_, v)| v.to_string()).collect(),
                metrics,
            },
            order,
        );
        for row in 0..o.rows.len() {
            for k in 0..per_row {
                out.push(row, k, order);
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

/// One merge: which outcomes go into which experiment's dataset, and how. What the merge
/// functions take, instead of the same parameters passed on from one to the next.
#[derive(Clone, Copy)]
pub struct MergeRequest<'a> {
    /// The project root; the dataset is at `root/plan.dataset_path()`.
    pub root: &'a Path,
    pub plan: &'a Plan,
    /// The cells to merge; only the successful ones bring rows.
    pub outcomes: &'a [CellOutcome],
    /// When the run that produced `outcomes` started: the rows' place in the run order.
    pub run_started_at: &'a str,
    pub mode: Mode,
}

impl<'a> MergeRequest<'a> {
    /// A [`Mode::Merge`] of `outcomes`, from the run that started at `run_started_at`.
    pub fn new(
        root: &'a Path,
        plan: &'a Plan,
        outcomes: &'a [CellOutcome],
        run_started_at: &'a str,
    ) -> Self {
        MergeRequest {
            root,
            plan,
            outcomes,
            run_started_at,
            mode: Mode::Merge,
        }
    }
}

/// Merges the successful cells of `req.outcomes` into the dataset in one pass; see the
/// module's comment. The caller holds the dataset's lock. With `watch`, also hands it the
/// newest row per key of the merged dataset as it is written (see [`NewestRows`]) and returns
/// the dataset's columns — or `None` when what `watch` saw must be thrown away and the file
/// read instead (a file that was out of order is sorted in a second pass).
///
/// With `pair`, the new file is staged there (written and synced, not yet renamed: the caller
/// puts it in place with the ledger, see `fsutil::Pair`); without, it replaces the dataset now.
pub(super) fn merge(
    req: MergeRequest<'_>,
    watch: Option<&mut dyn FnMut(Newest<'_>)>,
    pair: Option<&mut crate::fsutil::Pair>,
) -> Result<(MergeSummary, Option<Vec<String>>), DatasetError> {
    let MergeRequest {
        root,
        plan,
        outcomes,
        run_started_at,
        mode,
    } = req;
    let rel = plan.dataset_path();
    let path = &root.join(&rel);
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
    let replaced = replaced_runs(outcomes);
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
        let all = sorted_old_rows(path, &columns, &order)?;
        result = pass.run(path, OldRows::Memory(all.into_iter()), sink.as_mut());
    }
    match result {
        Ok((counts, staged)) => {
            match pair {
                Some(pair) => pair.add(staged),
                None => staged.commit()?,
            }
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

/// The runs whose rows each cell of this merge replaces, by cell. Per cell, not per row: the
/// (cell, run) pairs are few however many rows they bring.
fn replaced_runs(outcomes: &[CellOutcome]) -> HashMap<Vec<u8>, Vec<Vec<u8>>> {
    let mut replaced: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for o in outcomes.iter().filter(|o| o.ok() && !o.rows.is_empty()) {
        replaced
            .entry(o.record.cell.as_bytes().to_vec())
            .or_default()
            .push(o.record.run_id.as_bytes().to_vec());
    }
    replaced
}

/// A dataset that was not in order: all its rows, read once into memory (for this merge
/// only) and sorted, to be written in order.
fn sorted_old_rows(
    path: &Path,
    columns: &[String],
    order: &Order,
) -> Result<Vec<Rec>, DatasetError> {
    let mut all = Vec::new();
    if let Some(mut f) = FileRows::open(path, columns, false)? {
        let mut r = Rec::default();
        while f.next_into(&mut r, order).map_err(stop_err)? {
            all.push(std::mem::take(&mut r));
        }
    }
    all.sort_by(|a, b| a.cmp(b, order));
    Ok(all)
}

struct Pass<'a> {
    order: &'a Order,
    columns: &'a [String],
    incoming: &'a Incoming<'a>,
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
    /// Writes the merged file (temp, fsync) unless it would be the old one; the caller renames.
    ///
    /// `watch`, when given, sees every row written, in order (the rows of an unchanged file
    /// too): the merge's output is the dataset, so a report needs no second pass.
    fn run<F: FnMut(Newest<'_>)>(
        &self,
        path: &Path,
        old: OldRows,
        mut watch: Option<&mut NewestRows<'_, F>>,
    ) -> Result<(Counts, crate::fsutil::Staged), Stop> {
        let mut stop: Option<Stop> = None;
        let mut counts = Counts::default();
        let written = crate::fsutil::stage_with(path, |out| {
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
            (Ok(staged), _) => Ok((counts, staged)),
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
