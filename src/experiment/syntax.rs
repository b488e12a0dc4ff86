//! YAML syntax problems as outrun reports them: position, a plain message, tabs, nesting.

use super::error::Problem;
use super::locate::{self, Locator, Pos, Seg};
use super::validate::closest;

/// Where `[` and `{` first stand more than [`locate::MAX_DEPTH`] deep. Both YAML scanners
/// (libyaml's and saphyr's) take time quadratic in the depth of flow nesting before their first
/// event — 200,000 `[` took most of a minute — so it is counted on the raw text, first. Quotes
/// and comments are not skipped: a file would need hundreds of unclosed brackets in its text to
/// be refused wrongly, while skipping them would let an attacker hide the brackets.
pub(crate) fn too_deep(text: &str) -> Option<Pos> {
    let mut depth = 0usize;
    let (mut line, mut line_start) = (1, 0);
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => (line, line_start) = (line + 1, i + 1),
            _ => {}
        }
        if depth > locate::MAX_DEPTH {
            let column = text[line_start..i].chars().count() + 1;
            return Some(Pos {
                offset: i,
                len: 1,
                line,
                column,
            });
        }
    }
    None
}

/// The problems of a document serde_yaml could not read as YAML at all.
pub(crate) fn syntax_problems(text: &str, e: &serde_yaml::Error, loc: &Locator) -> Vec<Problem> {
    let message = e.to_string();
    // serde_yaml places a repeated struct field at 1:1; the span-keeping pass knows where each
    // repeat is, in every mapping.
    if message.contains("duplicate entry") && !loc.duplicates.is_empty() {
        return loc
            .duplicates
            .iter()
            .map(|(p, pos, first)| {
                let key = match p.last() {
                    Some(Seg::Key(k)) => k.escape_debug().to_string(),
                    _ => String::new(),
                };
                let within = if p.len() > 1 {
                    format!(" in `{}`", locate::display_path(&p[..p.len() - 1]))
                } else {
                    String::new()
                };
                Problem {
                    pos: *pos,
                    message: format!(
                        "duplicate key `{key}`{within}: it is already given at line {}",
                        first.line
                    ),
                    help: Some("give each key once; remove or merge one of them".into()),
                }
            })
            .collect();
    }
    // Aliases that expand to more than serde_yaml's repetition limit: an alias bomb ("billion
    // laughs"), refused before it takes the memory it asks for.
    if message.starts_with("repetition limit exceeded") {
        let pos = loc.first_alias.unwrap_or(Pos {
            line: 1,
            column: 1,
            ..Pos::default()
        });
        return vec![Problem {
            pos,
            message: "refused: the YAML aliases (`*name`) in this file expand to too much data".into(),
            help: Some("anchors (`&name`) and aliases (`*name`) repeat values; write the values out instead of nesting aliases".into()),
        }];
    }
    let mut p = yaml_problem(text, e);
    // libyaml says "found character that cannot start any token" for a tab in indentation,
    // without naming the character.
    if message.contains("cannot start any token")
        && let Some(tab) = tab_in_indentation(text, p.pos.line)
    {
        p = Problem {
            pos: tab,
            message: "a tab in the indentation: YAML indents with spaces only".into(),
            help: Some("replace the tab with spaces".into()),
        };
    }
    vec![p]
}

/// The first tab in the leading whitespace of `line` (1-based).
fn tab_in_indentation(text: &str, line: usize) -> Option<Pos> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let l = text.get(start..)?.lines().next()?;
    let i = l.find(|c: char| c != ' ' && c != '\t')?;
    let tab = l[..i].find('\t')?;
    Some(Pos {
        offset: start + tab,
        len: 1,
        line,
        column: l[..tab].chars().count() + 1,
    })
}

/// Turns a serde_yaml error into a positioned problem, with "did you mean" for unknown fields.
pub(crate) fn yaml_problem(text: &str, e: &serde_yaml::Error) -> Problem {
    let (line, column, offset) = match e.location() {
        Some(l) => (l.line(), l.column(), l.index()),
        None => (1, 1, 0),
    };
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C" (given separately), and for syntax errors
    // ", while parsing a flow sequence at line L column C": that context says where the broken
    // construct began (the unclosed `[`), so only the first position is removed.
    if let Some(i) = message.find(" at line ") {
        let end = message[i..].find(',').map_or(message.len(), |j| i + j);
        message.replace_range(i..end, "");
    }
    let mut help = None;
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .unwrap_or("")
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        help = match closest(field, expected.iter().copied()) {
            Some(c) => Some(format!("did you mean `{c}`?")),
            None if !expected.is_empty() => Some(format!("known fields: {}", expected.join(", "))),
            None => None,
        };
    }
    let len = text[offset.min(text.len())..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ':')
        .map(char::len_utf8)
        .sum();
    Problem {
        pos: Pos {
            offset: offset.min(text.len()),
            len,
            line,
            column,
        },
        message,
        help,
    }
}
