//! How every request is sent: conditional GETs with the last `ETag`, rate-limit waits, retries
//! with backoff only for requests whose repetition is harmless (a POST that creates something is
//! never sent twice), bounded answers, and paging through `Link: rel="next"`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;

use super::{Client, GithubError};

pub(super) struct Resp {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: bytes::Bytes,
}

/// The largest API answer outrun reads (a page of 100 runs is well under 1 MB; a ledger file
/// through the contents API is the largest thing it fetches).
const MAX_BODY: usize = 64 << 20;
const TOO_LARGE: &str = "answer larger than ";

/// The most pages of one list outrun follows (100 items a page).
const MAX_PAGES: usize = 100;
/// Attempts for a request whose repetition is harmless.
pub(super) const MAX_ATTEMPTS: u32 = 6;
/// The longest single wait for a rate limit before giving up (GitHub resets hourly).
const MAX_RATE_WAIT: Duration = Duration::from_secs(3600);

pub(super) fn api_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &[u8],
) -> GithubError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    if status == StatusCode::UNAUTHORIZED {
        return GithubError::Auth {
            status: status.as_u16(),
            message,
        };
    }
    GithubError::Http {
        method: method.to_string(),
        path: path.into(),
        status: status.as_u16(),
        message,
    }
}

impl Client {
    pub(super) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.repo.owner, self.repo.name)
    }

    /// One HTTP exchange through octocrab, body collected.
    pub(super) async fn exchange(
        &self,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
        etag: Option<&HeaderValue>,
    ) -> Result<Resp, String> {
        let mut headers = HeaderMap::new();
        if let Some(e) = etag {
            headers.insert(header::IF_NONE_MATCH, e.clone());
        }
        let res = match *method {
            Method::GET => self.api._get_with_headers(path, Some(headers)).await,
            Method::POST => self.api._post(path, body).await,
            Method::PATCH => self.api._patch(path, body).await,
            Method::PUT => self.api._put(path, body).await,
            Method::DELETE => self.api._delete(path, body).await,
            _ => return Err(format!("outrun does not send {method} requests")),
        };
        let res = res.map_err(|e| transport_message(&e))?;
        let (parts, mut b) = res.into_parts();
        // Read at most MAX_BODY bytes: a runaway or hostile answer must not fill the memory.
        let mut body = bytes::BytesMut::new();
        loop {
            let frame = match tokio::time::timeout(self.timeout, b.frame()).await {
                Err(_) => return Err("timed out reading the response".into()),
                Ok(None) => break,
                Ok(Some(f)) => f.map_err(|e| transport_message(&e))?,
            };
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > MAX_BODY {
                    return Err(format!("{TOO_LARGE}{MAX_BODY}"));
                }
                body.extend_from_slice(&data);
            }
        }
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.freeze(),
        })
    }

    /// Sends a request with outrun's rules: conditional GETs, rate-limit waits, and retries
    /// only when `repeatable`.
    pub(super) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        repeatable: bool,
    ) -> Result<Resp, GithubError> {
        let mut attempt = 0;
        let mut rate_waits = 0;
        loop {
            attempt += 1;
            let etag = if method == Method::GET {
                self.cached(path).map(|(e, _)| e)
            } else {
                None
            };
            let outcome = self.exchange(&method, path, body, etag.as_ref()).await;
            let resp = match outcome {
                Ok(r) => r,
                Err(message) if message.starts_with(TOO_LARGE) => {
                    return Err(GithubError::TooLarge {
                        method: method.to_string(),
                        path: path.into(),
                        limit: MAX_BODY,
                    });
                }
                Err(message) => {
                    if repeatable && attempt < MAX_ATTEMPTS {
                        self.note_retry();
                        self.clock.sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(transport_error(&method, path, message, repeatable));
                }
            };
            if resp.status == StatusCode::NOT_MODIFIED {
                self.stats.lock().expect("stats lock").not_modified += 1;
                if let Some((_, body)) = self.cached(path) {
                    return Ok(Resp {
                        status: StatusCode::OK,
                        headers: resp.headers,
                        body,
                    });
                }
                // A 304 without a cached body cannot happen unless the cache was lost; ask again plainly.
                self.etags.lock().expect("etag lock").remove(path);
                continue;
            }
            self.stats.lock().expect("stats lock").counted += 1;
            if let Some(wait) = rate_limit_wait(&resp)
                && wait <= MAX_RATE_WAIT
                && rate_waits < MAX_ATTEMPTS
            {
                // A rate-limited request was not carried out, so even a POST may be resent;
                // waiting is not a failure, so it does not use up an attempt.
                rate_waits += 1;
                attempt -= 1;
                self.note_retry();
                self.clock.sleep(wait).await;
                continue;
            }
            if resp.status.is_server_error() {
                if repeatable && attempt < MAX_ATTEMPTS {
                    self.note_retry();
                    self.clock.sleep(backoff(attempt)).await;
                    continue;
                }
                if !repeatable {
                    return Err(GithubError::Ambiguous {
                        method: method.to_string(),
                        path: path.into(),
                        message: format!("HTTP {}", resp.status.as_u16()),
                    });
                }
            }
            if method == Method::GET
                && resp.status == StatusCode::OK
                && let Some(e) = resp.headers.get(header::ETAG)
            {
                self.etags
                    .lock()
                    .expect("etag lock")
                    .insert(path.to_string(), (e.clone(), resp.body.clone()));
            }
            return Ok(resp);
        }
    }

    /// The ETag and body of the last 200 to a GET of `path`.
    fn cached(&self, path: &str) -> Option<(HeaderValue, bytes::Bytes)> {
        self.etags.lock().expect("etag lock").get(path).cloned()
    }

    pub(super) fn note_retry(&self) {
        self.stats.lock().expect("stats lock").retries += 1;
    }

    pub(super) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let resp = self.request(Method::GET, path, None, true).await?;
        if !resp.status.is_success() {
            return Err(api_error(&Method::GET, path, resp.status, &resp.body));
        }
        decode(path, &resp)
    }

    /// Every page of a list endpoint (`per_page=100`), following `Link: rel="next"` — at most
    /// [`MAX_PAGES`] of them: a `Link` that loops must not keep outrun busy forever.
    pub(super) async fn get_pages<T: DeserializeOwned>(
        &self,
        first: &str,
        field: &str,
    ) -> Result<Vec<T>, GithubError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(GithubError::Decode {
                    path: first.into(),
                    message: format!("more than {MAX_PAGES} pages"),
                });
            }
            let resp = self.request(Method::GET, &path, None, true).await?;
            if !resp.status.is_success() {
                return Err(api_error(&Method::GET, &path, resp.status, &resp.body));
            }
            let mut v: serde_json::Value = decode(&path, &resp)?;
            // Most lists come wrapped (`{"total_count", "jobs": […]}`); issue comments come bare.
            let list = if field.is_empty() {
                v.take()
            } else {
                v.get_mut(field)
                    .map(serde_json::Value::take)
                    .unwrap_or_default()
            };
            let items: Vec<T> = serde_json::from_value(list).map_err(|e| GithubError::Decode {
                path: path.clone(),
                message: e.to_string(),
            })?;
            out.extend(items);
            next = next_link(&resp.headers);
            // A `Link` elsewhere would take the token with it.
            if let Some(n) = &next
                && n.contains("://")
                && !n.starts_with(&format!("{}/", self.origin))
            {
                return Err(GithubError::Decode {
                    path,
                    message: format!(
                        "the next page's link leaves the API host ({n}); not followed"
                    ),
                });
            }
        }
        Ok(out)
    }
}

/// A JSON answer as `T`, or an error that names the request and says what came instead (an
/// HTML page from a proxy, a truncated body, another shape).
pub(super) fn decode<T: DeserializeOwned>(path: &str, resp: &Resp) -> Result<T, GithubError> {
    serde_json::from_slice(&resp.body).map_err(|e| {
        let kind = resp
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        let start: String = String::from_utf8_lossy(&resp.body[..resp.body.len().min(80)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        GithubError::Decode {
            path: path.into(),
            message: format!(
                "{e} (a {}-byte {kind} answer starting `{start}`)",
                resp.body.len()
            ),
        }
    })
}

/// 1, 2, 4, 8, 16 s … capped at 60 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.saturating_sub(1).min(6)).min(60))
}

/// How long GitHub asks us to wait, from `retry-after` or an exhausted rate limit's reset time.
fn rate_limit_wait(resp: &Resp) -> Option<Duration> {
    if !matches!(resp.status.as_u16(), 403 | 429) {
        return None;
    }
    let h = |k: &str| {
        resp.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(s) = h("retry-after").and_then(|s| s.parse::<u64>().ok()) {
        return Some(Duration::from_secs(s.max(1)));
    }
    if h("x-ratelimit-remaining") == Some("0") {
        let reset = h("x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    if resp.status.as_u16() == 429 {
        return Some(Duration::from_secs(60));
    }
    // A secondary rate limit: a 403 whose message says so, without headers.
    String::from_utf8_lossy(&resp.body)
        .contains("secondary rate limit")
        .then_some(Duration::from_secs(60))
}

/// The `rel="next"` URL of a `Link` header, as a path (the client adds the base).
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',')
        .find(|p| p.contains("rel=\"next\""))
        .and_then(|p| {
            let url = p
                .split(';')
                .next()?
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            Some(url.to_string())
        })
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A transport error's message, without anything from the request (headers hold the token).
pub(super) fn transport_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// A request that got no answer: a repeatable one failed in transport; any other may or may not
/// have been carried out, and is never resent.
fn transport_error(method: &Method, path: &str, message: String, repeatable: bool) -> GithubError {
    let (method, path) = (method.to_string(), path.to_string());
    if repeatable {
        GithubError::Transport {
            method,
            path,
            message,
        }
    } else {
        GithubError::Ambiguous {
            method,
            path,
            message,
        }
    }
}
