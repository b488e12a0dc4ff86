//! Fault injection: what can go wrong between outrun and GitHub, on demand.
//!
//! Request faults (`Status`, `RateLimited`, `Disconnect`, `LostResponse`, `Slow`) are matched against incoming
//! requests on either host (API or storage) and consumed one per matching request. The others
//! change what the simulation produces: a run's ending or a shard's artifact.

use std::time::Duration;

use super::state::Conclusion;

/// Which requests a request fault applies to, and how many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// `None` matches any method; otherwise compared case-insensitively ("GET", "POST", ...).
    pub method: Option<String>,
    /// Compared with the start of the request path (without query, and without the API prefix
    /// when `FakeConfig::api_prefix` is set). The storage host's paths start with `/blob/`.
    pub path_prefix: String,
    /// How many matching requests this fault hits before it is used up.
    pub times: u32,
}

impl Match {
    /// Any method, once.
    pub fn any(path_prefix: &str) -> Match {
        Match {
            method: None,
            path_prefix: path_prefix.to_string(),
            times: 1,
        }
    }
    pub fn get(path_prefix: &str) -> Match {
        Match {
            method: Some("GET".into()),
            ..Match::any(path_prefix)
        }
    }
    pub fn post(path_prefix: &str) -> Match {
        Match {
            method: Some("POST".into()),
            ..Match::any(path_prefix)
        }
    }
    pub fn patch(path_prefix: &str) -> Match {
        Match {
            method: Some("PATCH".into()),
            ..Match::any(path_prefix)
        }
    }
    /// Hit the next `n` matching requests instead of one.
    pub fn times(self, n: u32) -> Match {
        Match { times: n, ..self }
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// A hostile entry added to an artifact zip, for testing outrun's safe unzip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// An entry named `../evil` (path traversal).
    ParentDir,
    /// An entry named `/abs/evil` (absolute path).
    Absolute,
    /// A symlink entry `{cell}/link` pointing at `../../../../etc/passwd`.
    Symlink,
    /// An entry `{cell}/bomb.bin` of ~1 MiB compressed that honestly declares and really expands to
    /// [`BOMB_SIZE`](super::BOMB_SIZE) zero bytes (> 1 GiB, CRC correct). The fake never holds the
    /// expanded bytes: the deflate stream is written by hand (see `artifacts.rs`).
    Bomb,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer `status` (e.g. 500, 502, 503) instead of serving the request. 502 comes back as an
    /// HTML page, as GitHub's edge sends it; the others as GitHub's JSON error body.
    Status { on: Match, status: u16 },
    /// Answer 403 or 429 as a rate limit does: `x-ratelimit-remaining: 0`, `retry-after` when
    /// given, `x-ratelimit-reset` = now + retry_after (or +60 s), and GitHub's message.
    RateLimited {
        on: Match,
        status: u16,
        retry_after: Option<u64>,
    },
    /// Close the TCP connection without sending any response; with `reset`, close with an RST
    /// (SO_LINGER 0) instead of a FIN. The request's handler does not run.
    Disconnect { on: Match, reset: bool },
    /// Serve the request (its effects happen: a dispatch creates its run), then lose the answer:
    /// drop the connection (`replace_with: None`) or send that status instead (e.g. 502, as
    /// GitHub's edge does when the backend is slow). A client that retries a POST after this
    /// sends it twice.
    LostResponse {
        on: Match,
        replace_with: Option<u16>,
    },
    /// Delay the response by `delay` of wall-clock time, then serve it normally.
    Slow { on: Match, delay: Duration },
    /// The next artifact created for `shard` is expired: listed with `expired: true`, and its
    /// `/zip` answers 410.
    ArtifactGone { shard: String },
    /// A run ends with `conclusion` (use `Cancelled` or `TimedOut`) halfway through its shard
    /// phase: shard jobs that had finished keep their result and artifact, the others end with
    /// that conclusion and upload nothing. `run: None` means the next run dispatched.
    EndRun {
        run: Option<u64>,
        conclusion: Conclusion,
    },
    /// The next artifact created for `shard` also carries a hostile entry.
    HostileZip { shard: String, entry: Hostile },
}

impl Fault {
    pub fn status(on: Match, status: u16) -> Fault {
        Fault::Status { on, status }
    }
    /// 403 rate limit with `retry-after: secs`.
    pub fn forbidden_rate_limit(on: Match, secs: u64) -> Fault {
        Fault::RateLimited {
            on,
            status: 403,
            retry_after: Some(secs),
        }
    }
    /// 429 with `retry-after: secs` (secondary rate limit).
    pub fn too_many_requests(on: Match, secs: u64) -> Fault {
        Fault::RateLimited {
            on,
            status: 429,
            retry_after: Some(secs),
        }
    }
    pub fn disconnect(on: Match) -> Fault {
        Fault::Disconnect { on, reset: false }
    }
    pub fn slow(on: Match, delay: Duration) -> Fault {
        Fault::Slow { on, delay }
    }
    pub fn cancel_next_run() -> Fault {
        Fault::EndRun {
            run: None,
            conclusion: Conclusion::Cancelled,
        }
    }
    pub fn time_out_next_run() -> Fault {
        Fault::EndRun {
            run: None,
            conclusion: Conclusion::TimedOut,
        }
    }

    pub(crate) fn request_match_mut(&mut self) -> Option<&mut Match> {
        match self {
            Fault::Status { on, .. }
            | Fault::RateLimited { on, .. }
            | Fault::Disconnect { on, .. }
            | Fault::LostResponse { on, .. }
            | Fault::Slow { on, .. } => Some(on),
            _ => None,
        }
    }
}

/// Takes the first queued request fault matching this request, consuming one of its uses.
pub(crate) fn take_matching(queue: &mut Vec<Fault>, method: &str, path: &str) -> Option<Fault> {
    let i = queue.iter_mut().position(|f| {
        f.request_match_mut()
            .is_some_and(|m| m.times > 0 && m.matches(method, path))
    })?;
    let hit = queue[i].clone();
    let m = queue[i].request_match_mut().expect("request fault");
    m.times -= 1;
    if m.times == 0 {
        queue.remove(i);
    }
    Some(hit)
}
