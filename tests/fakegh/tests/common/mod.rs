//! Test helpers: a plain HTTP client (no GitHub library, so the fake is tested on its own terms)
//! and a small OpenAPI 3.0 checker for "required fields present with the right types".

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use fakegh::{CellSpec, Conclusion, FakeConfig, FakeGithub};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const TOKEN: &str = "fake-token";
pub const REPO: &str = "octo/lab";

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: String,
}

impl Client {
    /// Redirects are NOT followed, so tests see the 302 and the storage URL.
    pub fn new(fake: &FakeGithub) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Client {
            http,
            base: fake.api_url(),
            token: TOKEN.to_string(),
        }
    }

    /// The same client, authenticating with another token (another identity).
    pub fn as_token(&self, token: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let body = resp.bytes().await.expect("body").to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "fakegh-tests")
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.authed(reqwest::Method::GET, path)).await
    }

    pub async fn get_if_none_match(&self, path: &str, etag: &str) -> Resp {
        self.send(
            self.authed(reqwest::Method::GET, path)
                .header("if-none-match", etag),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(
            self.authed(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(
            self.authed(reqwest::Method::PATCH, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.authed(reqwest::Method::DELETE, path)).await
    }

    /// Follows a storage Location without any Authorization header, as a client must.
    pub async fn get_storage(&self, url: &str) -> Resp {
        self.send(self.http.get(url)).await
    }
}

pub fn cell_json(cell: &str) -> Vec<u8> {
    format!("{{\"cell\":\"{cell}\",\"exit_status\":0}}").into_bytes()
}

/// A workflow "outrun-demo.yml" with two shards: s0 (2 cells, success) and s1 (1 cell, failure).
pub fn demo_shards() -> Vec<CellSpec> {
    vec![
        CellSpec::new("s0", Conclusion::Success)
            .cell(
                "c1",
                &[
                    ("cell.json", &cell_json("c1")),
                    ("results.csv", b"layer,cycles\nconv1,100\n"),
                ],
            )
            .cell(
                "c2",
                &[
                    ("cell.json", &cell_json("c2")),
                    ("results.csv", b"layer,cycles\nconv2,200\n"),
                ],
            ),
        CellSpec::new("s1", Conclusion::Failure).cell("c3", &[("cell.json", &cell_json("c3"))]),
    ]
}

pub async fn start_with(cfg: FakeConfig) -> (FakeGithub, Client) {
    let fake = FakeGithub::start(FakeConfig {
        token: TOKEN.into(),
        ..cfg
    })
    .await;
    fake.state()
        .lock()
        .unwrap()
        .add_workflow("outrun-demo.yml", demo_shards());
    let client = Client::new(&fake);
    (fake, client)
}

pub async fn start() -> (FakeGithub, Client) {
    start_with(FakeConfig::default()).await
}

/// Dispatches outrun-demo.yml and returns the run id (via return_run_details).
pub async fn dispatch(client: &Client, outrun_id: &str) -> u64 {
    let resp = client
        .post(
            &format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches"),
            &serde_json::json!({ "ref": "main", "inputs": { "outrun_id": outrun_id }, "return_run_details": true }),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["workflow_run_id"].as_u64().unwrap()
}

// ---------- OpenAPI checking ----------

/// GitHub's description, if installed (npm `@octokit/openapi`). `None` when it is not on this
/// machine: the schema tests then say so and check nothing.
pub fn openapi() -> Option<&'static Value> {
    static SPEC: OnceLock<Option<Value>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let candidates = [
            std::env::var("FAKEGH_OPENAPI").unwrap_or_default(),
            // Installed by scripts/install-test-tools.sh.
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../node/node_modules/@octokit/openapi/generated/api.github.com.json"
            )
            .into(),
        ];
        let found = candidates
            .iter()
            .find(|p| !p.is_empty() && std::path::Path::new(p).exists());
        if found.is_none() && std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_some() {
            panic!(
                "GitHub's OpenAPI description is not installed; run scripts/install-test-tools.sh"
            );
        }
        let path = found?;
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    })
    .as_ref()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r
                .trim_start_matches("#/")
                .split('/')
                .fold(spec, |v, k| &v[k]);
            resolve(spec, target)
        }
        None => schema,
    }
}

/// Checks `v` against an OpenAPI 3.0 schema: types, `nullable`, `required`, `enum`, nested
/// properties and items, `allOf`/`anyOf`/`oneOf`. Collects every violation with its JSON path.
pub fn check_schema(spec: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check_schema(spec, s, v, at, errs);
        }
    }
    if let Some(alts) = schema
        .get("anyOf")
        .or(schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        let ok = alts.iter().any(|s| {
            let mut e = Vec::new();
            check_schema(spec, s, v, at, &mut e);
            e.is_empty()
        });
        if !(ok || v.is_null() && schema["nullable"] == true) {
            errs.push(format!("{at}: matches none of the alternatives"));
        }
        return;
    }
    if v.is_null() {
        if schema.get("type").is_some() && schema["nullable"] != true {
            errs.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    };
    if !type_ok {
        errs.push(format!("{at}: expected {}, got {v}", ty.unwrap_or("?")));
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        errs.push(format!("{at}: {v} not in enum {options:?}"));
    }
    if let Some(obj) = v.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap();
            if !obj.contains_key(key) {
                errs.push(format!("{at}: missing required field `{key}`"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                if let Some(x) = obj.get(k) {
                    check_schema(spec, sub, x, &format!("{at}.{k}"), errs);
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check_schema(spec, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

/// Checks a response body against the description of `method path` answering `status`.
/// Returns the violations (empty = valid); panics if the description has no such response.
pub fn check_response(
    spec: &Value,
    path: &str,
    method: &str,
    status: u16,
    body: &Value,
) -> Vec<String> {
    let op = &spec["paths"][path][method];
    assert!(
        op.is_object(),
        "no operation {method} {path} in the description"
    );
    let resp = resolve(spec, &op["responses"][status.to_string()]);
    assert!(resp.is_object(), "no {status} response for {method} {path}");
    let schema = &resp["content"]["application/json"]["schema"];
    let mut errs = Vec::new();
    check_schema(spec, schema, body, "$", &mut errs);
    errs
}

/// Asserts that `body` matches the description of `method path` answering `status` (when the
/// description is installed; otherwise checks nothing, as `openapi()` explains).
pub fn assert_openapi(path: &str, method: &str, status: u16, body: &Value) {
    if let Some(spec) = openapi() {
        let errs = check_response(spec, path, method, status, body);
        assert!(
            errs.is_empty(),
            "{method} {path} {status}:\n{}",
            errs.join("\n")
        );
    }
}

pub fn query_map(url: &str) -> HashMap<String, String> {
    url.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.into(), v.into()))
                .collect()
        })
        .unwrap_or_default()
}
