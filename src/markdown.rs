//! Markdown in one place: what `report` and `compare` write into GitHub comments — escaping
//! of values that come from artifacts, numbers, percentages and durations for people, tables,
//! and GitHub's comment size limit.

use std::fmt::Write as _;

/// GitHub's limit on a comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// U+2060 WORD JOINER: invisible, and no letter or digit, so it breaks what GitHub would turn
/// into a mention, a cross-reference or a link.
const JOIN: char = '\u{2060}';

/// Escapes text for a Markdown table cell: no `|` or newline can end the cell, no HTML, no
/// emphasis or code spans leaking across cells — and nothing GitHub would autolink: an
/// @-mention, `#12`, `owner/repo#3`, `GH-4`, a bare `http://`, `https://` or `www.` link. A
/// result value comes from an artifact, which anyone who can run the workflow can shape; in a
/// maintainer's comment it must stay text.
pub(crate) fn escape(s: &str) -> String {
    // A long value is cut before escaping (a cut after it could split an escape and end the
    // cell): one 1 MB value must not use up the comment and push every row out of the table.
    let total = s.chars().count();
    let chars: Vec<char> = s.chars().take(MAX_VALUE_CHARS).collect();
    let mut out = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        // `GH-4` (any case) → `GH⁠-4`; `://` → `:⁠//`; `www.` → `www⁠.`
        if c == '-'
            && i >= 2
            && chars[i - 2].eq_ignore_ascii_case(&'g')
            && chars[i - 1].eq_ignore_ascii_case(&'h')
            && next.is_some_and(|n| n.is_ascii_digit())
        {
            out.push(JOIN);
        }
        if c == '.' && i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w')) {
            out.push(JOIN);
        }
        match c {
            '#' => {
                out.push('#');
                out.push(JOIN);
            }
            ':' if next == Some('/') => {
                out.push(':');
                out.push(JOIN);
            }
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => {
                out.push('@');
                out.push(JOIN);
            }
            '`' | '*' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            // Bidirectional controls would reorder what a reader sees ("Trojan Source"): shown
            // as the replacement character instead.
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    if total > MAX_VALUE_CHARS {
        let _ = write!(out, " … ({total} characters, cut)");
    }
    out
}

/// Characters of one value a report shows; the dataset keeps the whole value.
pub(crate) const MAX_VALUE_CHARS: usize = 500;

/// A number for people: four significant digits at most, no trailing zeros.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let digits = if x.abs() >= 1000.0 {
        0
    } else if x.abs() >= 100.0 {
        1
    } else if x.abs() >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A percentage: always one decimal, so a column of them lines up and never mixes precisions.
pub(crate) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1} %")
    } else {
        format!("{x} %")
    }
}

/// A duration for people: tenths of a second under a minute, then `1h 2m 3s`.
pub(crate) fn duration(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
    }
}

/// A Markdown table that stops adding rows when its budget is spent.
pub(crate) struct Table {
    pub(crate) text: String,
    /// Rows shown, of `total`.
    pub(crate) shown: usize,
    pub(crate) total: usize,
}

/// `header` is escaped here; `rows` are cells already escaped (or made of outrun's own text).
/// `budget` is in bytes of the whole table, header included; `usize::MAX` for no limit.
pub(crate) fn table(
    header: &[impl AsRef<str>],
    rows: &[Vec<String>],
    budget: usize,
    max_rows: usize,
) -> Table {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "| {} |",
        header
            .iter()
            .map(|h| escape(h.as_ref()))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        text,
        "|{}",
        header.iter().map(|_| " --- |").collect::<String>()
    );
    let mut shown = 0;
    for r in rows {
        let line = format!("| {} |\n", r.join(" | "));
        if text.len() + line.len() > budget || shown >= max_rows {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    Table {
        text,
        shown,
        total: rows.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's autolinks, roughly as GitHub recognises them: none may survive `escape`.
    fn autolinks(s: &str) -> Vec<String> {
        let mut found = Vec::new();
        let chars: Vec<char> = s.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if *c == '#' && next.is_ascii_digit() {
                found.push(format!("#{next}"));
            }
            if *c == '@' && (next.is_ascii_alphanumeric() || next == '-') {
                found.push(format!("@{next}"));
            }
        }
        let lower = s.to_ascii_lowercase();
        for pat in ["http://", "https://", "www."] {
            if lower.contains(pat) {
                found.push(pat.into());
            }
        }
        for (i, _) in lower.match_indices("gh-") {
            if lower[i + 3..].starts_with(|c: char| c.is_ascii_digit()) {
                found.push("GH-n".into());
            }
        }
        found
    }

    #[test]
    fn values_cannot_mention_reference_or_link() {
        for v in [
            "#12",
            "owner/repo#3",
            "GH-4",
            "gh-42",
            "see https://evil.example/x",
            "http://a",
            "www.evil.example",
            "@octocat",
            "a@b.example",
            "x|y",
            "<b>",
        ] {
            let e = escape(v);
            assert!(
                autolinks(&e).is_empty(),
                "{v:?} → {e:?} still autolinks: {:?}",
                autolinks(&e)
            );
            assert!(
                !autolinks(v).is_empty() || v.contains('|') || v.contains('<'),
                "the check must see {v:?}"
            );
            // Only invisible joiners were added to the text a reader sees.
            assert_eq!(
                e.replace('\u{2060}', "")
                    .replace("\\|", "|")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">"),
                v
            );
        }
        assert_eq!(escape("1.5"), "1.5");
        assert_eq!(escape("GHz-4"), "GHz-4");
    }

    #[test]
    fn bidi_controls_are_shown_not_obeyed() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert_eq!(
                escape(&format!("a{c}b")),
                "a\u{FFFD}b",
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn a_long_value_is_cut_with_a_marker_and_no_escape_is_split() {
        let long = "|".repeat(1_000_000);
        let e = escape(&long);
        assert!(e.len() < 2 * MAX_VALUE_CHARS + 64, "{}", e.len());
        assert!(
            e.ends_with("\\| … (1000000 characters, cut)"),
            "{}",
            &e[e.len() - 60..]
        );
        assert_eq!(
            escape(&"x".repeat(MAX_VALUE_CHARS)),
            "x".repeat(MAX_VALUE_CHARS)
        );
    }

    #[test]
    fn percentages_have_one_decimal_everywhere() {
        for (x, want) in [
            (12.345, "12.3 %"),
            (5.0, "5.0 %"),
            (123.456, "123.5 %"),
            (0.04, "0.0 %"),
            (1234.5, "1234.5 %"),
        ] {
            assert_eq!(pct(x), want);
        }
    }
}
