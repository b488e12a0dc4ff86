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

/// The incoming rows in one buffer, fields in the output's column order, sort columns parsed
/// once: a record per row cost four allocations a row, a third of a 1 M-row merge.
#[derive(Debug, Default)]
pub(super) struct Incoming {
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
    pub(super) fn new(width: usize, order: &Order) -> Incoming {
        Incoming {
            width,
            nnum: order.cols.len(),
            ..Incoming::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len() / self.width.max(1)
    }

    pub(super) fn reserve(&mut self, rows: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.ends.reserve(rows * self.width);
        self.nums.reserve(rows * self.nnum);
    }

    pub(super) fn push(&mut self, fields: &[&str], order: &Order) {
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
    pub(super) fn sort(&mut self, order: &Order) {
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
    pub(super) fn iter(&self) -> impl Iterator<Item = InRow<'_>> {
        self.sorted.iter().map(|&r| self.row(r))
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct InRow<'a> {
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
