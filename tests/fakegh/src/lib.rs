//! A stateful fake of the GitHub REST API surface that outrun uses, for end-to-end tests on
//! machines that cannot reach github.com.
//!
//! Two servers on 127.0.0.1 with OS-assigned ports: the API host and a separate "storage" host
//! that serves artifact zips behind signed, expiring URLs (as GitHub's blob storage does).
//! Time is SIMULATED: runs move queued → in_progress → completed only when a test calls
//! [`FakeGithub::advance`]. Response bodies follow GitHub's OpenAPI description (see `json.rs`).
//!
//! API host (all need `Authorization: Bearer|token <token>` of the default identity or one of
//! `cfg.identities`; lists take `per_page`/`page` and answer with a `Link` header when there is
//! more than one page):
//! - `GET  /rate_limit` (free), `GET /user` (403 for an installation token), `GET /repos/{o}/{r}`
//! - `GET  /repos/{o}/{r}/actions/workflows`, `GET .../workflows/{id|file}`
//! - `POST .../workflows/{id|file}/dispatches` → 204, or 200 with `return_run_details: true`
//! - `GET  .../workflows/{id|file}/runs`, `GET /repos/{o}/{r}/actions/runs`
//!   (`event`, `branch`, `status`, `created`, `head_sha`), newest first
//! - `GET  .../actions/runs/{id}`, `POST .../runs/{id}/cancel`, `GET .../runs/{id}/jobs`,
//!   `GET .../actions/jobs/{id}`, `GET .../runs/{id}/artifacts` (`name`, `direction`)
//! - `GET  .../actions/artifacts/{id}`, `GET .../actions/artifacts/{id}/zip` → 302 to storage, 410 expired
//! - `GET|POST /repos/{o}/{r}/issues/{n}/comments`, `GET|PATCH /repos/{o}/{r}/issues/comments/{id}`
//!   `DELETE .../issues/comments/{id}` (any other method there: 404, as on GitHub)
//! - `POST .../runs/{id}/rerun-failed-jobs` (403 while running), `GET .../runs/{id}/attempts/{n}`,
//!   `GET .../runs/{id}/jobs?filter=latest|all`
//! - Git Data API (`gitapi.rs`): `GET .../git/ref/{ref}`, `POST .../git/refs`,
//!   `PATCH .../git/refs/{ref}`, `GET|POST .../git/commits`, `.../git/trees`, `.../git/blobs`,
//!   `GET .../contents/{path}` (JSON or raw)
//! - `GET|POST /repos/{o}/{r}/pulls`, `GET|PATCH .../pulls/{n}`
//!
//! Storage host: `GET /blob/{id}?se=&sp=r&sig=` → the zip; 400 if an `Authorization` header is
//! sent, 403 if the signature is wrong or expired (in simulated time).
//!
//! Child modules refer to each other through `super::` (never `crate::`) so this directory can be
//! moved as-is into a test binary as a module.

mod artifacts;
mod faults;
mod git;
mod gitapi;
mod json;
mod routes;
mod state;
mod util;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State as Ax};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use artifacts::{BOMB_SIZE, CellFiles};
pub use faults::{Fault, Hostile, Match};
pub use routes::MAX_COMMENT_CHARS;
pub use state::{
    Artifact, Attempt, CellSpec, Comment, Conclusion, Host, Identity, IdentityKind, Job, JobView,
    Pull, RecordedRequest, Run, State, Workflow,
};

use faults::take_matching;
use routes::gh_error;

#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Requests must send `Authorization: Bearer <token>` or `token <token>`.
    pub token: String,
    /// Behave as GitHub Enterprise Server <= 3.20: a dispatch body with `return_run_details`
    /// is refused with 400.
    pub enterprise_mode: bool,
    /// Serve the API under a path prefix, e.g. "/api/v3" as GHES does; "" for github.com.
    pub api_prefix: String,
    /// Simulated time a run (its first job) waits before starting.
    pub queue_time: Duration,
    /// Simulated time from a run's start to its last job's end.
    pub run_time: Duration,
    /// Simulated delay before a new run shows up in run *lists* (GET by id works at once).
    /// GitHub's lists lag a dispatch by a few seconds; the GHES fallback must cope.
    pub list_lag: Duration,
    /// Core rate limit per window (wall-clock hour). At 0 remaining the fake answers 403.
    pub rate_limit: u64,
    /// Simulated time after which an artifact expires (GitHub's default retention: 90 days).
    pub artifact_retention: Duration,
    /// Simulated lifetime of a signed storage URL (GitHub: about a minute).
    pub url_ttl: Duration,
    /// Simulated clock start (Unix seconds); `None` = the wall clock at start, so date filters
    /// computed by a client from its own clock still match.
    pub epoch: Option<u64>,
    /// Login of the token's user: the author of comments the client creates.
    pub user: String,
    /// More tokens, each acting as its own identity (e.g. `Identity::github_actions(..)` for a
    /// workflow's GITHUB_TOKEN). `token`/`user` stay the default identity.
    pub identities: Vec<Identity>,
    /// The repository's default branch (`GET /repos/{o}/{r}`, and the branch that gets an
    /// initial commit when a repository's git store is first used).
    pub default_branch: String,
    /// Off = the repository setting "Allow GitHub Actions to create and approve pull requests"
    /// is unchecked: an installation token's `POST /pulls` answers 403.
    pub actions_can_create_prs: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            token: "fake-token".into(),
            enterprise_mode: false,
            api_prefix: String::new(),
            queue_time: Duration::from_secs(30),
            run_time: Duration::from_secs(600),
            list_lag: Duration::ZERO,
            rate_limit: 5000,
            artifact_retention: Duration::from_secs(90 * 86_400),
            url_ttl: Duration::from_secs(60),
            epoch: None,
            user: "outrun-tester".into(),
            identities: Vec::new(),
            default_branch: "main".into(),
            actions_can_create_prs: true,
        }
    }
}

/// Shared handle the handlers use. A std mutex: no handler holds it across an `.await`.
#[derive(Clone)]
pub(crate) struct App {
    st: Arc<Mutex<State>>,
}

impl App {
    /// Locks the state, ignoring poisoning: a test that panicked while holding the lock must not
    /// turn every later request into a second, confusing panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct FakeGithub {
    app: App,
    api_addr: SocketAddr,
    storage_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeGithub {
    /// Binds both servers on 127.0.0.1:0 and serves them on the current tokio runtime.
    pub async fn start(cfg: FakeConfig) -> FakeGithub {
        let api_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind API port");
        let storage_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind storage port");
        let api_addr = api_listener.local_addr().expect("API address");
        let storage_addr = storage_listener.local_addr().expect("storage address");
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let prefix = cfg.api_prefix.trim_end_matches('/').to_string();
        // Unguessable enough for a test server: clients must use the Location we give them.
        let secret =
            util::sha256_hex(format!("{}:{api_addr}:{storage_addr}", wall.as_nanos()).as_bytes());
        let mut st = State::new(cfg.clone(), cfg.epoch.unwrap_or(wall.as_secs()), secret);
        st.api_origin = format!("http://{api_addr}");
        st.api_url = format!("http://{api_addr}{prefix}");
        st.storage_url = format!("http://{storage_addr}");
        st.rate.reset_wall = wall.as_secs() + 3600;
        let app = App {
            st: Arc::new(Mutex::new(st)),
        };

        let api = routes::api_router(app.clone(), &prefix)
            .layer(from_fn_with_state(app.clone(), api_layer));
        let storage = routes::storage_router(app.clone())
            .layer(from_fn_with_state(app.clone(), storage_layer));
        let serve = |listener: TcpListener, router: axum::Router| {
            tokio::spawn(async move {
                let svc = router.into_make_service_with_connect_info::<Conn>();
                let _ = axum::serve(KillableListener(listener), svc).await;
            })
        };
        let tasks = vec![serve(api_listener, api), serve(storage_listener, storage)];
        FakeGithub {
            app,
            api_addr,
            storage_addr,
            tasks,
        }
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:PORT` (plus `api_prefix`).
    pub fn api_url(&self) -> String {
        format!(
            "http://{}{}",
            self.api_addr,
            self.app.lock().cfg.api_prefix.trim_end_matches('/')
        )
    }

    /// Base URL of the storage host that signed artifact URLs point to.
    pub fn storage_url(&self) -> String {
        format!("http://{}", self.storage_addr)
    }

    /// The fake's state, for setup (`add_workflow`) and assertions. Don't hold the lock across
    /// an `.await`: the servers run on the same runtime and need it.
    pub fn state(&self) -> Arc<Mutex<State>> {
        self.app.st.clone()
    }

    /// Every request so far, both hosts, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.lock().requests.clone()
    }

    /// Requests that cost rate limit: API host, authenticated, not 304, not `/rate_limit`.
    pub fn counted_requests(&self) -> usize {
        self.app
            .lock()
            .requests
            .iter()
            .filter(|r| r.counted)
            .count()
    }

    /// Queues a fault (see [`Fault`] for when each kind takes effect).
    pub fn inject(&self, fault: Fault) {
        let mut st = self.app.lock();
        match fault {
            Fault::Status { .. }
            | Fault::RateLimited { .. }
            | Fault::Disconnect { .. }
            | Fault::LostResponse { .. }
            | Fault::Slow { .. } => st.faults.push(fault),
            Fault::ArtifactGone { .. } | Fault::HostileZip { .. } => st.artifact_faults.push(fault),
            Fault::EndRun {
                run: None,
                conclusion,
            } => st.next_run_endings.push(conclusion),
            Fault::EndRun {
                run: Some(id),
                conclusion,
            } => {
                let now = st.now_ms();
                if let Some(run) = st.runs.iter_mut().find(|r| r.id == id) {
                    // Never rewrite the past: a run already beyond its midpoint ends now.
                    let at = State::midpoint_of_shards(run).max(now);
                    run.forced_end = Some((conclusion, at));
                }
            }
        }
    }

    /// Moves the simulated clock forward.
    pub fn advance(&self, d: Duration) {
        self.app.lock().advance(d);
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

// ---------- connections that a fault can drop ----------

/// Per-connection handle, reachable from a request through `ConnectInfo`, that lets the
/// middleware kill the connection the request came on (0 = alive, 1 = close, 2 = reset).
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    kill: Arc<AtomicU8>,
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Conn {
        stream.remote_addr().clone()
    }
}

pub(crate) struct KillableListener(TcpListener);

impl Listener for KillableListener {
    type Io = KillableIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (KillableIo, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicU8::new(0));
                    return (
                        KillableIo {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        Conn { kill },
                    );
                }
                // e.g. EMFILE: back off instead of spinning, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// axum only uses this for logging; a fresh, unconnected handle stands in for the address.
    fn local_addr(&self) -> io::Result<Conn> {
        self.0.local_addr()?;
        Ok(Conn {
            kill: Arc::new(AtomicU8::new(0)),
        })
    }
}

/// A TCP stream that fails its next write once killed, so hyper drops the connection before a
/// single byte of the response leaves: the client sees the connection close (or reset) mid-request.
pub(crate) struct KillableIo {
    inner: TcpStream,
    kill: Arc<AtomicU8>,
}

impl KillableIo {
    fn killed(&self) -> Option<io::Error> {
        match self.kill.load(Ordering::SeqCst) {
            0 => None,
            mode => {
                if mode == 2 {
                    // SO_LINGER 0: closing the socket sends RST instead of FIN.
                    let _ = self.inner.set_zero_linger();
                }
                Some(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault: connection dropped",
                ))
            }
        }
    }
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) != 0 {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) != 0 {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ---------- middleware: the request log, faults, auth, rate limit, ETags ----------

/// What the middleware needs to remember about a request after handing it on.
struct Seen {
    host: Host,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    if_none_match: Option<String>,
    conn: Option<Conn>,
}

impl Seen {
    fn of(req: &Request, host: Host) -> Seen {
        let header = |name: &header::HeaderName| {
            req.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Seen {
            host,
            method: req.method().as_str().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            if_none_match: header(&header::IF_NONE_MATCH),
            conn: req
                .extensions()
                .get::<ConnectInfo<Conn>>()
                .map(|c| c.0.clone()),
        }
    }

    fn record(self, st: &mut State, status: u16, counted: bool) {
        st.requests.push(RecordedRequest {
            host: self.host,
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            conditional: self.if_none_match.is_some(),
            status,
            counted,
            at: SystemTime::now(),
        });
    }
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A 5xx (or other) error as GitHub sends it.
fn error_status(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == 502 {
        // GitHub's edge answers 502 with an HTML page, not JSON.
        let html = "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";
        return (code, [(header::CONTENT_TYPE, "text/html")], html).into_response();
    }
    let message = match status {
        500 => "Server Error",
        503 => "Service Unavailable",
        _ => code.canonical_reason().unwrap_or("Error"),
    };
    gh_error(code, message, "https://docs.github.com/rest")
}

fn kill(seen: &Seen, reset: bool) {
    if let Some(conn) = &seen.conn {
        conn.kill.store(if reset { 2 } else { 1 }, Ordering::SeqCst);
    }
}

enum Early {
    /// Answer with this instead of running the handler; `bool` = counts against the rate limit.
    Respond(Response, bool),
    /// The connection was killed; nothing will reach the client.
    Dropped(Response),
    /// Run the handler, then drop the connection (`None`) or answer this status instead.
    LoseAnswer(Option<u16>),
}

/// Applies the next matching request fault, if any. `Slow` just waits and lets the request go on.
async fn apply_fault(app: &App, seen: &Seen, local_path: &str) -> Option<Early> {
    let fault = take_matching(&mut app.lock().faults, &seen.method, local_path)?;
    match fault {
        Fault::Slow { delay, .. } => {
            tokio::time::sleep(delay).await;
            None
        }
        Fault::Disconnect { reset, .. } => {
            kill(seen, reset);
            Some(Early::Dropped(
                StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            ))
        }
        Fault::Status { status, .. } => Some(Early::Respond(error_status(status), true)),
        Fault::LostResponse { replace_with, .. } => Some(Early::LoseAnswer(replace_with)),
        Fault::RateLimited {
            status,
            retry_after,
            ..
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            let message = if status == 429 {
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            } else {
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID."
            };
            let mut resp = gh_error(
                code,
                message,
                "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
            );
            let h = resp.headers_mut();
            let reset = wall_secs() + retry_after.unwrap_or(60);
            if let Some(secs) = retry_after {
                h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            Some(Early::Respond(resp, false))
        }
        // Non-request faults never sit in the request queue.
        _ => None,
    }
}

/// `None` without an Authorization header; `Some(None)` for a token nobody has.
fn authorized(seen: &Seen, st: &State) -> Option<Option<Identity>> {
    let value = seen
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str())?;
    let given = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or("");
    Some(st.identity_for_token(given).filter(|_| !given.is_empty()))
}

/// Weak comparison, as If-None-Match uses: `W/"x"` matches `"x"`; `*` matches anything.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

async fn api_layer(Ax(app): Ax<App>, mut req: Request, next: Next) -> Response {
    let seen = Seen::of(&req, Host::Api);
    let prefix = app.lock().cfg.api_prefix.trim_end_matches('/').to_string();
    let local_path = seen
        .path
        .strip_prefix(prefix.as_str())
        .unwrap_or(&seen.path)
        .to_string();
    let mut lose_answer = None;
    match apply_fault(&app, &seen, &local_path).await {
        Some(Early::Dropped(resp)) => {
            seen.record(&mut app.lock(), 0, false);
            return resp;
        }
        Some(Early::Respond(resp, counted)) => return finish_api(&app, seen, resp, counted),
        Some(Early::LoseAnswer(replace_with)) => lose_answer = Some(replace_with),
        None => {}
    }
    let who = authorized(&seen, &app.lock());
    match who {
        // Handlers learn who is asking from this extension (comment authors, run actors, ...).
        Some(Some(identity)) => {
            req.extensions_mut().insert(identity);
        }
        Some(None) => {
            let resp = gh_error(
                StatusCode::UNAUTHORIZED,
                "Bad credentials",
                "https://docs.github.com/rest",
            );
            return finish_api(&app, seen, resp, false);
        }
        None => {
            let resp = gh_error(
                StatusCode::UNAUTHORIZED,
                "Requires authentication",
                "https://docs.github.com/rest",
            );
            return finish_api(&app, seen, resp, false);
        }
    }
    let exhausted = {
        let mut st = app.lock();
        refresh_window(&mut st);
        st.rate.used >= st.cfg.rate_limit && local_path != "/rate_limit"
    };
    if exhausted {
        let resp = gh_error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
            "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
        );
        return finish_api(&app, seen, resp, false);
    }
    let is_get = seen.method == Method::GET.as_str();
    let counted = local_path != "/rate_limit";
    let resp = next.run(req).await;
    match lose_answer {
        Some(Some(status)) => return finish_api(&app, seen, error_status(status), counted),
        Some(None) => {
            // The work is done (and counted), but the client never hears of it.
            kill(&seen, false);
            seen.record(&mut app.lock(), 0, counted);
            return resp;
        }
        None => {}
    }
    if !(is_get && resp.status() == StatusCode::OK) {
        return finish_api(&app, seen, resp, counted);
    }
    // Every successful GET carries a weak ETag of its body; a matching If-None-Match gets an
    // empty 304 that does not count against the rate limit (which is why clients poll that way).
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let etag = format!("W/\"{}\"", util::sha256_hex(&bytes));
    let etag_value = HeaderValue::from_str(&etag).expect("etag header");
    parts.headers.insert(header::ETAG, etag_value);
    parts.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60, s-maxage=60"),
    );
    parts.headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization, Cookie, X-GitHub-OTP"),
    );
    if seen
        .if_none_match
        .as_deref()
        .is_some_and(|inm| etag_matches(inm, &etag))
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        let h = resp.headers_mut();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
            header::LINK,
        ] {
            if let Some(v) = parts.headers.get(&name) {
                h.insert(name, v.clone());
            }
        }
        return finish_api(&app, seen, resp, false);
    }
    finish_api(
        &app,
        seen,
        Response::from_parts(parts, axum::body::Body::from(bytes)),
        counted,
    )
}

/// The rate-limit window is wall-clock based (clients compare `x-ratelimit-reset` with their clock).
fn refresh_window(st: &mut State) {
    let now = wall_secs();
    if now >= st.rate.reset_wall {
        st.rate.used = 0;
        st.rate.reset_wall = now + 3600;
    }
}

/// Counts the request, adds GitHub's standard headers and logs it.
fn finish_api(app: &App, seen: Seen, mut resp: Response, counted: bool) -> Response {
    let mut st = app.lock();
    refresh_window(&mut st);
    if counted {
        st.rate.used += 1;
    }
    let (limit, used, reset) = (
        st.cfg.rate_limit,
        st.rate.used.min(st.cfg.rate_limit),
        st.rate.reset_wall,
    );
    let api_version = seen
        .headers
        .iter()
        .find(|(k, _)| k == "x-github-api-version")
        .map_or("2022-11-28".to_string(), |(_, v)| v.clone());
    let request_id = format!(
        "FAKE:{:04X}:{:06X}",
        st.requests.len() % 0xFFFF,
        st.requests.len()
    );
    let h = resp.headers_mut();
    // A fault may already have set remaining/reset (rate-limited answers say 0): keep those.
    let mut put = |name: &'static str, value: String| {
        h.entry(name)
            .or_insert(HeaderValue::from_str(&value).expect("header value"));
    };
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-remaining", (limit - used).to_string());
    put("x-ratelimit-used", used.to_string());
    put("x-ratelimit-reset", reset.to_string());
    put("x-ratelimit-resource", "core".to_string());
    put("x-github-api-version-selected", api_version);
    put("x-github-media-type", "github.v3; format=json".to_string());
    put("x-github-request-id", request_id);
    let status = resp.status().as_u16();
    seen.record(&mut st, status, counted);
    resp
}

/// The storage host only logs and applies faults: no GitHub auth, no rate limit, no ETags.
async fn storage_layer(Ax(app): Ax<App>, req: Request, next: Next) -> Response {
    let seen = Seen::of(&req, Host::Storage);
    let path = seen.path.clone();
    let resp = match apply_fault(&app, &seen, &path).await {
        Some(Early::Dropped(resp)) => {
            seen.record(&mut app.lock(), 0, false);
            return resp;
        }
        Some(Early::Respond(resp, _)) => resp,
        Some(Early::LoseAnswer(replace_with)) => {
            let resp = next.run(req).await;
            match replace_with {
                Some(status) => error_status(status),
                None => {
                    kill(&seen, false);
                    seen.record(&mut app.lock(), 0, false);
                    return resp;
                }
            }
        }
        None => next.run(req).await,
    };
    seen.record(&mut app.lock(), resp.status().as_u16(), false);
    resp
}
