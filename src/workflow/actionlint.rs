//! `.github/actionlint.yaml`: actionlint rejects a runner label it does not know ("label "gpu"
//! is unknown"), so `outrun generate` lists there every label an experiment runs on that GitHub
//! does not host. It only ever adds: the user's own entries and settings stay.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// The file outrun writes when the repository has none (actionlint also reads `.yml`).
pub const CONFIG: &str = ".github/actionlint.yaml";
const CONFIG_YML: &str = ".github/actionlint.yml";

#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}; fix it or remove it (outrun only adds runner labels to it)", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub reason: String,
}

/// Whether GitHub hosts runners for `label`, or actionlint knows it as one of a self-hosted
/// runner's default labels: either way it needs no entry.
pub fn known(label: &str) -> bool {
    let l = label.to_ascii_lowercase();
    super::pack::HOSTED_PREFIXES
        .iter()
        .any(|p| l.starts_with(p))
        || matches!(
            l.as_str(),
            "self-hosted" | "linux" | "windows" | "macos" | "x64" | "arm" | "arm64"
        )
}

/// The labels in `labels` that need an entry, sorted and once each.
pub fn needed<'a>(labels: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = labels.into_iter().filter(|l| !known(l)).cloned().collect();
    v.sort();
    v.dedup();
    v
}

/// The config file's path under `root`: the one that exists, else [`CONFIG`].
pub fn path(root: &Path) -> PathBuf {
    if root.join(CONFIG_YML).exists() && !root.join(CONFIG).exists() {
        PathBuf::from(CONFIG_YML)
    } else {
        PathBuf::from(CONFIG)
    }
}

/// The config text with `needed` added to `self-hosted-runner.labels`, or `None` when `existing`
/// already lists them all. A new file gets a comment saying who keeps it.
pub fn merge(
    path: &Path,
    existing: Option<&str>,
    needed: &[String],
) -> Result<Option<String>, ConfigError> {
    let bad = |reason: String| ConfigError {
        path: path.to_path_buf(),
        reason,
    };
    let Some(text) = existing else {
        if needed.is_empty() {
            return Ok(None);
        }
        let mut out = String::from(
            "# Runner labels of self-hosted runners, for actionlint. `outrun generate` adds the labels\n# its experiments use; add your own freely, outrun never removes any.\nself-hosted-runner:\n  labels:\n",
        );
        for l in needed {
            out.push_str(&format!("    - {}\n", serde_json::Value::from(l.as_str())));
        }
        return Ok(Some(out));
    };
    let mut doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?
    };
    let top = doc
        .as_mapping_mut()
        .ok_or_else(|| bad("not a mapping".into()))?;
    let runner = top
        .entry(Value::from("self-hosted-runner"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if runner.is_null() {
        *runner = Value::Mapping(Mapping::new());
    }
    let runner = runner
        .as_mapping_mut()
        .ok_or_else(|| bad("`self-hosted-runner` is not a mapping".into()))?;
    let labels = runner
        .entry(Value::from("labels"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if labels.is_null() {
        *labels = Value::Sequence(Vec::new());
    }
    let labels = labels
        .as_sequence_mut()
        .ok_or_else(|| bad("`self-hosted-runner.labels` is not a list".into()))?;
    let mut changed = false;
    for l in needed {
        if !labels.iter().any(|v| v.as_str() == Some(l.as_str())) {
            labels.push(Value::from(l.as_str()));
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    serde_yaml::to_string(&doc)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hosted_and_default_labels_need_no_entry() {
        let all = labels(&[
            "self-hosted",
            "gpu",
            "ubuntu-latest",
            "h200",
            "gpu",
            "Linux",
        ]);
        assert_eq!(needed(&all), labels(&["gpu", "h200"]));
    }

    #[test]
    fn a_new_file_lists_the_labels_and_reads_back() {
        let text = merge(Path::new(CONFIG), None, &labels(&["gpu"]))
            .unwrap()
            .unwrap();
        let v: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["self-hosted-runner"]["labels"][0].as_str(), Some("gpu"));
        assert_eq!(merge(Path::new(CONFIG), None, &[]).unwrap(), None);
    }

    #[test]
    fn the_users_entries_and_settings_stay() {
        let user = "self-hosted-runner:\n  labels: [mine, gpu]\nconfig-variables: [FOO]\n";
        let p = Path::new(CONFIG);
        assert_eq!(merge(p, Some(user), &labels(&["gpu"])).unwrap(), None);
        let text = merge(p, Some(user), &labels(&["gpu", "h200"]))
            .unwrap()
            .unwrap();
        let v: Value = serde_yaml::from_str(&text).unwrap();
        let got: Vec<&str> = v["self-hosted-runner"]["labels"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(got, ["mine", "gpu", "h200"]);
        assert_eq!(v["config-variables"][0].as_str(), Some("FOO"));
        // A file outrun cannot read is an error, never replaced.
        let e = merge(p, Some("self-hosted-runner: [x"), &labels(&["gpu"])).unwrap_err();
        assert!(e.to_string().contains("actionlint.yaml"), "{e}");
        let e = merge(
            p,
            Some("self-hosted-runner:\n  labels: gpu\n"),
            &labels(&["h200"]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a list"), "{e}");
    }
}
