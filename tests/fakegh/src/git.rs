//! A tiny git object store per repository, enough for a client to land a commit through the
//! Git Data API (blobs → tree → commit → ref) and for tests to read what landed.
//!
//! Trees are kept flat (full path → blob sha); the API answers in GitHub's nested shapes, and
//! registers every subtree so that its sha can be read back. Object ids are 40 hex digits: the
//! first half of a SHA-256 of a canonical serialisation (not git's SHA-1: nothing here needs to
//! agree with a real git client, only to be stable and content-addressed).

use std::collections::{BTreeMap, VecDeque};

use super::util::sha256_hex;

/// A flat tree: path → blob sha.
pub(crate) type Flat = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub(crate) struct Commit {
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author: (String, String),
    pub date_ms: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct GitStore {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub trees: BTreeMap<String, Flat>,
    pub commits: BTreeMap<String, Commit>,
    /// `refs/heads/main` → commit sha.
    pub refs: BTreeMap<String, String>,
}

fn oid(kind: &str, body: &[u8]) -> String {
    let mut data = format!("{kind} {}\0", body.len()).into_bytes();
    data.extend_from_slice(body);
    sha256_hex(&data)[..40].to_string()
}

impl GitStore {
    pub fn put_blob(&mut self, bytes: Vec<u8>) -> String {
        let sha = oid("blob", &bytes);
        self.blobs.insert(sha.clone(), bytes);
        sha
    }

    /// Stores a flat tree and every subtree under it; returns the root's sha.
    pub fn put_tree(&mut self, flat: Flat) -> String {
        let mut dirs: Vec<String> = vec![String::new()];
        for path in flat.keys() {
            let mut at = 0;
            while let Some(i) = path[at..].find('/') {
                dirs.push(path[..at + i].to_string());
                at += i + 1;
            }
        }
        dirs.sort();
        dirs.dedup();
        let mut root = String::new();
        for dir in dirs {
            let sub: Flat = if dir.is_empty() {
                flat.clone()
            } else {
                let prefix = format!("{dir}/");
                flat.iter()
                    .filter_map(|(p, s)| Some((p.strip_prefix(&prefix)?.to_string(), s.clone())))
                    .collect()
            };
            let sha = Self::tree_sha(&sub);
            self.trees.insert(sha.clone(), sub);
            if dir.is_empty() {
                root = sha;
            }
        }
        root
    }

    fn tree_sha(flat: &Flat) -> String {
        let body: String = flat
            .iter()
            .map(|(p, s)| format!("100644 {p}\0{s}\n"))
            .collect();
        oid("tree", body.as_bytes())
    }

    pub fn put_commit(&mut self, c: Commit) -> String {
        let body = format!(
            "tree {}\n{}author {} <{}> {}\n\n{}",
            c.tree,
            c.parents
                .iter()
                .map(|p| format!("parent {p}\n"))
                .collect::<String>(),
            c.author.0,
            c.author.1,
            c.date_ms / 1000,
            c.message
        );
        let sha = oid("commit", body.as_bytes());
        self.commits.insert(sha.clone(), c);
        sha
    }

    /// Does commit `sha` have `ancestor` in its history (or is it `ancestor`)?
    pub fn descends_from(&self, sha: &str, ancestor: &str) -> bool {
        let mut queue = VecDeque::from([sha.to_string()]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(s) = queue.pop_front() {
            if s == ancestor {
                return true;
            }
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        false
    }

    /// Every commit `sha` descends from (itself included).
    fn ancestors(&self, sha: &str) -> std::collections::BTreeSet<String> {
        let mut queue = VecDeque::from([sha.to_string()]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(s) = queue.pop_front() {
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// A merge base of two commits: the first common ancestor met walking back from `b`,
    /// nearest first (enough for the histories the tests build).
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_a = self.ancestors(a);
        let mut queue = VecDeque::from([b.to_string()]);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(s) = queue.pop_front() {
            if of_a.contains(&s) {
                return Some(s);
            }
            if seen.insert(s.clone())
                && let Some(c) = self.commits.get(&s)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        None
    }

    /// The three-way merge of `head` into `base` (commit shas), file by file: a file changed
    /// on one side only since their merge base takes that side; a file changed on both sides
    /// to different contents is a conflict. Stricter than git (which merges line by line): a
    /// pull request this calls clean merges cleanly on GitHub too. `Err` lists the conflicts.
    pub fn three_way(&self, base: &str, head: &str) -> Result<Flat, Vec<String>> {
        let empty = Flat::new();
        let mb = self.merge_base(base, head);
        let anc = mb
            .as_deref()
            .and_then(|m| self.flat_of_commit(m))
            .unwrap_or(&empty);
        let ours = self.flat_of_commit(base).unwrap_or(&empty);
        let theirs = self.flat_of_commit(head).unwrap_or(&empty);
        let paths: std::collections::BTreeSet<&String> =
            anc.keys().chain(ours.keys()).chain(theirs.keys()).collect();
        let mut out = Flat::new();
        let mut conflicts = Vec::new();
        for p in paths {
            let (b, o, t) = (anc.get(p), ours.get(p), theirs.get(p));
            let take = if o == t || b == t {
                o
            } else if b == o {
                t
            } else {
                conflicts.push(p.clone());
                continue;
            };
            if let Some(sha) = take {
                out.insert(p.clone(), sha.clone());
            }
        }
        if conflicts.is_empty() {
            Ok(out)
        } else {
            Err(conflicts)
        }
    }

    /// Resolves a branch name, `refs/heads/…`/`heads/…`, or a commit sha to a commit sha.
    pub fn resolve(&self, git_ref: &str) -> Option<String> {
        let name = git_ref.strip_prefix("refs/").unwrap_or(git_ref);
        let name = name.strip_prefix("heads/").unwrap_or(name);
        if let Some(sha) = self.refs.get(&format!("refs/heads/{name}")) {
            return Some(sha.clone());
        }
        self.commits
            .contains_key(git_ref)
            .then(|| git_ref.to_string())
    }

    /// The flat tree of a commit.
    pub fn flat_of_commit(&self, sha: &str) -> Option<&Flat> {
        self.trees.get(&self.commits.get(sha)?.tree)
    }
}
