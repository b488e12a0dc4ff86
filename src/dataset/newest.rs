//! The newest row per key, read in one pass: the last of its run of equal keys in the file's
//! order, so memory does not grow with the dataset.

use std::cmp::Ordering;
use std::path::Path;

use csv::ByteRecord;

use super::file::{FileRows, header, stop_err};
use super::order::{Fields, Order, Rec};
use super::{DatasetError, METRIC, RUN_STARTED, VALUE};
use crate::experiment::{Layout, Plan};
use crate::outputs::Row;

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
    pub(super) unsorted: bool,
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
    pub(super) fn push(&mut self, cur: &impl Fields) -> bool {
        let order = self.order;
        match &mut self.best {
            Some(b) if b.same_key(cur, order) => {
                // Of one run's rows the later line stands (as in `merge --migrate`): the file's order says which is newer.
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

    pub(super) fn finish(mut self) {
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
/// hand-edited one may be) is an `Unsorted` error: `f` has seen rows it must forget, and the
/// caller calls [`newest_in_memory`] instead.
pub fn for_each_newest(
    path: &Path,
    plan: &Plan,
    f: impl FnMut(Newest<'_>),
) -> Result<Vec<String>, DatasetError> {
    read_newest(path, plan, f, false)
}

/// [`for_each_newest`] for a file out of order: its records are read whole, sorted in memory
/// by the file's own order (stably, so of two lines of one run and key the later one still
/// wins) and fed to the same [`NewestRows`] — a file's newest rows do not depend on whether
/// someone reordered its lines.
pub fn newest_in_memory(
    path: &Path,
    plan: &Plan,
    f: impl FnMut(Newest<'_>),
) -> Result<Vec<String>, DatasetError> {
    read_newest(path, plan, f, true)
}

fn read_newest(
    path: &Path,
    plan: &Plan,
    f: impl FnMut(Newest<'_>),
    sort: bool,
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
    if sort {
        let mut all = Vec::new();
        let mut cur = Rec::default();
        while rows.next_into(&mut cur, &order).map_err(stop_err)? {
            all.push(std::mem::take(&mut cur));
        }
        all.sort_by(|a, b| a.cmp(b, &order));
        for r in &all {
            let sorted = sink.push(r);
            debug_assert!(sorted, "sorted by the order the sink checks");
        }
    } else {
        let mut cur = Rec::default();
        while rows.next_into(&mut cur, &order).map_err(stop_err)? {
            if !sink.push(&cur) {
                // Out of order: `f` has seen keys the rest of the file may repeat.
                return Err(DatasetError::Unsorted {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    sink.finish();
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(layout: &str) -> Plan {
        let yaml =
            format!("name: e\nmatrix:\n  n: [1]\ncommand: 'true'\nresults:\n  keys: [n]\n{layout}");
        crate::experiment::parse(Path::new("."), Path::new("experiments/e.yaml"), yaml).unwrap()
    }

    /// The newest rows of `path`, streamed or (`in_memory`) sorted in memory first.
    fn newest(path: &Path, plan: &Plan, in_memory: bool) -> Result<Vec<Row>, DatasetError> {
        let mut rows = Vec::new();
        let push = |r: Newest<'_>| rows.push(r.into_row());
        if in_memory {
            newest_in_memory(path, plan, push)?;
        } else {
            for_each_newest(path, plan, push)?;
        }
        Ok(rows)
    }

    /// A file's newest rows must not depend on the order of its lines: a shuffled copy read in
    /// memory gives what the sorted file gives when streamed — with several runs of one key,
    /// and two lines of one run and key (a hand edit: the later line wins).
    fn shuffled_equals_sorted(layout: &str, header: &str, sorted: &[&str], shuffled: &[&str]) {
        let plan = plan(layout);
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lines: &[&str]| {
            let p = dir.path().join(name);
            // One cell: the cell is the last of the order, after the run.
            let body: String = lines.iter().map(|l| format!("{l},c\n")).collect();
            std::fs::write(&p, format!("{header},outrun_cell\n{body}")).unwrap();
            p
        };
        let (a, b) = (write("sorted.csv", sorted), write("shuffled.csv", shuffled));
        let streamed = newest(&a, &plan, false).unwrap();
        assert!(matches!(
            newest(&b, &plan, false),
            Err(DatasetError::Unsorted { .. })
        ));
        let in_memory = newest(&b, &plan, true).unwrap();
        assert_eq!(in_memory, streamed);
        // The sorted file read in memory gives the same, too.
        let sorted_in_memory = newest(&a, &plan, true).unwrap();
        assert_eq!(sorted_in_memory, streamed);
        let x: Vec<&str> = streamed
            .iter()
            .map(|r| r.get("x").map(String::as_str).unwrap_or(""))
            .collect();
        assert_eq!(x, ["newest", "later-line", "only"]);
    }

    #[test]
    fn a_shuffled_wide_dataset_gives_the_sorted_ones_newest_rows() {
        let header = "n,x,outrun_run_id,outrun_attempt,outrun_run_started_at";
        let sorted = [
            "1,old,5,1,2026-01-01",
            "1,older-attempt,7,1,2026-01-02",
            "1,newest,7,2,2026-01-02",
            "2,old,5,1,2026-01-01",
            "2,earlier-line,7,1,2026-01-02",
            "2,later-line,7,1,2026-01-02",
            "10,only,5,1,2026-01-01",
        ];
        // Shuffled, but the two lines of one run and key keep their order.
        let shuffled = [
            sorted[4], sorted[6], sorted[2], sorted[0], sorted[5], sorted[3], sorted[1],
        ];
        shuffled_equals_sorted("", header, &sorted, &shuffled);
    }

    #[test]
    fn a_shuffled_long_dataset_gives_the_sorted_ones_newest_rows() {
        let header = "n,metric,value,outrun_run_id,outrun_attempt,outrun_run_started_at";
        let sorted = [
            "1,x,old,5,1,2026-01-01",
            "1,x,newest,7,1,2026-01-02",
            "1,y,1,5,1,2026-01-01",
            "2,x,earlier-line,7,1,2026-01-02",
            "2,x,later-line,7,1,2026-01-02",
            "2,y,2,7,1,2026-01-02",
            "10,x,only,5,1,2026-01-01",
        ];
        // Shuffled, but the two lines of one run and key keep their order.
        let shuffled = [
            sorted[6], sorted[3], sorted[1], sorted[5], sorted[0], sorted[4], sorted[2],
        ];
        shuffled_equals_sorted("dataset:\n  layout: long\n", header, &sorted, &shuffled);
    }
}
