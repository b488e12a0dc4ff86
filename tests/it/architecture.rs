//! The source's shape, as docs/architecture.md states it: explicit imports outside test modules,
//! and `src/backend/github/` a one-way chain.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's code before its test module (`#[cfg(test)]` then `mod`), comment lines left out (a
/// doc link such as `[merge](mod@super::merge)` is no import); none for a test-only file.
fn non_test_part(path: &Path) -> String {
    if path
        .file_stem()
        .is_some_and(|s| s.to_string_lossy().ends_with("_tests"))
    {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    (lines[..end].iter())
        .filter(|l| !l.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_glob_import_outside_test_modules() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 50, "read the source tree: {}", files.len());
    let mut globs = Vec::new();
    for f in &files {
        for (n, line) in non_test_part(f).lines().enumerate() {
            let l = line.trim();
            if (l.starts_with("use ")
                || l.starts_with("pub use ")
                || l.starts_with("pub(crate) use "))
                && l.ends_with("::*;")
            {
                globs.push(format!("{}:{}: {l}", f.display(), n + 1));
            }
        }
    }
    assert!(globs.is_empty(), "glob imports:\n{}", globs.join("\n"));
}

/// The files of `src/backend/github/`, bottom to top (its `mod.rs` says what each does).
const CHAIN: &[&str] = &[
    "types",
    "trust",
    "dispatch",
    "fetch",
    "land",
    "collected",
    "comment",
    "progress",
    "collect",
    "sync",
];

/// The files of `src/dataset/`, bottom first (`mod.rs` re-exports and holds the shared names).
const DATASET_CHAIN: &[&str] = &[
    "prefix", "order", "file", "newest", "merge", "ledger", "absorb", "write",
];

#[test]
fn backend_github_files_import_only_files_below_them() {
    files_import_only_files_below(&src().join("backend").join("github"), CHAIN);
}

#[test]
fn dataset_files_import_only_files_below_them() {
    files_import_only_files_below(&src().join("dataset"), DATASET_CHAIN);
}

/// Every file of `dir` but `mod.rs` is in `chain`, and none names (through `super::`) a file at
/// its own place in `chain` or above it.
fn files_import_only_files_below(dir: &Path, chain_order: &[&str]) {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "mod")
        .collect();
    names.sort();
    let mut chain: Vec<String> = chain_order.iter().map(|s| s.to_string()).collect();
    chain.sort();
    assert_eq!(names, chain, "every file has its place in the chain");
    let mut climbs = Vec::new();
    for (at, name) in chain_order.iter().enumerate() {
        let text = non_test_part(&dir.join(format!("{name}.rs")));
        for (i, _) in text.match_indices("super::") {
            let rest = &text[i + "super::".len()..];
            let used: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if let Some(pos) = chain_order.iter().position(|c| *c == used)
                && pos >= at
            {
                climbs.push(format!("{name}.rs uses super::{used}"));
            }
        }
        // `use super::{a, b::c}`: the names inside the braces.
        for (i, _) in text.match_indices("use super::{") {
            let inner = &text[i + "use super::{".len()..];
            let inner = &inner[..inner.find('}').unwrap()];
            for part in inner.split(',') {
                let head = part.trim().split("::").next().unwrap_or("");
                if let Some(pos) = chain_order.iter().position(|c| *c == head)
                    && pos >= at
                {
                    climbs.push(format!("{name}.rs uses super::{head}"));
                }
            }
        }
    }
    assert!(
        climbs.is_empty(),
        "imports that climb:\n{}",
        climbs.join("\n")
    );
}

/// No circle among the files of any folder of `src/`: a file that uses a sibling (through
/// `super::NAME` or its `crate::` path) is never used back by it, however far round.
#[test]
fn no_folder_has_files_that_import_each_other() {
    let mut dirs = vec![src()];
    let mut circles = Vec::new();
    while let Some(dir) = dirs.pop() {
        let mut siblings = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_stem().is_some_and(|s| s != "mod" && s != "lib")
            {
                siblings.push(path);
            }
        }
        siblings.sort();
        let stems: Vec<String> = (siblings.iter())
            .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let module_path = dir
            .strip_prefix(src())
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .fold("crate".to_string(), |acc, c| format!("{acc}::{c}"));
        let uses: Vec<Vec<usize>> = (siblings.iter())
            .map(|f| {
                let text = non_test_part(f);
                (0..stems.len())
                    .filter(|&j| names_sibling(&text, &module_path, &stems[j]))
                    .collect()
            })
            .collect();
        for (a, used) in uses.iter().enumerate() {
            for &b in used {
                if a != b && reaches(&uses, b, a) {
                    circles.push(format!("{}: {} ↔ {}", dir.display(), stems[a], stems[b]));
                }
            }
        }
    }
    assert!(circles.is_empty(), "circles:\n{}", circles.join("\n"));
}

/// Whether `text` names the sibling module `stem`: `super::stem`, `crate::…::stem` (the
/// folder's own path), or `stem` inside `use super::{…}`.
fn names_sibling(text: &str, module_path: &str, stem: &str) -> bool {
    let ends_name = |rest: &str| {
        !rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let direct = [format!("super::{stem}"), format!("{module_path}::{stem}")];
    if direct.iter().any(|p| {
        text.match_indices(p.as_str())
            .any(|(i, _)| ends_name(&text[i + p.len()..]))
    }) {
        return true;
    }
    text.match_indices("use super::{").any(|(i, _)| {
        let inner = &text[i + "use super::{".len()..];
        let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
        inner
            .split(',')
            .any(|part| part.trim().split("::").next() == Some(stem))
    })
}

/// Whether `from` reaches `to` along `uses`.
fn reaches(uses: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; uses.len()];
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(&uses[n]);
        }
    }
    false
}

/// The library's top-level modules, top first, as docs/architecture.md lists them ("imports
/// only go down"); the modules of one layer do not import each other either.
const LAYERS: &[&[&str]] = &[
    &["backend"],
    &["pipeline"],
    &["report"],
    &["compare"],
    &["dataset"],
    &["workflow", "init"],
    &["outputs"],
    &["contract"],
    &["fsutil", "github_api"],
    &["names"],
    &["experiment"],
    &["limits", "markdown", "shown"],
];

#[test]
fn top_level_modules_import_only_modules_below_them() {
    let layer_of = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut climbs = Vec::new();
    for (at, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            let mut files = Vec::new();
            let dir = src().join(module);
            if dir.is_dir() {
                rust_files(&dir, &mut files);
            } else {
                files.push(src().join(format!("{module}.rs")));
            }
            for f in &files {
                let text = non_test_part(f);
                for (i, _) in text.match_indices("crate::") {
                    let used: String = text[i + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if used != *module
                        && let Some(pos) = layer_of(&used)
                        && pos <= at
                    {
                        climbs.push(format!("{} uses crate::{used}", f.display()));
                    }
                }
            }
        }
    }
    let mut listed: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    listed.sort_unstable();
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut declared: Vec<&str> = (lib.lines())
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    declared.sort_unstable();
    assert_eq!(listed, declared, "every module of lib.rs has its layer");
    climbs.sort();
    climbs.dedup();
    assert!(
        climbs.is_empty(),
        "imports that climb:\n{}",
        climbs.join("\n")
    );
}
