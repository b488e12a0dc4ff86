//! How a generated workflow gets outrun onto its runner, decided when the workflow is generated
//! and written into it: a checksum-pinned release binary, a build of this checkout when the
//! repository is outrun's own source, or `cargo install` from crates.io.
//!
//! A binary cannot carry its own release checksum (embedding it changes the binary), so, as in
//! cargo-dist, the checksums travel beside the binaries: `release.yml` publishes
//! [`checksums_asset`] (`sha256sum` format) with every release, and the user keeps a copy at
//! [`CHECKSUMS_FILE`]. `outrun generate` pins the SHA-256 it finds there for this version's
//! asset; with none it says so in the workflow and falls back to the next way.

use std::path::Path;

use serde::Serialize;

/// Where a repository keeps the checksums file of the outrun release it uses.
pub const CHECKSUMS_FILE: &str = ".github/outrun-checksums.txt";

/// The one target the generated jobs that run outrun need: they run on `ubuntu-latest`.
pub const RUNNER_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Every target `release.yml` builds, with the `runner.os`/`runner.arch` pair that runs it.
pub const RELEASE_TARGETS: &[(&str, &str, &str)] = &[
    ("x86_64-unknown-linux-gnu", "Linux", "X64"),
    ("aarch64-apple-darwin", "macOS", "ARM64"),
];

/// Overrides the release download base at generate time (a mirror, a test's fake GitHub); the
/// checksum is pinned all the same.
pub const RELEASE_URL_ENV: &str = "OUTRUN_RELEASE_URL";

/// The release asset for `version` and `target`: what release.yml's packing step names it
/// (`outrun-$TAG-$TARGET.tar.gz` with TAG = `v` + version; a test reads release.yml).
pub fn asset_name(version: &str, target: &str) -> String {
    format!("outrun-v{version}-{target}.tar.gz")
}

/// The checksums file attached to the release of `version` (release.yml's publish job).
pub fn checksums_asset(version: &str) -> String {
    format!("outrun-v{version}-checksums.txt")
}

/// `https://github.com/OWNER/outrun/releases/download/vVERSION`, from Cargo.toml's `repository`.
pub fn release_url(version: &str) -> String {
    let base = std::env::var(RELEASE_URL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/releases/download",
                env!("CARGO_PKG_REPOSITORY").trim_end_matches('/')
            )
        });
    format!("{}/v{version}", base.trim_end_matches('/'))
}

/// The SHA-256 that a `sha256sum`-format `text` gives for `asset` (lower-case hex), if any.
pub fn find_checksum(text: &str, asset: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (sum, name) = line.trim().split_once(char::is_whitespace)?;
        // `sha256sum` marks binary mode with `*` before the name.
        let name = name.trim_start().trim_start_matches('*');
        let ok = sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit());
        (ok && name == asset).then(|| sum.to_ascii_lowercase())
    })
}

/// Whether `root` holds outrun's own source (a `Cargo.toml` whose package is `outrun`).
pub fn is_outrun_source(root: &Path) -> bool {
    let Ok(manifest) = std::fs::read_to_string(root.join("Cargo.toml")) else {
        return false;
    };
    // The `name` key of the `[package]` table; no TOML parser for one key.
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(v) = line.strip_prefix("name")
            && let Some(v) = v.trim_start().strip_prefix('=')
        {
            return v.trim() == "\"outrun\"";
        }
    }
    false
}

/// What the install steps of a generated workflow do (the template's `install`).
#[derive(Debug, Clone, Serialize)]
pub struct Install {
    /// `release`, `source`, `crates` or `custom`.
    pub method: &'static str,
    /// The comment above the steps: which way, and why not the ones before it.
    pub why: Vec<String>,
    /// `actions/cache` key, a plain word (the template adds the runner's OS and architecture,
    /// and for a build of the source the hash of its files); none for a download (seconds, and
    /// a cache would hold it unverified).
    pub cache_key: Option<String>,
    pub step_name: String,
    /// The install step's environment (plain values, quoted by the template).
    pub env: Vec<(&'static str, String)>,
    pub script: String,
}

/// The shared install script (also run by action.yml).
pub const SCRIPT: &str = include_str!("../../workflow-templates/install_outrun.sh");

/// Decides how the workflows generated in `root` get outrun `version`. `custom` is the
/// experiment's `github.install`, which wins.
pub fn decide(root: &Path, version: &str, custom: Option<&str>) -> Install {
    let version_env = ("OUTRUN_VERSION", version.to_string());
    if let Some(cmd) = custom {
        let script = format!("{}\n", cmd.trim_end());
        return Install {
            method: "custom",
            why: vec!["outrun: installed by the experiment's own `github.install` command.".into()],
            cache_key: Some(format!("outrun-{version}-{}", short_hash(&script))),
            step_name: format!("Install outrun {version} (the experiment's command)"),
            env: vec![version_env],
            script,
        };
    }
    let asset = asset_name(version, RUNNER_TARGET);
    let pinned = std::fs::read_to_string(root.join(CHECKSUMS_FILE))
        .ok()
        .and_then(|t| find_checksum(&t, &asset));
    if let Some(sha) = pinned {
        return Install {
            method: "release",
            why: vec![
                format!("outrun: the release binary {asset}, checked against the SHA-256"),
                format!("pinned from {CHECKSUMS_FILE} before it is unpacked or run."),
            ],
            cache_key: None,
            step_name: format!("Install outrun {version} (release binary, SHA-256 checked)"),
            env: vec![
                ("OUTRUN_INSTALL", "release".into()),
                ("OUTRUN_DOWNLOAD", release_url(version)),
                ("OUTRUN_ASSET", asset),
                ("OUTRUN_SHA256", sha),
            ],
            script: SCRIPT.to_string(),
        };
    }
    let no_pin = format!("no SHA-256 for {asset} in {CHECKSUMS_FILE}");
    if is_outrun_source(root) {
        return Install {
            method: "source",
            why: vec![
                "outrun: built from this checkout (outrun's own source), cached by the hash of its"
                    .into(),
                format!("lock file and sources ({no_pin})."),
            ],
            cache_key: Some("outrun-source".into()),
            step_name: "Build outrun from this checkout".into(),
            env: vec![
                ("OUTRUN_INSTALL", "source".into()),
                ("OUTRUN_SOURCE", ".".into()),
            ],
            script: SCRIPT.to_string(),
        };
    }
    Install {
        method: "crates",
        why: vec![
            format!("outrun: `cargo install --locked --version {version} outrun`, cached"),
            format!("({no_pin})."),
        ],
        cache_key: Some(format!("outrun-{version}-crates")),
        step_name: format!("Install outrun {version} from crates.io"),
        env: vec![version_env, ("OUTRUN_INSTALL", "crates".into())],
        script: SCRIPT.to_string(),
    }
}

fn short_hash(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_found_by_exact_asset_name() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!(
            "{a}  outrun-v0.1.0-x86_64-unknown-linux-gnu.tar.gz\n{b} *outrun-v0.2.0-x86_64-unknown-linux-gnu.tar.gz\nnot a line\n"
        );
        let asset = asset_name("0.1.0", RUNNER_TARGET);
        assert_eq!(find_checksum(&text, &asset), Some(a));
        assert_eq!(
            find_checksum(&text, &asset_name("0.2.0", RUNNER_TARGET)),
            Some("b".repeat(64))
        );
        assert_eq!(
            find_checksum(&text, &asset_name("0.3.0", RUNNER_TARGET)),
            None
        );
        // A short or non-hex sum pins nothing.
        assert_eq!(find_checksum("abc  x.tar.gz\n", "x.tar.gz"), None);
    }

    #[test]
    fn source_is_recognised_by_the_package_name_only() {
        let d = tempfile::tempdir().unwrap();
        let w = |s: &str| std::fs::write(d.path().join("Cargo.toml"), s).unwrap();
        w("[package]\nname = \"outrun\"\nversion = \"0.1.0\"\n");
        assert!(is_outrun_source(d.path()));
        w("[package]\nname = \"other\"\n[dependencies]\nname = \"outrun\"\n");
        assert!(!is_outrun_source(d.path()));
        w("[workspace]\nmembers = []\n");
        assert!(!is_outrun_source(d.path()));
    }
}
