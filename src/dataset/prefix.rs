//! A fixed-size, order-preserving prefix of a sort field, so sorting the incoming rows compares
//! integers instead of fetching two byte slices and two parsed numbers per column.
//!
//! The prefix is monotone in [`cmp_field`](super::order::cmp_field)'s order: `a < b` implies
//! `prefix(a) <= prefix(b)`, and equal fields have equal prefixes. So different prefixes
//! decide the comparison; equal ones decide it too when they are [`exact`] (the whole field is
//! in the prefix), and otherwise the full comparison does.
//!
//! Layout of the `u128`, from the top bit down:
//! - numbers: `0`, the f64 as order-preserving bits (−0 as 0: the order sees them equal and
//!   goes on to the bytes), the first 7 bytes zero-padded, the length saturated at 8;
//! - text: `1`, the first 15 bytes zero-padded, the length saturated at 16.
//!
//! Zero padding then the saturated length keeps the byte order: a field that is a prefix of
//! another is shorter, and two fields that differ within the stored bytes differ there.

/// The bits of the length field (the lowest ones).
const LEN_BITS: u32 = 7;
const NUM_BYTES: usize = 7;
const TEXT_BYTES: usize = 15;

/// The prefix of a field whose bytes are `b` and whose value as a number is `num` (NaN never:
/// the order reads it as text).
pub(super) fn prefix(b: &[u8], num: Option<f64>) -> u128 {
    match num {
        Some(x) => {
            let bits = ordered(x) as u128;
            (bits << 63) | packed(b, NUM_BYTES)
        }
        None => (1 << 127) | packed(b, TEXT_BYTES),
    }
}

/// Whether two equal prefixes mean equal fields: the field was short enough to be whole in it.
pub(super) fn exact(p: u128) -> bool {
    let len = (p & ((1 << LEN_BITS) - 1)) as usize;
    let stored = if p >> 127 == 1 { TEXT_BYTES } else { NUM_BYTES };
    len <= stored
}

/// The first `n` bytes big-endian, zero-padded, then the length saturated at `n + 1`.
fn packed(b: &[u8], n: usize) -> u128 {
    let mut v: u128 = 0;
    for i in 0..n {
        v = (v << 8) | u128::from(b.get(i).copied().unwrap_or(0));
    }
    (v << LEN_BITS) | b.len().min(n + 1) as u128
}

/// An f64 (not NaN) as bits whose unsigned order is the numbers' order.
fn ordered(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::super::order::{cmp_field, number};
    use super::*;
    use std::cmp::Ordering;

    fn p(s: &str) -> u128 {
        prefix(s.as_bytes(), number(s.as_bytes()))
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        cmp_field(
            a.as_bytes(),
            number(a.as_bytes()),
            b.as_bytes(),
            number(b.as_bytes()),
        )
    }

    /// Tricky values: numbers written several ways, signed zeros, NaN and infinity as text,
    /// long shared prefixes (beyond both stored lengths), NUL bytes, empty.
    const VALS: &[&str] = &[
        "",
        "0",
        "-0",
        "+0",
        "0.0",
        "-0.0",
        "8",
        "8.0",
        "08",
        "+8",
        "8e0",
        "1e1",
        "10",
        "2",
        "-1",
        "-1.5",
        "-2",
        "1.0000001",
        "1.00000001",
        "1.000000011",
        "1.0000000111",
        "inf",
        "-inf",
        "Infinity",
        "NaN",
        "nan",
        "-NaN",
        "1x",
        "abc",
        "ab",
        "abc\0",
        "ab\0",
        " 3",
        "abcdefghijklmno",
        "abcdefghijklmnop",
        "abcdefghijklmnoq",
        "abcdefghijklmnopq",
        "abcdefghijklmn",
        "\u{ff}",
        "é",
        "12345678901234567890",
        "12345678901234567891",
        "123456789012345678901",
        "1.7976931348623157e308",
        "5e-324",
        "-5e-324",
    ];

    #[test]
    fn the_prefix_never_contradicts_the_order_and_is_exact_when_whole() {
        for a in VALS {
            for b in VALS {
                let (pa, pb, o) = (p(a), p(b), cmp(a, b));
                match pa.cmp(&pb) {
                    Ordering::Equal if exact(pa) => assert_eq!(o, Ordering::Equal, "{a:?} {b:?}"),
                    Ordering::Equal => {}
                    po => assert_eq!(po, o, "{a:?} {b:?}"),
                }
                if o == Ordering::Equal {
                    assert_eq!(pa, pb, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn short_fields_are_exact_and_long_ones_are_not() {
        assert!(exact(p("1234567")));
        assert!(!exact(p("12345678")));
        assert!(exact(p("abcdefghijklmno")));
        assert!(!exact(p("abcdefghijklmnop")));
        assert!(exact(p("")));
        // 8 and 8.0 are the same number, told apart by their bytes in the prefix.
        assert!(p("8") < p("8.0"));
        assert!(p("-0") < p("0") && p("0") < p("0.0"));
    }
}
