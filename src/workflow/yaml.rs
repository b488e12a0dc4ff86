//! The one YAML writer: every value that reaches a generated workflow goes through here.
//!
//! Guarantees, for any input string:
//! - The output is printable ASCII (plus the line breaks of a literal block): no character a
//!   YAML parser could read as a line break (LF, CR, U+0085, U+2028, U+2029), no control
//!   character (NUL, DEL, C1), no byte-order mark and no surrogate escape survives raw. A quoted
//!   scalar writes them as YAML escapes (`\n`, `\u2028`, …); a character beyond the BMP is
//!   written as `\UXXXXXXXX`, never as a UTF-16 surrogate pair (`\ud83d\ude80` is not YAML).
//! - A literal block is used only for text of printable ASCII, tabs and LF.
//! - What a YAML parser reads back is the value, byte for byte: each scalar is parsed again
//!   (libyaml, through `serde_yaml`) before it is written; a block that would not read back is
//!   written as a quoted scalar instead, and a quoted scalar that would not is refused.
//! - No value holds a GitHub expression (`${{`) as the parser will see it: the check applies to
//!   the value that was read back, so an escape (`\u0024{{`) cannot smuggle one in.
//!
//! The template's own text (and its own `${{ }}` expressions) is the only thing written raw:
//! [`gate`] is the template engine's formatter, and refuses any value that did not come from
//! this writer unless it is a number or a plain word.

use std::fmt::Write as _;

/// Why a value cannot be written into a workflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "`{}` holds a GitHub expression (`${{{{`), which GitHub would evaluate; read the value from the environment instead",
        shown(.0)
    )]
    Expression(String),
    #[error("`{}` does not read back unchanged as YAML (a bug in outrun's YAML writer)", shown(.0))]
    RoundTrip(String),
    #[error(
        "`{}` is written into the workflow without quotes and must be a plain word (letters, digits, `.`, `_`, `-`, `/`)",
        shown(.0)
    )]
    NotPlain(String),
}

/// A value as an error message shows it: escaped, at most 80 characters.
fn shown(s: &str) -> String {
    let e: String = s.escape_debug().collect();
    if e.chars().count() > 80 {
        format!("{}…", e.chars().take(80).collect::<String>())
    } else {
        e
    }
}

/// Whether `s` holds a GitHub expression opener.
fn has_expression(s: &str) -> bool {
    s.contains("${{")
}

/// `s` as a double-quoted YAML scalar of printable ASCII.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// What a YAML parser reads from `text` written as the value of a mapping key (the way the
/// template writes it: the value, a line break, the next key).
fn read_back(text: &str) -> Option<String> {
    let doc = format!("v: {text}\nw: 0\n");
    let v: serde_yaml::Value = serde_yaml::from_str(&doc).ok()?;
    v.get("v")?.as_str().map(str::to_string)
}

/// `s` as a double-quoted scalar, checked: it reads back as `s` and holds no expression.
pub fn scalar(s: &str) -> Result<String, Refused> {
    let out = quote(s);
    check(s, &out)?;
    Ok(out)
}

fn check(s: &str, written: &str) -> Result<(), Refused> {
    match read_back(written) {
        Some(back) if back == s => {
            if has_expression(&back) {
                Err(Refused::Expression(s.into()))
            } else {
                Ok(())
            }
        }
        _ => Err(Refused::RoundTrip(s.into())),
    }
}

/// Multi-line text as a YAML literal block indented by `indent` spaces (readable in the
/// workflow), or as a quoted scalar where a block cannot carry it exactly.
pub fn block(s: &str, indent: usize) -> Result<String, Refused> {
    let blockable = s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| matches!(c, '\n' | '\t' | ' '..='~'));
    if blockable && indent > 0 {
        let pad = " ".repeat(indent);
        let keep = if s.ends_with("\n\n") {
            "+"
        } else if s.ends_with('\n') {
            ""
        } else {
            "-"
        };
        let body: Vec<String> = s
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{pad}{l}")
                }
            })
            .collect();
        let out = format!("|{keep}\n{}", body.join("\n"));
        // Checked with the block at its real indentation below a key at column 0.
        match check(s, &out) {
            Ok(()) => return Ok(out),
            Err(e @ Refused::Expression(_)) => return Err(e),
            Err(_) => {}
        }
    }
    scalar(s)
}

/// A sequence of strings in YAML's flow style (`["a","b"]`), each item a checked scalar.
pub fn sequence<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<String, Refused> {
    let items: Result<Vec<String>, Refused> = items.into_iter().map(scalar).collect();
    Ok(format!("[{}]", items?.join(",")))
}

/// Free text for a YAML comment (`# …`) on one line: printable ASCII only. A control
/// character or line break (LF, CR, U+0085, U+2028, U+2029) becomes a space, so nothing ends
/// the comment; any other non-ASCII character is written as `\u{…}`.
pub fn comment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' '..='~' => out.push(c),
            c if c.is_control() || c.is_whitespace() => out.push(' '),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

/// A word the template may write without quotes: letters, digits, `.`, `_`, `-`, `/`.
pub fn is_plain(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

/// The template engine's formatter (every `{{{ value }}}` goes through it): a value the writer
/// produced (marked safe) as it is; numbers and booleans; a plain word; nothing else.
pub(crate) fn gate(
    out: &mut minijinja::Output,
    _state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let text = match value.kind() {
        _ if value.is_safe() => value.to_string(),
        ValueKind::Number | ValueKind::Bool => value.to_string(),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            if !is_plain(s) {
                return Err(template_error(Refused::NotPlain(s.into())));
            }
            s.to_string()
        }
        _ => {
            return Err(template_error(Refused::NotPlain(value.to_string())));
        }
    };
    out.write_str(&text).map_err(minijinja::Error::from)
}

pub(crate) fn template_error(e: Refused) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character class the writer must handle, alone and inside text.
    fn nasty() -> Vec<String> {
        let singles = [
            "\n",
            "\r",
            "\r\n",
            "\u{85}",
            "\u{2028}",
            "\u{2029}",
            "\0",
            "\u{7f}",
            "\u{9f}",
            "\u{feff}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{1f680}",
            "\u{10ffff}",
            "\t",
            "\"",
            "'",
            "\\",
            "\\u0024{{",
            "#",
            ": ",
            "- ",
            "|",
            ">",
            "&a",
            "*a",
            "!t",
            "%",
            "@",
            "`",
            "{",
            "[",
            "---",
            "...",
            "\u{a0}",
            "\u{202e}",
            "\u{200b}",
            "é",
            "日本",
        ];
        let mut out = Vec::new();
        for s in singles {
            out.push(s.to_string());
            out.push(format!("a{s}b"));
            out.push(format!("line one\n{s}\nline three\n"));
            out.push(format!("true\ntrue{s}  pwned:\n    runs-on: x\n"));
            out.push(format!("x\n{s}"));
            out.push(format!("x\n\n{s}\n\n"));
        }
        out.push(String::new());
        out.push(" leading\nspace".into());
        out.push("trailing\n   \n".into());
        out.push("a\n\n\n".into());
        out
    }

    #[test]
    fn every_value_reads_back_exactly_and_the_output_is_ascii() {
        for s in nasty() {
            for w in [scalar(&s).unwrap(), block(&s, 10).unwrap()] {
                assert!(
                    w.chars()
                        .all(|c| c == '\n' || c == '\t' || (' '..='~').contains(&c)),
                    "{s:?} → {w:?}"
                );
                assert_eq!(read_back(&w).as_deref(), Some(s.as_str()), "{w}");
            }
        }
    }

    #[test]
    fn emoji_is_one_escape_never_a_surrogate_pair() {
        let w = scalar("echo \"starting \u{1f680}\"").unwrap();
        assert_eq!(w, r#""echo \"starting \U0001f680\"""#);
        assert!(!w.contains("\\ud83d"));
    }

    #[test]
    fn line_separators_never_reach_a_block() {
        let issue = "true\ntrue\u{2028}  pwned:\u{2028}    runs-on: ubuntu-latest\u{2028}    permissions: write-all\u{2028}    steps:\u{2028}      - run: \"echo \\u0024{{ toJSON(secrets) }} | base64\"\n";
        let w = block(issue, 10).unwrap();
        assert!(w.starts_with('"'), "{w}");
        assert!(w.contains("\\u2028"), "{w}");
        assert_eq!(read_back(&w).as_deref(), Some(issue));
        // Plain multi-line text stays a readable block.
        assert_eq!(block("a\nb\n", 2).unwrap(), "|\n  a\n  b");
    }

    #[test]
    fn expressions_are_refused_however_they_are_spelt() {
        assert!(matches!(
            scalar("echo ${{ secrets.X }}"),
            Err(Refused::Expression(_))
        ));
        assert!(matches!(
            block("a\n${{ secrets.X }}\n", 4),
            Err(Refused::Expression(_))
        ));
        // Literal text `\u0024{{` is not an expression: it reads back as itself.
        let w = scalar("\\u0024{{ x }}").unwrap();
        assert_eq!(read_back(&w).as_deref(), Some("\\u0024{{ x }}"));
    }

    #[test]
    fn comments_stay_on_their_line() {
        assert_eq!(comment("a\nb\u{2028}c\u{85}d\re"), "a b c d e");
        assert_eq!(comment("ü \u{1f680}"), "\\u{fc} \\u{1f680}");
    }
}
