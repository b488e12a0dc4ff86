//! The order the dataset file is kept in, and the rows as that order sees them.
//!
//! The file is kept sorted by [`Order`] (keys, numbers as numbers; then run order; then cell),
//! so a merge is a merge of two sorted streams (see [`merge`](mod@super::merge)) and the
//! newest row of a key is the last of its run of equal keys (see
//! [`newest`](mod@super::newest)).

use std::cmp::Ordering;

use csv::ByteRecord;

use super::prefix;
use super::{ATTEMPT, CELL, METRIC, RUN_ID, RUN_STARTED};
use crate::experiment::{Layout, Plan};
use crate::outputs::Rows;

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
    pub(super) key: usize,
    /// How many of `cols` form the row's key for widening (the keys without `metric`).
    pub(super) wide_key: usize,
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

    pub(super) fn run_id(&self) -> Option<usize> {
        self.cols.get(self.key + 1).copied()
    }

    pub(super) fn cell(&self) -> Option<usize> {
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
    pub(super) fn index(&mut self, order: &Order) {
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
    pub(super) fn copy_from(&mut self, other: &impl Fields) {
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

/// Where the field of one output column comes from, for every incoming row of one cell.
#[derive(Debug, Clone, Copy)]
pub(super) enum Src {
    /// The cell's rows, at this column.
    Col(usize),
    /// Once sorted: the row's `k`-th field in [`Incoming`]'s sorted copy.
    Slot(usize),
    /// The same value in every row of the cell (its provenance): `InCell::consts[i]`.
    Const(usize),
    /// Long layout: the name of the row's metric.
    MetricName,
    /// Long layout: the row's metric's value.
    MetricValue,
    /// Nothing: an empty field.
    Empty,
}

/// One incoming cell as the output's columns see it: its rows where they are (no copy) and
/// where each output column's field comes from.
#[derive(Debug)]
pub(super) struct InCell<'a> {
    pub(super) rows: &'a Rows,
    /// Per output column.
    pub(super) from: Vec<Src>,
    /// The values of [`Src::Const`] columns.
    pub(super) consts: Vec<String>,
    /// Long layout: (name, column in `rows`) of each metric; one output row per metric.
    pub(super) metrics: Vec<(&'a str, usize)>,
}

impl InCell<'_> {
    fn field<'s>(&'s self, flat: &'s Flat, row: usize, metric: usize, c: usize) -> &'s [u8] {
        let text = match self.from.get(c) {
            Some(Src::Col(i)) => self.rows.get(row, *i).unwrap_or(""),
            Some(Src::Slot(k)) => return flat.get(row + k),
            Some(Src::Const(j)) => self.consts[*j].as_str(),
            Some(Src::MetricName) => self.metrics.get(metric).map(|m| m.0).unwrap_or(""),
            Some(Src::MetricValue) => self
                .metrics
                .get(metric)
                .and_then(|m| self.rows.get(row, m.1))
                .unwrap_or(""),
            Some(Src::Empty) | None => "",
        };
        text.as_bytes()
    }
}

/// A sort column after the key, in one cell: the same number in every row (provenance), or
/// read from the row (the column `Tail::Row` holds) when the cell's rows have it.
#[derive(Debug, Clone, Copy)]
enum Tail {
    Const(Option<f64>),
    Row(usize),
}

/// One incoming row: which cell, which of its rows, which metric (long layout; 0 otherwise).
/// Once sorted, `row` is where the row's first field is in [`Flat`].
#[derive(Debug, Clone, Copy)]
struct At {
    cell: u32,
    metric: u32,
    row: usize,
}

/// The fields the sorted rows take from their cells' rows, copied in sorted order.
#[derive(Debug, Default)]
struct Flat {
    text: Vec<u8>,
    /// The end of every field in `text`.
    ends: Vec<usize>,
}

impl Flat {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// The incoming rows, read in place from their cells' buffers: copying every row's fields (its
/// nine provenance values included) into one more buffer was a third of a one-cell merge's
/// memory and a tenth of its time. What is stored per row is where it is and its key columns
/// parsed as numbers once; the sort columns after the key (run, attempt, cell) are the same in
/// every row of a cell and parsed once per cell.
#[derive(Debug, Default)]
pub(super) struct Incoming<'a> {
    cells: Vec<InCell<'a>>,
    /// Per cell: the sort columns from `key` on.
    tail_nums: Vec<Vec<Tail>>,
    rows: Vec<At>,
    /// The key's sort columns of every row as numbers (NaN: not a number, as [`number`] never
    /// gives NaN), `key` a row.
    nums: Vec<f64>,
    width: usize,
    /// How many sort columns form the key (`Order::key`), and how many there are.
    key: usize,
    nnum: usize,
    flat: Flat,
}

impl<'a> Incoming<'a> {
    pub(super) fn new(width: usize, order: &Order) -> Incoming<'a> {
        Incoming {
            width,
            key: order.key.min(order.cols.len()),
            nnum: order.cols.len(),
            ..Incoming::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(super) fn reserve(&mut self, rows: usize) {
        self.rows.reserve(rows);
        self.nums.reserve(rows * self.key);
    }

    /// Adds a cell; its rows follow with [`Incoming::push`].
    pub(super) fn add_cell(&mut self, cell: InCell<'a>, order: &Order) {
        let tail = order.cols[self.key..]
            .iter()
            .map(|&c| match cell.from.get(c) {
                Some(Src::Const(j)) => Tail::Const(number(cell.consts[*j].as_bytes())),
                Some(Src::Empty) | None => Tail::Const(None),
                _ => Tail::Row(c),
            })
            .collect();
        self.cells.push(cell);
        self.tail_nums.push(tail);
    }

    /// Adds row `row` (for `metric`, long layout) of the last cell added.
    pub(super) fn push(&mut self, row: usize, metric: usize, order: &Order) {
        let cell = self.cells.len().saturating_sub(1);
        let at = At {
            cell: u32::try_from(cell).unwrap_or(u32::MAX),
            metric: u32::try_from(metric).unwrap_or(u32::MAX),
            row,
        };
        if let Some(c) = self.cells.last() {
            for &col in &order.cols[..self.key] {
                let n = number(c.field(&self.flat, row, metric, col));
                self.nums.push(n.unwrap_or(f64::NAN));
            }
            self.rows.push(at);
        }
    }

    /// Sorts the row numbers by the order, ties by arrival (what a stable sort of the rows
    /// gives). Rows arrive in any order (a simulator's, a parallel script's), so this is most
    /// of a merge's CPU: each row carries fixed-size prefixes of its leading sort columns (see
    /// [`prefix`]) and only rows whose prefixes tie are compared field by field.
    ///
    /// The rows (where each is, its key as numbers) are then put in that order, so the merge
    /// and the writer read them front to back: through a list of row numbers, each row's
    /// place was one more cache miss per look, a tenth of a one-cell merge.
    pub(super) fn sort(&mut self, order: &Order) {
        let sorted = match order.cols.len().min(order.key.max(1)) {
            0 => return,
            1 => self.sort_by_prefixes::<1>(order),
            2 => self.sort_by_prefixes::<2>(order),
            3 => self.sort_by_prefixes::<3>(order),
            _ => self.sort_by_prefixes::<4>(order),
        };
        self.gather(&sorted);
    }

    /// Puts the rows in the order `sorted` gives, and copies the fields they take from their
    /// cells' rows into [`Flat`] in that order: the merge, the checks and the writer then read
    /// front to back. Read in place in sorted order, a shuffled cell's rows cost two cache
    /// misses (field end, text) at every look, a third of a one-cell merge; gathered here in
    /// one tight loop, the misses overlap and are paid once.
    fn gather(&mut self, sorted: &[usize]) {
        let key = self.key;
        // Per cell: the columns of its rows that output columns read, in slot order (`None`:
        // the row's metric's value, long layout).
        let slots: Vec<Vec<Option<usize>>> = self
            .cells
            .iter()
            .map(|c| {
                c.from
                    .iter()
                    .filter_map(|s| match s {
                        Src::Col(i) => Some(Some(*i)),
                        Src::MetricValue => Some(None),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        // In three passes, each a short loop whose reads do not wait on each other, so the
        // processor overlaps their cache misses: the rows' places and keys; then, a chunk of
        // rows at a time, where their fields are; then the fields' bytes.
        let mut rows: Vec<At> = sorted.iter().map(|&r| self.rows[r]).collect();
        let mut nums = Vec::with_capacity(self.nums.len());
        for &r in sorted {
            nums.extend_from_slice(&self.nums[r * key..(r + 1) * key]);
        }
        let fields: usize = rows.iter().map(|at| slots[at.cell as usize].len()).sum();
        let mut flat = Flat {
            text: Vec::with_capacity(self.cells.iter().map(|c| c.rows.text_len()).sum()),
            ends: Vec::with_capacity(fields),
        };
        const CHUNK: usize = 64;
        let widest = slots.iter().map(Vec::len).max().unwrap_or(0);
        let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(CHUNK * widest);
        for chunk in rows.chunks_mut(CHUNK) {
            spans.clear();
            for at in chunk.iter() {
                let cell = &self.cells[at.cell as usize];
                for s in &slots[at.cell as usize] {
                    let col = s.or_else(|| cell.metrics.get(at.metric as usize).map(|m| m.1));
                    let (a, b) = col
                        .and_then(|i| cell.rows.span(at.row, i))
                        .unwrap_or((0, 0));
                    spans.push((at.cell as usize, a, b));
                }
            }
            let mut next = spans.iter();
            for at in chunk.iter_mut() {
                let start = flat.ends.len();
                for _ in 0..slots[at.cell as usize].len() {
                    if let Some(&(c, a, b)) = next.next() {
                        flat.text
                            .extend_from_slice(&self.cells[c].rows.bytes()[a..b]);
                        flat.ends.push(flat.text.len());
                    }
                }
                at.row = start;
            }
        }
        for cell in &mut self.cells {
            let mut k = 0;
            for s in &mut cell.from {
                if matches!(s, Src::Col(_) | Src::MetricValue) {
                    *s = Src::Slot(k);
                    k += 1;
                }
            }
        }
        self.rows = rows;
        self.nums = nums;
        self.flat = flat;
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
        let key = self.key;
        InRow {
            inc: self,
            at: self.rows[row],
            nums: &self.nums[row * key..(row + 1) * key],
        }
    }

    /// The rows in sorted order (once [`Incoming::sort`] has run).
    pub(super) fn iter(&self) -> impl Iterator<Item = InRow<'_>> {
        (0..self.len()).map(|r| self.row(r))
    }
}

/// An incoming row: where it is, and its key columns as numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct InRow<'a> {
    inc: &'a Incoming<'a>,
    at: At,
    nums: &'a [f64],
}

impl Fields for InRow<'_> {
    fn width(&self) -> usize {
        self.inc.width
    }
    fn at(&self, c: usize) -> &[u8] {
        let at = self.at;
        match self.inc.cells.get(at.cell as usize) {
            Some(cell) => cell.field(&self.inc.flat, at.row, at.metric as usize, c),
            None => b"",
        }
    }
    fn nums(&self) -> usize {
        self.inc.nnum
    }
    fn num(&self, j: usize) -> Option<f64> {
        let key = self.inc.key;
        if j < key {
            Some(self.nums[j]).filter(|x| !x.is_nan())
        } else {
            match self.inc.tail_nums[self.at.cell as usize].get(j - key) {
                Some(Tail::Const(n)) => *n,
                Some(Tail::Row(c)) => number(self.at(*c)),
                None => None,
            }
        }
    }
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
                let rows: Vec<Vec<String>> = (0..3000)
                    .map(|_| (0..width).map(|_| random_field(&mut seed)).collect())
                    .collect();
                let rows = Rows::from_fields(width, &rows);
                let mut inc = Incoming::new(width, &order);
                inc.add_cell(
                    InCell {
                        rows: &rows,
                        from: (0..width).map(Src::Col).collect(),
                        consts: Vec::new(),
                        metrics: Vec::new(),
                    },
                    &order,
                );
                for r in 0..rows.len() {
                    inc.push(r, 0, &order);
                }
                // The comparator before the prefixes: a stable sort by the whole order.
                let mut want: Vec<usize> = (0..inc.len()).collect();
                want.sort_by(|&a, &b| inc.row(a).cmp(&inc.row(b), &order));
                // Rows equal in the order are equal byte for byte (its ties end in the bytes),
                // so the fields in sorted order say whether the sort was right.
                let fields = |r: InRow<'_>| -> Vec<Vec<u8>> {
                    (0..width).map(|c| r.at(c).to_vec()).collect()
                };
                let want: Vec<Vec<Vec<u8>>> = want.iter().map(|&r| fields(inc.row(r))).collect();
                inc.sort(&order);
                let got: Vec<Vec<Vec<u8>>> = inc.iter().map(fields).collect();
                assert_eq!(got, want, "width {width}, key {key}");
            }
        }
    }
}
