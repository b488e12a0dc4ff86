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
