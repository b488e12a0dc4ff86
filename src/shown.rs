//! Text that came from a cell (result keys and values, column names, reasons quoting them),
//! made safe to print on a terminal or into a workflow log.
//!
//! A value may hold an escape sequence that retitles or clears the terminal (`\x1b]0;…\x07`,
//! `\x1b[2J`), or a newline followed by `::error …` / `::add-mask::…`, which GitHub reads as a
//! workflow command when a line of the log starts with it. Every such character is shown as an
//! escape instead (`\x1b`, `\n`), so a value is always part of outrun's own line and no line of
//! it can start with `::`. Markdown (the report) has its own escaping in `markdown::escape`.

/// `s` with every control character written as an escape: `\n`, `\r`, `\t`, `\x1b`; bidi
/// controls and the Unicode line separators as `\u{202e}`.
pub fn shown(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{2028}'
            | '\u{2029}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn controls_and_line_breaks_are_visible() {
        assert_eq!(
            shown("x\n::error title=t::m\r\n::add-mask::secret"),
            "x\\n::error title=t::m\\r\\n::add-mask::secret"
        );
        assert_eq!(
            shown("\x1b]0;pwned\x07\x1b[2J"),
            "\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(
            shown("a\u{202e}b\u{2028}c\u{85}"),
            "a\\u{202e}b\\u{2028}c\\x85"
        );
        assert_eq!(shown("plain é, 1.5 | x"), "plain é, 1.5 | x");
        assert!(!shown("a\n::b").lines().any(|l| l.starts_with("::")));
    }
}
