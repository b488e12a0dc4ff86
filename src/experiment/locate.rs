//! Maps a path inside a YAML document (`matrix.include[2].layer`) to where it is written.
//!
//! serde_yaml reports positions only for errors it raises itself. Checks that run after
//! deserialisation (an empty matrix, a duplicate cell, an unsafe name) still owe the user a
//! line and column, so the document is walked once more with a span-keeping event parser.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// One step of a path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A position: byte offset and length (for labels), 1-based line and column (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

/// Every node's position, and every mapping key's position, by path.
#[derive(Debug, Default)]
pub struct Locator {
    values: HashMap<Vec<Seg>, Pos>,
    keys: HashMap<Vec<Seg>, Pos>,
    /// Keys written twice in one mapping: the path of the repeat, where it is, and where the
    /// first one is. serde_yaml refuses them too, but without a position for struct fields.
    pub duplicates: Vec<(Vec<Seg>, Pos, Pos)>,
    /// Where the first alias (`*name`) is: an alias bomb is reported there.
    pub first_alias: Option<Pos>,
    /// Where the nesting first went deeper than [`MAX_DEPTH`]; the walk stopped there.
    pub too_deep: Option<Pos>,
}

/// Deeper than serde_yaml's recursion limit, so every readable document is located whole.
pub(crate) const MAX_DEPTH: usize = 256;

enum Frame {
    Map {
        path: Vec<Seg>,
        pending_key: Option<String>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        path: Vec<Seg>,
        next: usize,
    },
}

impl Locator {
    /// Walks `text`; a document that does not parse yields an empty locator (serde_yaml has
    /// already reported the syntax error with its own position by then).
    pub fn new(text: &str) -> Self {
        let byte_of = char_to_byte_table(text);
        let mut loc = Locator::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let start = span.start;
            let offset = byte_of(start.index());
            let end = byte_of(span.end.index().max(start.index()));
            let pos = Pos {
                offset,
                len: end - offset,
                line: start.line(),
                column: start.col() + 1,
            };
            // Every node keeps its whole path, so a document nested a million deep (`[[[[…`)
            // would take quadratic memory here, and libyaml's scanner takes quadratic time on it
            // (half a megabyte of `[`: nine minutes); the caller refuses it before serde_yaml.
            if stack.len() > MAX_DEPTH {
                loc.too_deep = Some(pos);
                break;
            }
            match event {
                Event::Scalar(value, ..) => {
                    // A scalar is either a key awaiting its value, or a value.
                    if let Some(Frame::Map {
                        path,
                        pending_key,
                        seen,
                    }) = stack.last_mut()
                        && pending_key.is_none()
                    {
                        let mut key_path = path.clone();
                        key_path.push(Seg::Key(value.to_string()));
                        match seen.get(value.as_ref()) {
                            Some(first) => loc.duplicates.push((key_path, pos, *first)),
                            None => {
                                seen.insert(value.to_string(), pos);
                                loc.keys.insert(key_path, pos);
                            }
                        }
                        *pending_key = Some(value.to_string());
                        continue;
                    }
                    let path = child_path(&mut stack);
                    loc.values.insert(path, pos);
                }
                Event::MappingStart(..) => {
                    let path = child_path(&mut stack);
                    loc.values.insert(path.clone(), pos);
                    stack.push(Frame::Map {
                        path,
                        pending_key: None,
                        seen: HashMap::new(),
                    });
                }
                Event::SequenceStart(..) => {
                    let path = child_path(&mut stack);
                    loc.values.insert(path.clone(), pos);
                    stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Alias(_) => {
                    loc.first_alias.get_or_insert(pos);
                    child_path(&mut stack);
                }
                _ => {}
            }
        }
        loc
    }

    /// The position of the value at `path`, or of the nearest ancestor that was found.
    pub fn value(&self, path: &[Seg]) -> Pos {
        for n in (0..=path.len()).rev() {
            if let Some(p) = self.values.get(&path[..n]) {
                return *p;
            }
        }
        Pos {
            line: 1,
            column: 1,
            ..Pos::default()
        }
    }

    /// The position of the key that names `path` (falls back to the value's position).
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

/// The path of the node that is starting now, consuming the parent's pending key or index.
fn child_path(stack: &mut [Frame]) -> Vec<Seg> {
    match stack.last_mut() {
        None => Vec::new(),
        Some(Frame::Map {
            path, pending_key, ..
        }) => {
            let mut p = path.clone();
            p.push(Seg::Key(pending_key.take().unwrap_or_default()));
            p
        }
        Some(Frame::Seq { path, next }) => {
            let mut p = path.clone();
            p.push(Seg::Index(*next));
            *next += 1;
            p
        }
    }
}

/// saphyr counts characters; miette labels want bytes.
fn char_to_byte_table(text: &str) -> impl Fn(usize) -> usize + '_ {
    let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    move |ci| offsets.get(ci).copied().unwrap_or(text.len())
}

/// Renders a path the way users write it: `matrix.include[2].layer`.
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_values_and_sequence_items() {
        let text =
            "name: x\nmatrix:\n  layer: [a, b]\n  include:\n    - layer: c\n      extra: é\n";
        let loc = Locator::new(text);
        let k = |s: &str| Seg::Key(s.into());
        let p = loc.key(&[k("matrix"), k("layer")]);
        assert_eq!((p.line, p.column), (3, 3));
        let p = loc.value(&[k("matrix"), k("layer"), Seg::Index(1)]);
        assert_eq!((p.line, p.column), (3, 14));
        let p = loc.value(&[k("matrix"), k("include"), Seg::Index(0), k("extra")]);
        assert_eq!((p.line, p.column), (6, 14));
        assert_eq!(&text[p.offset..p.offset + p.len], "é");
        // Unknown paths fall back to the nearest ancestor.
        let p = loc.value(&[k("matrix"), k("include"), Seg::Index(0), k("nope")]);
        assert_eq!(p.line, 5);
        assert_eq!(
            display_path(&[k("matrix"), k("include"), Seg::Index(0)]),
            "matrix.include[0]"
        );
    }
}
