//! The parameter matrix → cells, with GitHub's `include` / `exclude` semantics.
//!
//! GitHub's rules, which users already know: the cartesian product of the lists, minus every
//! combination that matches an `exclude` entry (on the keys the entry names), then each
//! `include` entry is merged into every combination whose original values it does not change;
//! an entry that fits no combination becomes a combination of its own.

use std::collections::HashSet;

use serde::Serialize;
use serde_yaml::Value;
use sha2::{Digest, Sha256};

use super::locate::Seg;
use super::{MAX_CELLS, Validator, path};

/// One point of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Stable id derived from the parameters: readable slug + short hash, `[a-z0-9._-]`.
    pub id: String,
    /// Parameter name → value, in declaration order.
    pub params: Vec<(String, String)>,
}

impl Cell {
    pub fn new(params: Vec<(String, String)>) -> Self {
        Cell {
            id: cell_id(&params),
            params,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `OUTRUN_P_<NAME>` → value, the parameters as the cell contract passes them.
    pub fn env(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| (env_name(k), v.clone()))
            .collect()
    }
}

/// The environment variable a parameter travels in.
pub(crate) fn env_name(param: &str) -> String {
    format!("OUTRUN_P_{}", param.to_ascii_uppercase())
}

/// The slug keeps ids readable in logs and artifact names; the hash keeps them unique and
/// stable whatever characters the values hold.
fn cell_id(params: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = params.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let hash: String = h
        .finalize()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut slug = String::new();
    for (_, v) in params {
        let part: String = v
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let part = part.trim_matches('_');
        if part.is_empty() {
            continue;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(part);
        if slug.len() > 40 {
            slug.truncate(40);
            break;
        }
    }
    let slug = slug.trim_matches(|c| c == '_' || c == '-' || c == '.');
    if slug.is_empty() {
        format!("c-{hash}")
    } else {
        format!("{slug}-{hash}")
    }
}

/// A parameter value as text. A NUL cannot travel in an environment variable, so a string
/// holding one is refused like a non-scalar.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Linux refuses to start a program with one environment string (`NAME=value` and its NUL)
/// over 32 pages, 131,072 bytes: "Argument list too long" (MAX_ARG_STRLEN).
pub(crate) const MAX_ENV_STRING: usize = 128 * 1024;

/// Why `value` cannot travel as `OUTRUN_P_<KEY>`, if it cannot.
fn too_big_for_env(key: &str, value: &str) -> Option<String> {
    let size = env_name(key).len() + 1 + value.len() + 1;
    (size > MAX_ENV_STRING).then(|| {
        format!(
            "the value of `{key}` is {} bytes: as {}=… it exceeds the {MAX_ENV_STRING} bytes Linux allows one environment variable",
            value.len(),
            env_name(key)
        )
    })
}
const TOO_BIG_HELP: &str =
    "pass a file name or an index instead, and let the command read the large value";

fn is_param_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

type Combo = Vec<(String, String)>;

/// Expands the matrix, reporting every problem through `v`.
pub(crate) fn expand(m: &serde_yaml::Mapping, v: &mut Validator) -> Vec<Cell> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    let mut include: Vec<(Combo, Vec<Seg>)> = Vec::new();
    let mut exclude: Vec<(Combo, Vec<Seg>)> = Vec::new();
    let before = v.problems.len();

    for (k, val) in m {
        let Some(key) = k.as_str() else {
            v.at_key(&path(&["matrix"]), "matrix keys must be strings", None);
            continue;
        };
        let mut at = path(&["matrix", key]);
        match key {
            "include" | "exclude" => {
                let Value::Sequence(items) = val else {
                    v.at_value(&at, format!("`{key}` must be a list of mappings"), None);
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    if let Some(combo) = entry(item, &at, v) {
                        if key == "include" {
                            include.push((combo, at.clone()));
                        } else {
                            exclude.push((combo, at.clone()));
                        }
                    }
                    at.pop();
                }
            }
            _ => {
                if !is_param_name(key) {
                    v.at_key(&at, format!("parameter name `{}` must be a letter or `_` followed by letters, digits or `_`", key.escape_debug()), Some("it becomes the environment variable OUTRUN_P_NAME".into()));
                    continue;
                }
                if let Some((other, _)) = axes.iter().find(|(o, _)| env_name(o) == env_name(key)) {
                    v.at_key(
                        &at,
                        format!(
                            "parameters `{other}` and `{key}` would share the variable {}",
                            env_name(key)
                        ),
                        None,
                    );
                    continue;
                }
                let Value::Sequence(items) = val else {
                    v.at_value(
                        &at,
                        format!("parameter `{key}` must be a list of values"),
                        Some(format!("write `{key}: [a, b]`")),
                    );
                    continue;
                };
                if items.is_empty() {
                    v.at_value(&at, format!("parameter `{key}` has no values"), None);
                    continue;
                }
                let mut values = Vec::new();
                // A set beside the list: a list of 65,536 values must not be searched per value.
                let mut seen = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    match scalar(item) {
                        None => v.at_value(&at, format!("values of `{key}` must be strings (without NUL), numbers or booleans"), None),
                        Some(s) if !seen.insert(s.clone()) => {
                            v.at_value(&at, format!("duplicate cell: value `{}` appears twice in `{key}`", s.escape_debug()), None)
                        }
                        Some(s) if too_big_for_env(key, &s).is_some() => {
                            let why = too_big_for_env(key, &s).unwrap_or_default();
                            v.at_value(&at, why, Some(TOO_BIG_HELP.into()))
                        }
                        Some(s) => values.push(s),
                    }
                    at.pop();
                }
                axes.push((key.to_string(), values));
            }
        }
    }
    for (e, at) in &exclude {
        for (k, _) in e {
            if !axes.iter().any(|(a, _)| a == k) {
                let mut p = at.clone();
                p.push(Seg::Key(k.clone()));
                let help = super::closest(k, axes.iter().map(|(a, _)| a.as_str()))
                    .map(|c| format!("did you mean `{c}`?"));
                v.at_key(
                    &p,
                    format!("exclude names `{k}`, which is not a matrix parameter"),
                    help,
                );
            }
        }
    }
    // A parameter that was rejected above must not also make the matrix "empty".
    if v.problems.len() > before {
        return Vec::new();
    }
    if axes.is_empty() && include.is_empty() {
        v.at_key(
            &path(&["matrix"]),
            "the matrix is empty",
            Some("give at least one parameter with a list of values".into()),
        );
        return Vec::new();
    }

    let total = axes.iter().try_fold(1usize, |acc, (_, vals)| {
        acc.checked_mul(vals.len()).filter(|t| *t <= MAX_CELLS)
    });
    let Some(total) = total else {
        v.at_key(
            &path(&["matrix"]),
            format!("the matrix has more than {MAX_CELLS} combinations, the most supported"),
            None,
        );
        return Vec::new();
    };
    if total > MAX_CELLS {
        v.at_key(
            &path(&["matrix"]),
            format!("the matrix has {total} combinations; at most {MAX_CELLS} are supported"),
            None,
        );
        return Vec::new();
    }
    let mut combos: Vec<Combo> = if axes.is_empty() {
        Vec::new()
    } else {
        vec![Vec::new()]
    };
    for (k, vals) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                vals.iter().map(move |val| {
                    let mut c = c.clone();
                    c.push((k.clone(), val.clone()));
                    c
                })
            })
            .collect();
    }
    combos.retain(|c| {
        !exclude
            .iter()
            .any(|(e, _)| e.iter().all(|(k, val)| lookup(c, k) == Some(val)))
    });

    // Which combinations came from `include` alone, to point duplicates at their entry.
    let mut origin: Vec<Option<Vec<Seg>>> = vec![None; combos.len()];
    let n_original = combos.len();
    for (entry, at) in &include {
        let mut fitted = false;
        for c in combos.iter_mut().take(n_original) {
            let fits = entry
                .iter()
                .filter(|(k, _)| axes.iter().any(|(a, _)| a == k))
                .all(|(k, val)| lookup(c, k) == Some(val));
            if fits {
                fitted = true;
                for (k, val) in entry {
                    match c.iter_mut().find(|(ck, _)| ck == k) {
                        Some(slot) => slot.1 = val.clone(),
                        None => c.push((k.clone(), val.clone())),
                    }
                }
            }
        }
        if !fitted {
            combos.push(entry.clone());
            origin.push(Some(at.clone()));
        }
    }
    if combos.is_empty() {
        v.at_key(
            &path(&["matrix"]),
            "the matrix has no cells: `exclude` removes every combination",
            None,
        );
        return Vec::new();
    }
    if combos.len() > MAX_CELLS {
        v.at_key(
            &path(&["matrix", "include"]),
            format!(
                "with `include` the matrix has {} cells; at most {MAX_CELLS} are supported",
                combos.len()
            ),
            None,
        );
        return Vec::new();
    }
    let mut cells: Vec<Cell> = Vec::with_capacity(combos.len());
    // Each cell's parameters, sorted (the same cell whatever the order they were written in),
    // hashed: comparing each new cell with every earlier one made 65,536 cells take minutes.
    let mut seen: HashSet<Combo> = HashSet::with_capacity(combos.len());
    for (c, from) in combos.into_iter().zip(origin) {
        let mut key = c.clone();
        key.sort();
        let cell = Cell::new(c);
        if !seen.insert(key) {
            let at = from.unwrap_or_else(|| path(&["matrix", "include"]));
            v.at_value(
                &at,
                format!(
                    "duplicate cell: {} is already in the matrix",
                    describe(&cell)
                ),
                None,
            );
        } else {
            cells.push(cell);
        }
    }
    cells
}

fn describe(c: &Cell) -> String {
    c.params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.escape_debug()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup<'a>(c: &'a Combo, k: &str) -> Option<&'a String> {
    c.iter().find(|(ck, _)| ck == k).map(|(_, v)| v)
}

/// One `include` / `exclude` entry: a mapping of parameter names to scalar values.
fn entry(item: &Value, at: &[Seg], v: &mut Validator) -> Option<Combo> {
    let Value::Mapping(map) = item else {
        v.at_value(
            at,
            "each entry must be a mapping of parameter names to values",
            None,
        );
        return None;
    };
    let mut combo = Vec::new();
    let mut ok = true;
    for (k, val) in map {
        let Some(key) = k.as_str().filter(|k| is_param_name(k)) else {
            v.at_value(at, format!("`{k:?}` is not a valid parameter name"), None);
            ok = false;
            continue;
        };
        let mut p = at.to_vec();
        p.push(Seg::Key(key.into()));
        match scalar(val) {
            Some(s) if too_big_for_env(key, &s).is_some() => {
                let why = too_big_for_env(key, &s).unwrap_or_default();
                v.at_value(&p, why, Some(TOO_BIG_HELP.into()));
                ok = false;
            }
            Some(s) => combo.push((key.to_string(), s)),
            None => {
                v.at_value(
                    &p,
                    format!("the value of `{key}` must be a string, number or boolean"),
                    None,
                );
                ok = false;
            }
        }
    }
    if combo.is_empty() && ok {
        v.at_value(at, "empty entry", None);
        return None;
    }
    ok.then_some(combo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_readable_and_safe() {
        let c = Cell::new(vec![
            ("layer".into(), "conv1".into()),
            ("N".into(), "8".into()),
        ]);
        assert_eq!(c.id, Cell::new(c.params.clone()).id);
        assert!(c.id.starts_with("conv1-8-"), "{}", c.id);
        let hostile = Cell::new(vec![(
            "x".into(),
            "${{ github.token }}\n$(rm -rf /) ü".into(),
        )]);
        assert!(
            hostile
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
            "{}",
            hostile.id
        );
        let other = Cell::new(vec![(
            "x".into(),
            "${{ github.token }}\n$(rm -rf /) u".into(),
        )]);
        assert_ne!(hostile.id, other.id);
    }
}
