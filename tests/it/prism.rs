//! Prism (`@stoplight/prism-cli`) as a VALIDATING PROXY between outrun and the fake GitHub: every
//! request and every response is checked against GitHub's published OpenAPI description
//! (`@octokit/openapi`, generated/api.github.com.json). Both are installed into tests/node by
//! scripts/install-test-tools.sh.
//!
//! How Prism 5.14 reports a broken contract in `proxy --errors` mode (found by experiment):
//! - a request that breaks the description is NOT forwarded: the client gets 422
//!   `application/problem+json` (`type` …`#UNPROCESSABLE_ENTITY`, the details in `validation`);
//! - a response that breaks it is replaced by 500 `application/problem+json`
//!   (`type` …`#VIOLATIONS`, details in `validation` and in an `sl-violations` header);
//! - a path or method the description lacks: 404/405 (`#NO_PATH_MATCHED_ERROR`, `#NO_METHOD_MATCHED_ERROR`);
//! - the log (pretty lines, never JSON, whatever stdout is) then says, after the response is sent:
//!   `[HTTP SERVER] post /repos/o/r/… ✖  error     Request terminated with error: https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY: Invalid request`
//!   — the type and title only; the details are only in the response the client got.
//! - a status the description does not list (304, 403, 429, 5xx from fault injection) is passed
//!   through unchanged with an `sl-violations` header and only a WARNING line:
//!   `[VALIDATOR] ⚠  warning   Violation: response Unable to match the returned status code …`.
//!   Those are [`PrismProxy::warnings`], not [`PrismProxy::violations`].
//! - an upstream that drops the connection becomes a 500 `Request terminated with error: FetchError…`
//!   (not a contract violation; visible in [`PrismProxy::log`]).
//!
//! Prism follows a 302 itself and forwards `Authorization` to the Location, so artifact downloads
//! (`/actions/artifacts/{id}/zip`) must go straight to the fake, not through the proxy.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PRISM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/node/node_modules/.bin/prism"
);
const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/node/node_modules/@octokit/openapi/generated/api.github.com.json"
);
/// Prism needs ~8 s to load GitHub's 13 MB description on an idle machine; give a loaded one room.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const BARRIER: &str = "/__outrun_prism_barrier__/";
const TERMINATED: &str = "Request terminated with error: ";
const PRISM_ERROR: &str = "https://stoplight.io/prism/errors#";

pub struct PrismProxy {
    child: Child,
    port: u16,
    log: PathBuf,
    barriers: AtomicU32,
}

impl PrismProxy {
    /// Starts `prism proxy --errors` in front of `upstream` (e.g. the fake's `api_url()`) on a free
    /// 127.0.0.1 port and waits (at most 90 s) until it listens. `None`, with a note on stderr, when
    /// Prism is not installed — unless `OUTRUN_REQUIRE_TOOLS` is set: then it panics.
    /// Panics if Prism is installed but does not come up.
    pub fn start(upstream: &str) -> Option<PrismProxy> {
        if !Path::new(PRISM).exists() || !Path::new(SPEC).exists() {
            let msg = "Prism or GitHub's OpenAPI description is not installed \
                       (tests/node/node_modules); run scripts/install-test-tools.sh";
            if std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_some() {
                panic!("{msg}");
            }
            eprintln!("skipping Prism validation: {msg}");
            return None;
        }
        // Picking a port then releasing it races with other processes; retry if Prism loses.
        let mut last_log = String::new();
        for _ in 0..3 {
            match PrismProxy::try_start(upstream) {
                Ok(proxy) => return Some(proxy),
                Err(log) if log.contains("EADDRINUSE") => last_log = log,
                Err(log) => panic!(
                    "Prism did not start in front of {upstream}:\n{}",
                    tail(&log)
                ),
            }
        }
        panic!("Prism found no free port:\n{}", tail(&last_log));
    }

    /// One attempt; `Err(log text)` when Prism exits or times out before it listens.
    fn try_start(upstream: &str) -> Result<PrismProxy, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("prism-{}-{port}.log", std::process::id()));
        let out = File::create(&log).expect("create Prism log");
        let err = out.try_clone().expect("clone Prism log handle");
        let started = Instant::now();
        let child = Command::new(PRISM)
            .args([
                "proxy",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--errors",
            ])
            .arg(SPEC)
            .arg(upstream.trim_end_matches('/'))
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("spawn Prism");
        // From here on, Drop kills the process group whatever happens.
        let mut proxy = PrismProxy {
            child,
            port,
            log,
            barriers: AtomicU32::new(0),
        };
        let ready = format!("Prism is listening on http://127.0.0.1:{port}");
        loop {
            let text = proxy.log();
            if text.contains(&ready) {
                eprintln!(
                    "Prism proxy on {} → {upstream} ready after {:.1} s",
                    proxy.url(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Err(format!("{text}\n(Prism exited: {status})"));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("{text}\n(not listening after {START_TIMEOUT:?})"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`: use it as the API base URL instead of the upstream's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every contract violation Prism reported so far, empty when all traffic conformed: requests
    /// it refused (422), responses it replaced (500), unknown paths or methods (404/405). One entry
    /// per request, e.g. `post /repos/o/r/actions/workflows/x.yml/dispatches: UNPROCESSABLE_ENTITY: Invalid request`;
    /// the details are in the problem+json body the client received.
    pub fn violations(&self) -> Vec<String> {
        self.barrier();
        let mut found = Vec::new();
        for line in self.log().lines().filter(|l| !l.contains(BARRIER)) {
            if let Some(at) = line.find(TERMINATED) {
                let what = &line[at + TERMINATED.len()..];
                if let Some(kind) = what.strip_prefix(PRISM_ERROR) {
                    found.push(format!("{}: {kind}", request_of(line)));
                }
            } else if line.contains("[VALIDATOR]") && line.contains(" error ") {
                // Not seen with --errors (error-level violations terminate the request), but
                // should Prism ever log one on its own, it is a violation too.
                found.push(after_level(line).to_string());
            }
        }
        found
    }

    /// Warning-level findings that Prism let through, e.g. a 304/403/429 the description does not
    /// list for an operation ("Unable to match the returned status code ...").
    pub fn warnings(&self) -> Vec<String> {
        self.barrier();
        self.log()
            .lines()
            .filter(|l| l.contains("[VALIDATOR]") && l.contains(" warning "))
            .map(|l| after_level(l).to_string())
            .collect()
    }

    /// Prism's whole log so far (for failure messages).
    pub fn log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    /// Prism writes a request's error line only after it has sent the response, so a client that
    /// just got a 422/500 may look before the line exists. Send one more request (to a path the
    /// description lacks, so it is never forwarded) and wait for ITS line: Prism logs in order.
    fn barrier(&self) {
        let n = self.barriers.fetch_add(1, Ordering::Relaxed);
        let path = format!("{BARRIER}{n}");
        let sent = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )?;
            let mut sink = Vec::new();
            s.read_to_end(&mut sink)?;
            Ok(())
        })();
        if sent.is_err() {
            return; // Prism is gone: its log is final.
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let marker = format!("{path} ");
        while Instant::now() < deadline {
            if self
                .log()
                .lines()
                .any(|l| l.contains(&marker) && l.contains(TERMINATED))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrismProxy {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; the group is the one Prism leads (process_group(0)).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("Prism's log is kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// `get /repos/o/r/actions/runs` from `[HTTP SERVER] get /repos/o/r/actions/runs ✖  error  ...`.
fn request_of(line: &str) -> &str {
    line.split_once("[HTTP SERVER] ")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once(" ✖").map(|(req, _)| req.trim()))
        .unwrap_or(line)
}

/// The message after the level word (`error`, `warning`) of a pretty log line.
fn after_level(line: &str) -> &str {
    [" error ", " warning "]
        .iter()
        .find_map(|lvl| line.split_once(lvl).map(|(_, m)| m.trim()))
        .unwrap_or(line)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte(@..~)
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

// ---------- the proof that it works ----------

#[cfg(test)]
mod tests {
    use super::PrismProxy;
    use fakegh::{CellSpec, Conclusion, FakeConfig, FakeGithub};
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        fn json(&self) -> Value {
            serde_json::from_str(&self.body)
                .unwrap_or_else(|e| panic!("{} not JSON ({e}): {}", self.status, self.body))
        }
    }

    /// One raw HTTP/1.1 exchange (`Connection: close`), no HTTP library involved.
    async fn http(
        base: &str,
        method: &str,
        path: &str,
        hdrs: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let addr = base.trim_start_matches("http://").trim_end_matches('/');
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        req.push_str("Accept: application/vnd.github+json\r\nUser-Agent: outrun-tests\r\n");
        for (k, v) in hdrs {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if !body.is_empty() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("receive");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut payload = raw[split + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        if chunked {
            payload = dechunk(&payload);
        }
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&payload).to_string(),
        }
    }

    fn dechunk(mut b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&b[..eol])
                .unwrap()
                .split(';')
                .next()
                .unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
            b = &b[eol + 4 + size..];
        }
        out
    }

    /// An upstream that breaks GitHub's description: `total_count` is a string, `workflow_runs` missing.
    async fn bad_upstream() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = r#"{"total_count": "not a number"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prism_catches_contract_violations() {
        let cfg = FakeConfig::default();
        let auth = format!("Bearer {}", cfg.token);
        let auth = [("Authorization", auth.as_str())];
        let fake = FakeGithub::start(cfg).await;
        fake.state().lock().unwrap().add_workflow(
            "outrun-x.yml",
            vec![CellSpec::new("s0", Conclusion::Success).cell("c1", &[("cell.json", b"{}")])],
        );
        let bad = bad_upstream().await;

        // Both proxies load the description at once (about 9 s each, in parallel).
        let api = fake.api_url();
        let (good_proxy, bad_proxy) = tokio::join!(
            tokio::task::spawn_blocking(move || PrismProxy::start(&api)),
            tokio::task::spawn_blocking(move || PrismProxy::start(&bad)),
        );
        let (Some(proxy), Some(bad_proxy)) = (good_proxy.unwrap(), bad_proxy.unwrap()) else {
            return; // not installed (and not required): already said so on stderr
        };
        let base = proxy.url();
        let dispatch = "/repos/o/r/actions/workflows/outrun-x.yml/dispatches";

        // (1) A conforming dispatch passes through, and so does the fake's answer.
        let r = http(
            &base,
            "POST",
            dispatch,
            &auth,
            Some(
                &json!({"ref": "main", "inputs": {"outrun_id": "abc"}, "return_run_details": true}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let run_id = r.json()["workflow_run_id"]
            .as_u64()
            .expect("workflow_run_id");
        assert_eq!(proxy.violations(), Vec::<String>::new(), "{}", proxy.log());

        // A run, by id, with the token: 200 and conforming.
        let run_path = format!("/repos/o/r/actions/runs/{run_id}");
        let r = http(&base, "GET", &run_path, &auth, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["id"].as_u64(), Some(run_id));
        assert_eq!(r.header("sl-violations"), None);
        let etag = r
            .header("etag")
            .expect("the fake sends an ETag")
            .to_string();
        assert_eq!(proxy.violations(), Vec::<String>::new(), "{}", proxy.log());

        // The same GET conditionally: Prism forwards If-None-Match and passes the 304 (with its
        // ETag) through. The description lists only 200 here, so Prism adds a warning, no error.
        let r = http(
            &base,
            "GET",
            &run_path,
            &[auth[0], ("If-None-Match", &etag)],
            None,
        )
        .await;
        assert_eq!(r.status, 304, "{}", r.body);
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.body.is_empty());
        assert!(
            r.header("sl-violations")
                .is_some_and(|v| v.contains("Warning"))
        );
        assert!(
            fake.requests().last().unwrap().header("if-none-match") == Some(etag.as_str()),
            "If-None-Match reached the fake"
        );
        assert_eq!(proxy.violations(), Vec::<String>::new(), "{}", proxy.log());
        let warnings = proxy.warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("Unable to match the returned status code")),
            "{warnings:?}"
        );

        // (2) A dispatch without `ref`: refused with 422 before it reaches the fake.
        let before = fake.requests().len();
        let r = http(
            &base,
            "POST",
            dispatch,
            &auth,
            Some(&json!({"inputs": {"outrun_id": "abc"}})),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            r.body.contains("must have required property 'ref'"),
            "{}",
            r.body
        );
        assert_eq!(
            fake.requests().len(),
            before,
            "Prism must not forward a bad request"
        );
        let v = proxy.violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].starts_with(&format!("post {dispatch}: UNPROCESSABLE_ENTITY")),
            "{v:?}"
        );

        // (3) A response that breaks the description: replaced by 500 with the details.
        let r = http(
            &bad_proxy.url(),
            "GET",
            "/repos/o/r/actions/runs",
            &auth,
            None,
        )
        .await;
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(r.body.contains("total_count must be integer"), "{}", r.body);
        assert!(
            r.body.contains("required property 'workflow_runs'"),
            "{}",
            r.body
        );
        let v = bad_proxy.violations();
        assert_eq!(
            v,
            vec!["get /repos/o/r/actions/runs: VIOLATIONS: Request/Response not valid"]
        );
    }
}
