//! Where the token, the API URL and the repository come from — the GitHub CLI's conventions.

use std::fmt;
use std::path::Path;
use std::process::Command;

use super::GithubError;

/// A token. Its `Debug` hides it and it has no `Display`, so it cannot end up in a message,
/// a log line or `--json` output by accident.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Token {
        Token(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// As the GitHub CLI does: for github.com `GH_TOKEN`, then `GITHUB_TOKEN`; for an Enterprise
/// host named by `GH_HOST`, `GH_ENTERPRISE_TOKEN`, then `GITHUB_ENTERPRISE_TOKEN` — a github.com
/// token is not sent to another host unless the user named that host with `--api-url`; then
/// the GitHub CLI's stored login for the host.
pub fn find_token(host: &str, explicit_api_url: bool) -> Result<Token, GithubError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if host != "github.com" {
        for k in ["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"] {
            if let Some(t) = env(k) {
                return Ok(Token::new(t.trim()));
            }
        }
    }
    if host == "github.com" || explicit_api_url {
        if let Some(t) = env("GH_TOKEN") {
            return Ok(Token::new(t.trim()));
        }
        if let Some(t) = env("GITHUB_TOKEN") {
            return Ok(Token::new(t.trim()));
        }
    }
    if let Some(t) = gh_config_token(host) {
        return Ok(t);
    }
    if let Some(t) = gh_command_token(host) {
        return Ok(t);
    }
    Err(GithubError::NoToken { host: host.into() })
}

/// Older GitHub CLI versions keep `oauth_token` in `hosts.yml`.
fn gh_config_token(host: &str) -> Option<Token> {
    let dir = match std::env::var_os("GH_CONFIG_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => match std::env::var_os("XDG_CONFIG_HOME") {
            Some(x) => Path::new(&x).join("gh"),
            None => Path::new(&std::env::var_os("HOME")?).join(".config/gh"),
        },
    };
    let text = std::fs::read_to_string(dir.join("hosts.yml")).ok()?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    let t = v
        .get(host)?
        .get("oauth_token")?
        .as_str()?
        .trim()
        .to_string();
    (!t.is_empty()).then(|| Token::new(t))
}

/// Newer ones keep it in the system keyring, reachable through `gh auth token`.
fn gh_command_token(host: &str) -> Option<Token> {
    let out = Command::new("gh")
        .args(["auth", "token", "--hostname", host])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let t = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !t.is_empty()).then(|| Token::new(t))
}

/// The REST API root: `--api-url`, else from `GH_HOST` (`https://HOST/api/v3` for Enterprise),
/// else `https://api.github.com`. Returns (api url, host name for token lookup).
pub fn api_url(explicit: Option<&str>) -> (String, String) {
    if let Some(u) = explicit {
        let host = u
            .split("://")
            .nth(1)
            .unwrap_or(u)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_string();
        let host = if host == "api.github.com" {
            "github.com".to_string()
        } else {
            host
        };
        return (u.trim_end_matches('/').to_string(), host);
    }
    match std::env::var("GH_HOST")
        .ok()
        .filter(|h| !h.is_empty() && h != "github.com")
    {
        Some(h) => (format!("https://{h}/api/v3"), h),
        None => ("https://api.github.com".into(), "github.com".into()),
    }
}

/// The API URL must be `https://HOST…`, or `http://` to this machine only (tests, a local
/// proxy): a token travels in clear over http. Parsed as a URL, not by string cutting: a user
/// part (`http://localhost:@evil.example/`) names no host of ours and is refused outright.
pub fn check_transport(api_url: &str) -> Result<(), GithubError> {
    let bad = |why: &str| GithubError::BadApiUrl {
        url: api_url.to_string(),
        why: why.to_string(),
    };
    let uri: http::Uri = api_url.parse().map_err(|_| bad("not a URL"))?;
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "a user name or password in the URL is not allowed (the token is sent as a header)",
        ));
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(GithubError::Insecure(api_url.to_string()))
            }
        }
        _ => Err(bad("the scheme must be https (or http to this machine)")),
    }
}

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl Repo {
    /// `OWNER/REPO` exactly, with GitHub's own rules for both names: an owner is 1–39 letters,
    /// digits or single hyphens, not at either end; a repository name is 1–100 letters, digits,
    /// `-`, `_` or `.`, and not `.` or `..`. Anything else (`a/b/c`, `../..`) would steer the
    /// API path, so it is refused.
    pub fn parse(s: &str) -> Result<Repo, GithubError> {
        let t = s.trim();
        let t = t.strip_suffix(".git").unwrap_or(t);
        let bad = || GithubError::BadRepo(s.trim().into());
        let (owner, name) = t.split_once('/').ok_or_else(bad)?;
        let owner_ok = (1..=39).contains(&owner.len())
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !owner.starts_with('-')
            && !owner.ends_with('-')
            && !owner.contains("--");
        let name_ok = (1..=100).contains(&name.len())
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if owner_ok && name_ok {
            Ok(Repo {
                owner: owner.into(),
                name: name.into(),
            })
        } else {
            Err(bad())
        }
    }

    /// The `OWNER/REPO` at the end of a git remote URL: `git@github.com:owner/repo.git`,
    /// `https://github.com/owner/repo(.git)`, `ssh://git@host:22/owner/repo.git`.
    fn from_remote(url: &str) -> Result<Repo, GithubError> {
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
            None => url.rsplit_once(':').map(|(_, p)| p).unwrap_or(url),
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            [.., owner, name] => Repo::parse(&format!("{owner}/{name}")),
            _ => Err(GithubError::BadRepo(url.into())),
        }
    }

    /// From `-R`, else the `origin` remote (or the only remote) of the checkout at `root`.
    pub fn infer(explicit: Option<&str>, root: &Path) -> Result<Repo, GithubError> {
        if let Some(r) = explicit {
            return Repo::parse(r);
        }
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .args(args)
                .current_dir(root)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let url = git(&["remote", "get-url", "origin"]).or_else(|| {
            let remotes = git(&["remote"])?;
            let first = remotes.lines().next()?.to_string();
            git(&["remote", "get-url", &first])
        });
        match url {
            Some(u) => Repo::from_remote(&u),
            None => Err(GithubError::NoRepo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_hides_the_secret() {
        let t = Token::new("ghp_secret123");
        assert_eq!(format!("{t:?}"), "Token(***)");
    }

    #[test]
    fn repos_from_remote_urls() {
        for u in [
            "git@github.com:octo/hello.git",
            "https://github.com/octo/hello",
            "ssh://git@ghe.corp:22/octo/hello.git",
            "https://ghe.corp/octo/hello/",
        ] {
            assert_eq!(
                Repo::from_remote(u).unwrap().to_string(),
                "octo/hello",
                "{u}"
            );
        }
        assert_eq!(
            Repo::parse("octo/hello.git").unwrap().to_string(),
            "octo/hello"
        );
        for bad in [
            "nope",
            "a/b/c",
            "../..",
            "octo/paper/../../x",
            "octo/..",
            "-octo/x",
            "oc--to/x",
            "octo/",
            "/x",
            "octo/a b",
        ] {
            assert!(Repo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://api.github.com",
            "https://ghe.corp/api/v3",
            "http://127.0.0.1:8080",
            "http://localhost:9",
            "http://[::1]:80/x",
            "http://127.1.2.3/",
        ] {
            assert!(check_transport(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost:@evil.example/",
            "http://127.0.0.1@evil.example",
            "https://user:pw@api.github.com",
            "http://evil.example",
            "http://127.0.0.1.evil.example/",
            "ftp://x",
            "localhost",
        ] {
            assert!(check_transport(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_urls() {
        assert_eq!(
            api_url(Some("http://127.0.0.1:8080/")),
            ("http://127.0.0.1:8080".into(), "127.0.0.1".into())
        );
        assert_eq!(api_url(Some("https://api.github.com")).1, "github.com");
    }
}
