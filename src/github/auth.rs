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

/// Where the token came from (safe to print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TokenSource {
    GhToken,
    GithubToken,
    EnterpriseToken,
    GhCliConfig,
    GhCliCommand,
}

/// As the GitHub CLI does: for github.com `GH_TOKEN`, then `GITHUB_TOKEN`; for an Enterprise
/// host named by `GH_HOST`, `GH_ENTERPRISE_TOKEN`, then `GITHUB_ENTERPRISE_TOKEN` — a github.com
/// token is not sent to another host unless the user named that host with `--api-url`; then
/// the GitHub CLI's stored login for the host.
pub fn find_token(host: &str, explicit_api_url: bool) -> Result<(Token, TokenSource), GithubError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if host != "github.com" {
        for k in ["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"] {
            if let Some(t) = env(k) {
                return Ok((Token::new(t.trim()), TokenSource::EnterpriseToken));
            }
        }
    }
    if host == "github.com" || explicit_api_url {
        if let Some(t) = env("GH_TOKEN") {
            return Ok((Token::new(t.trim()), TokenSource::GhToken));
        }
        if let Some(t) = env("GITHUB_TOKEN") {
            return Ok((Token::new(t.trim()), TokenSource::GithubToken));
        }
    }
    if let Some(t) = gh_config_token(host) {
        return Ok((t, TokenSource::GhCliConfig));
    }
    if let Some(t) = gh_command_token(host) {
        return Ok((t, TokenSource::GhCliCommand));
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
    let t = v.get(host)?.get("oauth_token")?.as_str()?.trim().to_string();
    (!t.is_empty()).then(|| Token::new(t))
}

/// Newer ones keep it in the system keyring, reachable through `gh auth token`.
fn gh_command_token(host: &str) -> Option<Token> {
    let out = Command::new("gh").args(["auth", "token", "--hostname", host]).stderr(std::process::Stdio::null()).output().ok()?;
    let t = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !t.is_empty()).then(|| Token::new(t))
}

/// The REST API root: `--api-url`, else from `GH_HOST` (`https://HOST/api/v3` for Enterprise),
/// else `https://api.github.com`. Returns (api url, host name for token lookup).
pub fn api_url(explicit: Option<&str>) -> (String, String) {
    if let Some(u) = explicit {
        let host = u.split("://").nth(1).unwrap_or(u).split(['/', ':']).next().unwrap_or("").to_string();
        let host = if host == "api.github.com" { "github.com".to_string() } else { host };
        return (u.trim_end_matches('/').to_string(), host);
    }
    match std::env::var("GH_HOST").ok().filter(|h| !h.is_empty() && h != "github.com") {
        Some(h) => (format!("https://{h}/api/v3"), h),
        None => ("https://api.github.com".into(), "github.com".into()),
    }
}

/// A token travels in clear over `http://`: allowed only to this machine (tests, a local proxy).
pub fn check_transport(api_url: &str) -> Result<(), GithubError> {
    let Some(rest) = api_url.strip_prefix("http://") else { return Ok(()) };
    let host = rest.split(['/']).next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(())
    } else {
        Err(GithubError::Insecure(api_url.to_string()))
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
    pub fn parse(s: &str) -> Result<Repo, GithubError> {
        let s = s.trim().trim_end_matches(".git");
        let mut parts = s.rsplit('/');
        let (name, owner) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok(owner) && ok(name) {
            Ok(Repo { owner: owner.into(), name: name.into() })
        } else {
            Err(GithubError::BadRepo(s.into()))
        }
    }

    /// From `-R`, else the `origin` remote (or the only remote) of the checkout at `root`.
    pub fn infer(explicit: Option<&str>, root: &Path) -> Result<Repo, GithubError> {
        if let Some(r) = explicit {
            return Repo::parse(r);
        }
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git").args(args).current_dir(root).stderr(std::process::Stdio::null()).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let url = git(&["remote", "get-url", "origin"]).or_else(|| {
            let remotes = git(&["remote"])?;
            let first = remotes.lines().next()?.to_string();
            git(&["remote", "get-url", &first])
        });
        match url {
            // git@github.com:owner/repo.git, https://github.com/owner/repo(.git), ssh://…/owner/repo
            Some(u) => Repo::parse(u.rsplit_once(':').filter(|(a, _)| !a.contains("//")).map(|(_, b)| b).unwrap_or(&u)),
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
        for u in ["git@github.com:octo/hello.git", "https://github.com/octo/hello", "ssh://git@ghe.corp:22/octo/hello.git", "octo/hello"] {
            let r = Repo::parse(u.rsplit_once(':').filter(|(a, _)| !a.contains("//")).map(|(_, b)| b).unwrap_or(u)).unwrap();
            assert_eq!(r.to_string(), "octo/hello", "{u}");
        }
        assert!(Repo::parse("nope").is_err());
    }

    #[test]
    fn api_urls() {
        assert_eq!(api_url(Some("http://127.0.0.1:8080/")), ("http://127.0.0.1:8080".into(), "127.0.0.1".into()));
        assert_eq!(api_url(Some("https://api.github.com")).1, "github.com");
    }
}
