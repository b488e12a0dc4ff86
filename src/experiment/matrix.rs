//! The parameter matrix → cells, with GitHub's `include` / `exclude` semantics.
//!
//! GitHub's rules, which users already know: the cartesian product of the lists, minus every
//! combination that matches an `exclude` entry (on the keys the entry names), then each
//! `include` entry is merged into every combination whose original values it does not change;
//! an entry that fits no combination becomes a combination of its own.

use std::collections::{HashMap, HashSet};

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

/// How many bytes of the SHA-256 of the canonical parameters an id carries: 8 bytes, 64 bits,
/// so 65,536 cells (the most a matrix may have) collide with odds of about 1 in 10^10 — and
/// `validate` refuses the experiment if they ever do. Ids written before this (4 bytes, 32 bits)
/// stay in older dataset rows and ledgers; [`legacy_cell_id`] still reads them.
const ID_HASH_BYTES: usize = 8;

/// The slug keeps ids readable in logs and artifact names; the hash of the full canonical
/// parameters (sorted by name, `name NUL value NUL`; NUL is refused in names and values, so
/// the encoding is unambiguous) keeps them unique and stable whatever characters the values
/// hold: `SLUG-HHHHHHHHHHHHHHHH` (16 hex digits), or `c-HHHHHHHHHHHHHHHH` without a slug.
fn cell_id(params: &[(String, String)]) -> String {
    id_with(params, ID_HASH_BYTES)
}

/// The id a cell had before ids carried 64 bits (a 32-bit hash): what older dataset rows
/// (`outrun_cell`) and ledgers (`failed_cells`) hold. Only ever used to read those back.
pub(crate) fn legacy_cell_id(params: &[(String, String)]) -> String {
    id_with(params, 4)
}

fn id_with(params: &[(String, String)], hash_bytes: usize) -> String {
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
        .take(hash_bytes)
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
    expand_with(m, v, ID_HASH_BYTES)
}

/// [`expand`] with ids of `hash_bytes` bytes of hash: the tests shorten it to make the
/// collision check meet a real collision.
fn expand_with(m: &serde_yaml::Mapping, v: &mut Validator, hash_bytes: usize) -> Vec<Cell> {
    let before = v.problems.len();
    let Matrix {
        axes,
        include,
        exclude,
    } = read(m, v);
    check_names(&axes, &include, &exclude, v);
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

    let Some(combos) = product(&axes, &exclude, v) else {
        return Vec::new();
    };
    let (combos, origin) = with_include(combos, &axes, &include);
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
    cells_of(combos, origin, &axes, hash_bytes, v)
}

/// The matrix as written: its parameters (axes) with their values, and its `include` and
/// `exclude` entries, each with where it stands.
struct Matrix {
    axes: Vec<(String, Vec<String>)>,
    include: Vec<(Combo, Vec<Seg>)>,
    exclude: Vec<(Combo, Vec<Seg>)>,
}

/// Reads the matrix's keys, reporting every problem through `v`.
fn read(m: &serde_yaml::Mapping, v: &mut Validator) -> Matrix {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    let mut include: Vec<(Combo, Vec<Seg>)> = Vec::new();
    let mut exclude: Vec<(Combo, Vec<Seg>)> = Vec::new();
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
                if let Some(values) = axis(key, val, &axes, &mut at, v) {
                    axes.push((key.to_string(), values));
                }
            }
        }
    }
    Matrix {
        axes,
        include,
        exclude,
    }
}

/// One parameter's values (`key: [a, b]`), or `None` when the parameter is refused.
fn axis(
    key: &str,
    val: &Value,
    axes: &[(String, Vec<String>)],
    at: &mut Vec<Seg>,
    v: &mut Validator,
) -> Option<Vec<String>> {
    if !is_param_name(key) {
        v.at_key(
            at,
            format!(
                "parameter name `{}` must be a letter or `_` followed by letters, digits or `_`",
                key.escape_debug()
            ),
            Some("it becomes the environment variable OUTRUN_P_NAME".into()),
        );
        return None;
    }
    if let Some((other, _)) = axes.iter().find(|(o, _)| env_name(o) == env_name(key)) {
        v.at_key(
            at,
            format!(
                "parameters `{other}` and `{key}` would share the variable {}",
                env_name(key)
            ),
            None,
        );
        return None;
    }
    let Value::Sequence(items) = val else {
        v.at_value(
            at,
            format!("parameter `{key}` must be a list of values"),
            Some(format!("write `{key}: [a, b]`")),
        );
        return None;
    };
    if items.is_empty() {
        v.at_value(at, format!("parameter `{key}` has no values"), None);
        return None;
    }
    let mut values = Vec::new();
    // A set beside the list: a list of 65,536 values must not be searched per value.
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        at.push(Seg::Index(i));
        match scalar(item) {
            None => v.at_value(
                at,
                format!("values of `{key}` must be strings (without NUL), numbers or booleans"),
                None,
            ),
            Some(s) if !seen.insert(s.clone()) => v.at_value(
                at,
                format!(
                    "duplicate cell: value `{}` appears twice in `{key}`",
                    s.escape_debug()
                ),
                None,
            ),
            Some(s) if too_big_for_env(key, &s).is_some() => {
                let why = too_big_for_env(key, &s).unwrap_or_default();
                v.at_value(at, why, Some(TOO_BIG_HELP.into()))
            }
            Some(s) => values.push(s),
        }
        at.pop();
    }
    Some(values)
}

/// The names `exclude` and `include` entries use: `exclude` names only matrix parameters, and
/// no two names share an environment variable.
fn check_names(
    axes: &[(String, Vec<String>)],
    include: &[(Combo, Vec<Seg>)],
    exclude: &[(Combo, Vec<Seg>)],
    v: &mut Validator,
) {
    for (e, at) in exclude {
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
    // Names that differ only in case travel in one variable (`OUTRUN_P_A` for `a` and `A`):
    // the command would see one value while the dataset records another. The matrix's own
    // keys were checked above; the names `include` and `exclude` entries bring are checked
    // against them and against each other here, each at its own key.
    let mut spelled: HashMap<String, String> =
        axes.iter().map(|(a, _)| (env_name(a), a.clone())).collect();
    for (combo, at) in include.iter().chain(exclude) {
        for (k, _) in combo {
            let var = env_name(k);
            match spelled.get(&var) {
                Some(other) if other != k => {
                    let mut p = at.clone();
                    p.push(Seg::Key(k.clone()));
                    v.at_key(
                        &p,
                        format!("parameters `{other}` and `{k}` would share the variable {var}"),
                        Some(format!("parameter names are compared as environment variables, without case: write `{other}`")),
                    );
                }
                Some(_) => {}
                None => {
                    spelled.insert(var, k.clone());
                }
            }
        }
    }
}

/// Every combination of the axes' values, less the excluded ones; `None` (reported) when there
/// are more than [`MAX_CELLS`].
fn product(
    axes: &[(String, Vec<String>)],
    exclude: &[(Combo, Vec<Seg>)],
    v: &mut Validator,
) -> Option<Vec<Combo>> {
    let total = axes.iter().try_fold(1usize, |acc, (_, vals)| {
        acc.checked_mul(vals.len()).filter(|t| *t <= MAX_CELLS)
    });
    let Some(total) = total else {
        v.at_key(
            &path(&["matrix"]),
            format!("the matrix has more than {MAX_CELLS} combinations, the most supported"),
            None,
        );
        return None;
    };
    if total > MAX_CELLS {
        v.at_key(
            &path(&["matrix"]),
            format!("the matrix has {total} combinations; at most {MAX_CELLS} are supported"),
            None,
        );
        return None;
    }
    let mut combos: Vec<Combo> = if axes.is_empty() {
        Vec::new()
    } else {
        vec![Vec::new()]
    };
    for (k, vals) in axes {
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

    Some(combos)
}

/// The combinations with `include` applied: an entry that fits combinations of the product
/// adds its values to them, one that fits none is a cell of its own. Also returns, for each
/// combination, the `include` entry it came from alone, to point duplicates at it.
fn with_include(
    mut combos: Vec<Combo>,
    axes: &[(String, Vec<String>)],
    include: &[(Combo, Vec<Seg>)],
) -> (Vec<Combo>, Vec<Option<Vec<Seg>>>) {
    // Which combinations came from `include` alone, to point duplicates at their entry.
    let mut origin: Vec<Option<Vec<Seg>>> = vec![None; combos.len()];
    let n_original = combos.len();
    for (entry, at) in include {
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
    (combos, origin)
}

/// The cells, each with its id; a duplicate cell or an id two cells would share is reported.
fn cells_of(
    combos: Vec<Combo>,
    origin: Vec<Option<Vec<Seg>>>,
    axes: &[(String, Vec<String>)],
    hash_bytes: usize,
    v: &mut Validator,
) -> Vec<Cell> {
    let mut cells: Vec<Cell> = Vec::with_capacity(combos.len());
    // Each cell's parameters, sorted (the same cell whatever the order they were written in),
    // hashed: comparing each new cell with every earlier one made 65,536 cells take minutes.
    let mut seen: HashSet<Combo> = HashSet::with_capacity(combos.len());
    // Id → the index in `cells` of the cell that has it: two cells must never share an id (one
    // folder, one artifact, one `OUTRUN_CELL`).
    let mut ids: HashMap<String, usize> = HashMap::with_capacity(combos.len());
    for (c, from) in combos.into_iter().zip(origin) {
        let mut key = c.clone();
        key.sort();
        let cell = Cell {
            id: id_with(&c, hash_bytes),
            params: c,
        };
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
        } else if let Some(&first) = ids.get(&cell.id) {
            // A cell of the product is pointed at by its value of the first parameter.
            let at = from.unwrap_or_else(|| {
                cell.params
                    .iter()
                    .find_map(|(k, val)| {
                        let (_, vals) = axes.iter().find(|(a, _)| a == k)?;
                        let i = vals.iter().position(|x| x == val)?;
                        Some(vec![
                            Seg::Key("matrix".into()),
                            Seg::Key(k.clone()),
                            Seg::Index(i),
                        ])
                    })
                    .unwrap_or_else(|| path(&["matrix"]))
            });
            v.at_value(
                &at,
                format!(
                    "cells {} and {} would share the id `{}`",
                    describe(&cells[first]),
                    describe(&cell),
                    cell.id
                ),
                Some("change one of the values; ids are a slug of the values and a 64-bit hash of all parameters".into()),
            );
        } else {
            ids.insert(cell.id.clone(), cells.len());
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

    /// Expands the `matrix:` of `yaml` with ids of `hash_bytes` bytes; the problems as
    /// (line, message).
    fn expand_text(yaml: &str, hash_bytes: usize) -> (Vec<Cell>, Vec<(usize, String)>) {
        let loc = crate::experiment::locate::Locator::new(yaml);
        let doc: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        let m = doc["matrix"].as_mapping().unwrap().clone();
        let mut v = Validator {
            loc: &loc,
            problems: Vec::new(),
            placeholders: Vec::new(),
        };
        let cells = expand_with(&m, &mut v, hash_bytes);
        let problems = v
            .problems
            .iter()
            .map(|p| (p.pos.line, p.message.clone()))
            .collect();
        (cells, problems)
    }

    #[test]
    fn ids_carry_64_bits_and_the_issues_pair_no_longer_collides() {
        let a = Cell::new(vec![("x".into(), ";&+&".into())]);
        let b = Cell::new(vec![("x".into(), ";?#>".into())]);
        // Under the 32-bit ids both were `c-b7315ddd` (issue 21): one folder for two cells.
        assert_eq!(legacy_cell_id(&a.params), "c-b7315ddd");
        assert_eq!(legacy_cell_id(&b.params), "c-b7315ddd");
        assert_ne!(a.id, b.id);
        for c in [&a, &b] {
            let hash = c.id.strip_prefix("c-").unwrap();
            assert_eq!(hash.len(), 16, "{}", c.id);
            assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{}", c.id);
        }
        // The new hash extends the old one: the same SHA-256, 8 bytes instead of 4.
        assert!(a.id.starts_with(&legacy_cell_id(&a.params)));
    }

    #[test]
    fn a_256_by_256_sweep_over_long_configuration_paths_has_no_shared_id() {
        let list = |model: &str| {
            (0..256)
                .map(|i| format!("\"experiments/configurations/{model}-v0/layer-{i:03}.yaml\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let yaml = format!(
            "matrix:\n  config: [{}]\n  baseline: [{}]\n",
            list("resnet50"),
            list("mobilenet")
        );
        let (cells, problems) = expand_text(&yaml, ID_HASH_BYTES);
        assert_eq!(problems, vec![]);
        assert_eq!(cells.len(), 65_536);
        let ids: HashSet<&str> = cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 65_536);
        // Every slug is the same cut of the first path: only the hash tells these cells apart.
        assert!(cells.iter().all(|c| {
            c.id.starts_with("experiments_configurations_resnet50_v0_l-")
        }));
    }

    #[test]
    fn validate_refuses_cells_that_share_an_id_and_names_both() {
        // With a 1-byte hash, 300 values without a slug must share ids (pigeonhole): the check
        // that guards the 64-bit ids meets real collisions.
        let values: Vec<String> = (1..=300)
            .map(|n| format!("\"{}\"", "+".repeat(n)))
            .collect();
        let yaml = format!("matrix:\n  x: [{}]\n", values.join(", "));
        let (cells, problems) = expand_text(&yaml, 1);
        assert!(!problems.is_empty());
        assert!(cells.len() <= 256);
        let (line, msg) = &problems[0];
        assert_eq!(*line, 2, "{msg}");
        assert!(msg.starts_with("cells x=+"), "{msg}");
        assert!(msg.contains(" and x=+"), "{msg}");
        assert!(msg.contains("would share the id `c-"), "{msg}");
        // With the real hash the same matrix is fine.
        let (cells, problems) = expand_text(&yaml, ID_HASH_BYTES);
        assert_eq!((cells.len(), problems), (300, vec![]));
    }

    #[test]
    fn names_that_differ_only_in_case_are_refused_where_they_are_written() {
        let yaml = "matrix:\n  a: [one]\n  include:\n    - {a: one, A: two}\n  exclude:\n    - {B: x}\n    - {b: y}\n";
        let (_, problems) = expand_text(yaml, ID_HASH_BYTES);
        let clash: Vec<_> = problems
            .iter()
            .filter(|(_, m)| m.contains("would share the variable"))
            .collect();
        assert_eq!(clash.len(), 2, "{problems:?}");
        assert_eq!(clash[0].0, 4);
        assert!(clash[0].1.contains("`a` and `A`") && clash[0].1.contains("OUTRUN_P_A"));
        assert_eq!(clash[1].0, 7);
        assert!(clash[1].1.contains("`B` and `b`"), "{}", clash[1].1);
        // Between two include entries too.
        let yaml = "matrix:\n  include:\n    - {mode: fast}\n    - {MODE: slow}\n";
        let (_, problems) = expand_text(yaml, ID_HASH_BYTES);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, 4);
        assert!(problems[0].1.contains("OUTRUN_P_MODE"));
    }
}
