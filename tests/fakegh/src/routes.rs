//! The HTTP surface: route table and handlers for the API host and the storage host.
//!
//! Cross-cutting behaviour (auth, faults, rate-limit headers, ETag/304, the request log) lives in
//! the middleware in `lib.rs`; handlers only answer the request itself.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Value, json};

use super::App;
use super::json;
use super::state::{Comment, Identity, Run, State};
use super::util::{parse_iso8601, sha256_hex};

const DOCS: &str = "https://docs.github.com/rest";
/// GitHub's limit on an issue comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

pub(crate) fn api_router(app: App, prefix: &str) -> Router {
    let p = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&p("/rate_limit"), get(rate_limit))
        .route(&p("/user"), get(authenticated_user))
        .route(&p("/repos/{owner}/{repo}"), get(get_repository))
        .route(
            &p("/repos/{owner}/{repo}/actions/workflows"),
            get(list_workflows),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/workflows/{wf}"),
            get(get_workflow),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/workflows/{wf}/dispatches"),
            axum::routing::post(dispatch),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/workflows/{wf}/runs"),
            get(list_workflow_runs),
        )
        .route(&p("/repos/{owner}/{repo}/actions/runs"), get(list_runs))
        .route(&p("/repos/{owner}/{repo}/actions/runs/{id}"), get(get_run))
        .route(
            &p("/repos/{owner}/{repo}/actions/runs/{id}/cancel"),
            axum::routing::post(cancel_run),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/runs/{id}/rerun-failed-jobs"),
            axum::routing::post(rerun_failed_jobs),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}"),
            get(get_run_attempt),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/runs/{id}/jobs"),
            get(list_jobs),
        )
        .route(&p("/repos/{owner}/{repo}/actions/jobs/{id}"), get(get_job))
        .route(
            &p("/repos/{owner}/{repo}/actions/runs/{id}/artifacts"),
            get(list_artifacts),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/artifacts/{id}"),
            get(get_artifact),
        )
        .route(
            &p("/repos/{owner}/{repo}/actions/artifacts/{id}/{format}"),
            get(download_artifact),
        )
        .route(
            &p("/repos/{owner}/{repo}/issues/{number}/comments"),
            get(list_comments).post(create_comment),
        )
        .route(
            &p("/repos/{owner}/{repo}/issues/comments/{id}"),
            get(get_comment)
                .patch(update_comment)
                .delete(delete_comment),
        )
        .merge(super::gitapi::router(prefix))
        // GitHub has no route for other methods (e.g. POST to a comment URL): it answers 404, not 405.
        .method_not_allowed_fallback(not_found)
        .fallback(not_found)
        .with_state(app)
}

pub(crate) fn storage_router(app: App) -> Router {
    Router::new()
        .route("/blob/{id}", get(storage_blob))
        .route(
            "/{owner}/{repo}/releases/download/{tag}/{name}",
            get(release_asset),
        )
        .fallback(storage_not_found)
        .with_state(app)
}

// ---------- helpers ----------

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("serialize");
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        bytes,
    )
        .into_response()
}

pub(crate) fn gh_error(status: StatusCode, message: &str, doc: &str) -> Response {
    json_response(status, &json::error(status.as_u16(), message, doc, None))
}

pub(crate) fn gh_not_found() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found", DOCS)
}

async fn not_found() -> Response {
    gh_not_found()
}

pub(crate) fn validation_failed(message: &str, doc: &str, errors: Value) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json::error(422, message, doc, Some(errors)),
    )
}

/// Minimal `application/x-www-form-urlencoded` query decoding (keys are unique in our use).
pub(crate) fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(crate) fn same_repo(a: &str, owner: &str, repo: &str) -> bool {
    a.eq_ignore_ascii_case(&format!("{owner}/{repo}"))
}

/// Applies `per_page`/`page` and builds GitHub's `Link` header (prev, next, last, first) when
/// there is more than one page.
pub(crate) fn paginate<T>(
    st: &State,
    uri: &Uri,
    q: &HashMap<String, String>,
    items: Vec<T>,
) -> (Vec<T>, Option<String>) {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page).min(total);
    let slice: Vec<T> = items.into_iter().skip(start).take(per_page).collect();
    if last <= 1 {
        return (slice, None);
    }
    // Keep the client's own query (as sent) and only swap the page number.
    let other: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
        .collect();
    let link_to = |n: usize| {
        let mut parts = other.clone();
        let page = format!("page={n}");
        parts.push(&page);
        format!("<{}{}?{}>", st.api_origin, uri.path(), parts.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    (slice, Some(links.join(", ")))
}

pub(crate) fn with_link(mut resp: Response, link: Option<String>) -> Response {
    if let Some(link) = link {
        resp.headers_mut().insert(
            header::LINK,
            HeaderValue::from_str(&link).expect("link header"),
        );
    }
    resp
}

/// GitHub's date qualifiers for `created`: `>=D`, `>D`, `<=D`, `<D`, `A..B` (either side may be
/// `*`), or a bare `D` meaning that day (or that second, for a full timestamp).
fn created_matches(spec: &str, t: u64) -> bool {
    let bound = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            parse_iso8601(s).map(Some)
        }
    };
    let parsed = if let Some((a, b)) = spec.split_once("..") {
        bound(a)
            .zip(bound(b))
            .map(|(a, b)| a.is_none_or(|(s, _)| t >= s) && b.is_none_or(|(s, g)| t < s + g))
    } else if let Some(d) = spec.strip_prefix(">=") {
        parse_iso8601(d).map(|(s, _)| t >= s)
    } else if let Some(d) = spec.strip_prefix("<=") {
        parse_iso8601(d).map(|(s, g)| t < s + g)
    } else if let Some(d) = spec.strip_prefix('>') {
        parse_iso8601(d).map(|(s, g)| t >= s + g)
    } else if let Some(d) = spec.strip_prefix('<') {
        parse_iso8601(d).map(|(s, _)| t < s)
    } else {
        parse_iso8601(spec).map(|(s, g)| t >= s && t < s + g)
    };
    // An unparseable qualifier filters nothing rather than failing the request.
    parsed.unwrap_or(true)
}

// ---------- rate limit ----------

async fn rate_limit(Ax(app): Ax<App>) -> Response {
    let st = app.lock();
    json_response(
        StatusCode::OK,
        &json::rate_limit(st.cfg.rate_limit, st.rate.used, st.rate.reset_wall),
    )
}

/// `GET /user`: the token's user, as GitHub's `public-user` schema has it. An installation token
/// (a workflow's GITHUB_TOKEN) has no user: GitHub answers 403.
async fn authenticated_user(Ax(app): Ax<App>, Extension(who): Extension<Identity>) -> Response {
    let st = app.lock();
    if who.installation {
        return gh_error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            "https://docs.github.com/rest/users/users#get-the-authenticated-user",
        );
    }
    let mut u = json::simple_user_as(&st.api_url, &who.login, who.kind);
    if let Some(o) = u.as_object_mut() {
        for (k, v) in [
            ("user_view_type", serde_json::json!("public")),
            ("name", serde_json::Value::Null),
            ("company", serde_json::Value::Null),
            ("blog", serde_json::json!("")),
            ("location", serde_json::Value::Null),
            ("email", serde_json::Value::Null),
            ("hireable", serde_json::Value::Null),
            ("bio", serde_json::Value::Null),
            ("public_repos", serde_json::json!(1)),
            ("public_gists", serde_json::json!(0)),
            ("followers", serde_json::json!(0)),
            ("following", serde_json::json!(0)),
            ("created_at", serde_json::json!("2020-01-01T00:00:00Z")),
            ("updated_at", serde_json::json!("2026-01-01T00:00:00Z")),
        ] {
            o.insert(k.to_string(), v);
        }
    }
    json_response(StatusCode::OK, &u)
}

/// `GET /repos/{o}/{r}`: any repository exists, named as the path says.
async fn get_repository(Ax(app): Ax<App>, Path((owner, repo)): Path<(String, String)>) -> Response {
    let st = app.lock();
    let body = json::full_repository(
        &st.api_url,
        &format!("{owner}/{repo}"),
        &st.cfg.default_branch,
    );
    json_response(StatusCode::OK, &body)
}

// ---------- workflows ----------

async fn list_workflows(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let q = parse_query(raw.as_deref());
    let full = format!("{owner}/{repo}");
    let all: Vec<Value> = st
        .workflows
        .iter()
        .map(|w| json::workflow(&st.api_url, &full, w))
        .collect();
    let total = all.len();
    let (page, link) = paginate(&st, &uri, &q, all);
    with_link(
        json_response(
            StatusCode::OK,
            &json!({ "total_count": total, "workflows": page }),
        ),
        link,
    )
}

async fn get_workflow(
    Ax(app): Ax<App>,
    Path((owner, repo, wf)): Path<(String, String, String)>,
) -> Response {
    let st = app.lock();
    match st.workflow(&wf) {
        Some(w) => json_response(
            StatusCode::OK,
            &json::workflow(&st.api_url, &format!("{owner}/{repo}"), w),
        ),
        None => gh_not_found(),
    }
}

async fn dispatch(
    Ax(app): Ax<App>,
    Extension(who): Extension<Identity>,
    Path((owner, repo, wf)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    const DOC: &str =
        "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event";
    let mut st = app.lock();
    let Some(wf_id) = st.workflow(&wf).map(|w| w.id) else {
        return gh_not_found();
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return gh_error(StatusCode::BAD_REQUEST, "Problems parsing JSON", DOC);
    };
    if st.cfg.enterprise_mode && body.contains_key("return_run_details") {
        // GHES <= 3.20 validates the body against its older schema, which lacks this key.
        return gh_error(
            StatusCode::BAD_REQUEST,
            "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
            "https://docs.github.com/enterprise-server@3.20/rest/actions/workflows#create-a-workflow-dispatch-event",
        );
    }
    let Some(Value::String(git_ref)) = body.get("ref") else {
        return validation_failed(
            "Invalid request.\n\n\"ref\" wasn't supplied.",
            DOC,
            json!([]),
        );
    };
    let inputs = body.get("inputs").cloned().unwrap_or_else(|| json!({}));
    let Some(map) = inputs.as_object() else {
        return validation_failed(
            "Invalid request.\n\nFor 'properties/inputs', it is not an object.",
            DOC,
            json!([]),
        );
    };
    if map.len() > 25 {
        return validation_failed(
            &format!(
                "Invalid request.\n\nFor 'properties/inputs', {} properties is more than the maximum of 25.",
                map.len()
            ),
            DOC,
            json!([]),
        );
    }
    let size: usize = map
        .iter()
        .map(|(k, v)| {
            k.chars().count()
                + v.as_str()
                    .map_or(v.to_string().len(), |s| s.chars().count())
        })
        .sum();
    if size > 65_535 {
        return validation_failed("inputs are too large.", DOC, json!([]));
    }
    let branch = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(git_ref);
    let repo_full = format!("{owner}/{repo}");
    let run_id = st.create_run(&repo_full, wf_id, branch, inputs.clone(), &who);
    if body.get("return_run_details") == Some(&Value::Bool(true)) {
        let body = json!({
            "workflow_run_id": run_id,
            "run_url": format!("{}/repos/{repo_full}/actions/runs/{run_id}", st.api_url),
            "html_url": format!("https://github.com/{repo_full}/actions/runs/{run_id}"),
        });
        return json_response(StatusCode::OK, &body);
    }
    StatusCode::NO_CONTENT.into_response()
}

// ---------- runs ----------

fn runs_listing(st: &State, uri: &Uri, raw: Option<&str>, keep: impl Fn(&Run) -> bool) -> Response {
    let q = parse_query(raw);
    let now = st.now_ms();
    let lag = st.cfg.list_lag.as_millis() as u64;
    let mut runs: Vec<&Run> = st
        .runs
        .iter()
        .filter(|r| keep(r) && now >= r.created_ms + lag)
        .filter(|r| q.get("event").is_none_or(|e| *e == r.event))
        .filter(|r| q.get("branch").is_none_or(|b| *b == r.head_branch))
        .filter(|r| q.get("head_sha").is_none_or(|s| *s == r.head_sha))
        .filter(|r| {
            // `status` accepts a status or a conclusion.
            q.get("status").is_none_or(|s| {
                let (status, conclusion) = r.status_at(now);
                s == status || conclusion.is_some_and(|c| s == c.as_str())
            })
        })
        .filter(|r| {
            q.get("created")
                .is_none_or(|c| created_matches(c, r.created_ms / 1000))
        })
        .collect();
    // Newest first, as GitHub lists them.
    runs.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
    let total = runs.len();
    let (page, link) = paginate(st, uri, &q, runs);
    let body: Vec<Value> = page.iter().map(|r| json::workflow_run(st, r)).collect();
    with_link(
        json_response(
            StatusCode::OK,
            &json!({ "total_count": total, "workflow_runs": body }),
        ),
        link,
    )
}

async fn list_runs(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    runs_listing(&st, &uri, raw.as_deref(), |r| {
        same_repo(&r.repo, &owner, &repo)
    })
}

async fn list_workflow_runs(
    Ax(app): Ax<App>,
    Path((owner, repo, wf)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let Some(wf_id) = st.workflow(&wf).map(|w| w.id) else {
        return gh_not_found();
    };
    runs_listing(&st, &uri, raw.as_deref(), |r| {
        same_repo(&r.repo, &owner, &repo) && r.workflow_id == wf_id
    })
}

fn find_run<'a>(st: &'a State, owner: &str, repo: &str, id: &str) -> Option<&'a Run> {
    let id: u64 = id.parse().ok()?;
    st.runs
        .iter()
        .find(|r| r.id == id && same_repo(&r.repo, owner, repo))
}

async fn get_run(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let st = app.lock();
    match find_run(&st, &owner, &repo, &id) {
        Some(run) => json_response(StatusCode::OK, &json::workflow_run(&st, run)),
        None => gh_not_found(),
    }
}

async fn cancel_run(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let now = st.now_ms();
    let Some(run_id) = find_run(&st, &owner, &repo, &id).map(|r| r.id) else {
        return gh_not_found();
    };
    let run = st.runs.iter_mut().find(|r| r.id == run_id).expect("run");
    if run.status_at(now).0 == "completed" {
        return gh_error(
            StatusCode::CONFLICT,
            "Cannot cancel a workflow run that is completed.",
            "https://docs.github.com/rest/actions/workflow-runs#cancel-a-workflow-run",
        );
    }
    run.forced_end = Some((super::Conclusion::Cancelled, now));
    json_response(StatusCode::ACCEPTED, &json!({}))
}

/// `POST .../runs/{id}/rerun-failed-jobs`: 201 `{}`. A run that is not completed cannot be
/// re-run: GitHub answers 403 "This workflow is already running" (cli/cli#9221 shows the 403).
async fn rerun_failed_jobs(
    Ax(app): Ax<App>,
    Extension(who): Extension<Identity>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let Some(run_id) = find_run(&st, &owner, &repo, &id).map(|r| r.id) else {
        return gh_not_found();
    };
    match st.rerun_failed_jobs(run_id, &who) {
        Ok(_) => json_response(StatusCode::CREATED, &json!({})),
        Err(message) => gh_error(
            StatusCode::FORBIDDEN,
            message,
            "https://docs.github.com/rest/actions/workflow-runs#re-run-failed-jobs-from-a-workflow-run",
        ),
    }
}

/// `GET .../runs/{id}/attempts/{n}`: the run as it was (or is) in attempt n.
async fn get_run_attempt(
    Ax(app): Ax<App>,
    Path((owner, repo, id, n)): Path<(String, String, String, String)>,
) -> Response {
    let st = app.lock();
    let Some(run) = find_run(&st, &owner, &repo, &id) else {
        return gh_not_found();
    };
    match n.parse::<u32>() {
        Ok(n) if n >= 1 && n <= run.run_attempt => {
            json_response(StatusCode::OK, &json::workflow_run_attempt(&st, run, n))
        }
        _ => gh_not_found(),
    }
}

// ---------- jobs ----------

async fn list_jobs(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let q = parse_query(raw.as_deref());
    let Some(run) = find_run(&st, &owner, &repo, &id) else {
        return gh_not_found();
    };
    // `filter=latest` (the default): per job name its most recent execution; `all`: every
    // execution of every attempt.
    let now = st.now_ms();
    let chosen: Vec<&super::Job> = match q.get("filter").map(String::as_str) {
        Some("all") => run.jobs.iter().collect(),
        _ => run.jobs_of(run.run_attempt),
    };
    let jobs: Vec<Value> = chosen
        .into_iter()
        .filter_map(|j| run.job_view(j, now).map(|v| json::job(&st, run, j, &v)))
        .collect();
    let total = jobs.len();
    let (page, link) = paginate(&st, &uri, &q, jobs);
    with_link(
        json_response(
            StatusCode::OK,
            &json!({ "total_count": total, "jobs": page }),
        ),
        link,
    )
}

async fn get_job(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let st = app.lock();
    let now = st.now_ms();
    let found = id.parse::<u64>().ok().and_then(|id| {
        st.runs
            .iter()
            .filter(|r| same_repo(&r.repo, &owner, &repo))
            .find_map(|r| {
                let job = r.jobs.iter().find(|j| j.id == id)?;
                Some((r, job, r.job_view(job, now)?))
            })
    });
    match found {
        Some((run, job, view)) => json_response(StatusCode::OK, &json::job(&st, run, job, &view)),
        None => gh_not_found(),
    }
}

// ---------- artifacts ----------

/// The artifacts of a run that exist now: (run index, artifact index, created instant).
fn visible_artifacts(st: &State, run_idx: usize) -> Vec<(usize, usize, u64)> {
    let run = &st.runs[run_idx];
    run.artifacts
        .iter()
        .enumerate()
        .filter_map(|(ai, a)| {
            run.artifact_created_ms(a, st.now_ms())
                .map(|t| (run_idx, ai, t))
        })
        .collect()
}

fn artifact_json(st: &mut State, ri: usize, ai: usize, created: u64) -> Value {
    let zip = st.artifact_zip(ri, ai);
    let run = &st.runs[ri];
    json::artifact(st, run, &run.artifacts[ai], created, &zip)
}

async fn list_artifacts(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut st = app.lock();
    let q = parse_query(raw.as_deref());
    let Some(run_idx) =
        find_run(&st, &owner, &repo, &id).and_then(|r| st.runs.iter().position(|x| x.id == r.id))
    else {
        return gh_not_found();
    };
    let mut found = visible_artifacts(&st, run_idx);
    if let Some(name) = q.get("name") {
        found.retain(|&(ri, ai, _)| st.runs[ri].artifacts[ai].name == *name);
    }
    // `direction` defaults to desc (newest first) in GitHub's description.
    let run = &st.runs[run_idx];
    found.sort_by_key(|&(_, ai, t)| (t, run.artifacts[ai].id));
    if q.get("direction").map(String::as_str) != Some("asc") {
        found.reverse();
    }
    let total = found.len();
    let (page, link) = paginate(&st, &uri, &q, found);
    let body: Vec<Value> = page
        .into_iter()
        .map(|(ri, ai, t)| artifact_json(&mut st, ri, ai, t))
        .collect();
    with_link(
        json_response(
            StatusCode::OK,
            &json!({ "total_count": total, "artifacts": body }),
        ),
        link,
    )
}

/// (run index, artifact index, created instant) of an artifact that exists now in this repo.
fn existing_artifact(st: &State, owner: &str, repo: &str, id: &str) -> Option<(usize, usize, u64)> {
    let (ri, ai) = st.find_artifact(id.parse().ok()?)?;
    let run = &st.runs[ri];
    if !same_repo(&run.repo, owner, repo) {
        return None;
    }
    Some((
        ri,
        ai,
        run.artifact_created_ms(&run.artifacts[ai], st.now_ms())?,
    ))
}

async fn get_artifact(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    match existing_artifact(&st, &owner, &repo, &id) {
        Some((ri, ai, t)) => json_response(StatusCode::OK, &artifact_json(&mut st, ri, ai, t)),
        None => gh_not_found(),
    }
}

/// Signature of a storage URL: binds the blob id and expiry to this server's secret.
pub(crate) fn sign(st: &State, id: u64, expires: u64) -> String {
    sha256_hex(format!("{}:{id}:{expires}", st.secret).as_bytes())[..32].to_string()
}

async fn download_artifact(
    Ax(app): Ax<App>,
    Path((owner, repo, id, format)): Path<(String, String, String, String)>,
) -> Response {
    let st = app.lock();
    let Some((ri, ai, _)) = existing_artifact(&st, &owner, &repo, &id).filter(|_| format == "zip")
    else {
        return gh_not_found();
    };
    let (run, artifact) = (&st.runs[ri], &st.runs[ri].artifacts[ai]);
    if st.artifact_expired(run, artifact) {
        return gh_error(
            StatusCode::GONE,
            "Artifact has expired",
            "https://docs.github.com/rest/actions/artifacts#download-an-artifact",
        );
    }
    // The URL expires after `url_ttl` of SIMULATED time, so tests can expire it with advance().
    let expires = st.now() + st.cfg.url_ttl.as_secs();
    let location = format!(
        "{}/blob/{}?se={expires}&sp=r&sig={}",
        st.storage_url,
        artifact.id,
        sign(&st, artifact.id, expires)
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

// ---------- issue comments ----------

fn check_body(body: &Bytes, doc: &str) -> Result<String, Box<Response>> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(Box::new(gh_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            doc,
        )));
    };
    let Some(Value::String(text)) = map.get("body") else {
        return Err(Box::new(validation_failed(
            "Invalid request.\n\n\"body\" wasn't supplied.",
            doc,
            json!([]),
        )));
    };
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(Box::new(validation_failed(
            "Validation Failed",
            doc,
            json!([{
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": format!("body is too long (maximum is {MAX_COMMENT_CHARS} characters)"),
            }]),
        )));
    }
    Ok(text.clone())
}

async fn list_comments(
    Ax(app): Ax<App>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let Ok(number) = number.parse::<u64>() else {
        return gh_not_found();
    };
    let q = parse_query(raw.as_deref());
    let since = q
        .get("since")
        .and_then(|s| parse_iso8601(s))
        .map(|(t, _)| t * 1000);
    // Oldest first, as GitHub lists issue comments.
    let mut comments: Vec<&Comment> = st
        .comments
        .iter()
        .filter(|c| c.issue == number && same_repo(&c.repo, &owner, &repo))
        .filter(|c| since.is_none_or(|s| c.updated_ms >= s))
        .collect();
    comments.sort_by_key(|c| (c.created_ms, c.id));
    let (page, link) = paginate(&st, &uri, &q, comments);
    let body: Vec<Value> = page.iter().map(|c| json::issue_comment(&st, c)).collect();
    with_link(json_response(StatusCode::OK, &Value::Array(body)), link)
}

async fn create_comment(
    Ax(app): Ax<App>,
    Extension(who): Extension<Identity>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/issues/comments#create-an-issue-comment";
    let Ok(number) = number.parse::<u64>() else {
        return gh_not_found();
    };
    let text = match check_body(&body, doc) {
        Ok(t) => t,
        Err(resp) => return *resp,
    };
    let mut st = app.lock();
    let id = st.create_comment(
        &format!("{owner}/{repo}"),
        number,
        &who.login,
        who.kind,
        &who.association,
        &text,
    );
    let comment = st.comments.iter().find(|c| c.id == id).expect("comment");
    let body = json::issue_comment(&st, comment);
    let mut resp = json_response(StatusCode::CREATED, &body);
    let location = body["url"].as_str().unwrap_or_default().to_string();
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("location"),
    );
    resp
}

fn find_comment_idx(st: &State, owner: &str, repo: &str, id: &str) -> Option<usize> {
    let id: u64 = id.parse().ok()?;
    st.comments
        .iter()
        .position(|c| c.id == id && same_repo(&c.repo, owner, repo))
}

async fn get_comment(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let st = app.lock();
    match find_comment_idx(&st, &owner, &repo, &id) {
        Some(i) => json_response(StatusCode::OK, &json::issue_comment(&st, &st.comments[i])),
        None => gh_not_found(),
    }
}

async fn update_comment(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/issues/comments#update-an-issue-comment";
    let mut st = app.lock();
    let Some(i) = find_comment_idx(&st, &owner, &repo, &id) else {
        return gh_not_found();
    };
    let text = match check_body(&body, doc) {
        Ok(t) => t,
        Err(resp) => return *resp,
    };
    let now = st.now_ms();
    let comment = &mut st.comments[i];
    comment.body = text;
    comment.updated_ms = now;
    json_response(StatusCode::OK, &json::issue_comment(&st, &st.comments[i]))
}

/// `DELETE .../issues/comments/{id}`: 204 with no body.
async fn delete_comment(
    Ax(app): Ax<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let Some(i) = find_comment_idx(&st, &owner, &repo, &id) else {
        return gh_not_found();
    };
    st.comments.remove(i);
    StatusCode::NO_CONTENT.into_response()
}

// ---------- storage host ----------

/// Azure Blob Storage's error body, which is what GitHub's artifact storage answers with.
fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    let xml = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}\nRequestId:00000000-0000-0000-0000-000000000000\nTime:2026-01-01T00:00:00.0000000Z</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

/// A release asset, as `https://github.com/OWNER/REPO/releases/download/TAG/NAME` serves it
/// (anonymous, the bytes as attached; GitHub's redirect to its object store is left out).
async fn release_asset(
    Ax(app): Ax<App>,
    Path((owner, repo, tag, name)): Path<(String, String, String, String)>,
) -> Response {
    let path = format!("{owner}/{repo}/releases/download/{tag}/{name}");
    let st = app.lock();
    match st.release_assets.iter().find(|(p, _)| *p == path) {
        Some((_, bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

async fn storage_not_found() -> Response {
    azure_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The specified resource does not exist.",
    )
}

async fn storage_blob(
    Ax(app): Ax<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    // A client that forwards its GitHub token to the storage host is refused, as the real one is.
    if headers.contains_key(header::AUTHORIZATION) {
        return azure_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthenticationInfo",
            "Authentication information is not given in the correct format. Check the value of Authorization header.",
        );
    }
    let mut st = app.lock();
    let q = parse_query(raw.as_deref());
    let id: Option<u64> = id.parse().ok();
    let expires: Option<u64> = q.get("se").and_then(|s| s.parse().ok());
    let (Some(id), Some(expires), Some(sig)) = (id, expires, q.get("sig")) else {
        return azure_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request.",
        );
    };
    if *sig != sign(&st, id, expires) {
        return azure_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Signature did not match.",
        );
    }
    if st.now() > expires {
        return azure_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Signed expiry time has passed.",
        );
    }
    let Some((ri, ai)) = st.find_artifact(id) else {
        return azure_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    let zip = st.artifact_zip(ri, ai);
    let bytes = Bytes::from(zip.as_ref().clone());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, bytes.len().to_string()),
            (
                header::HeaderName::from_static("x-ms-blob-type"),
                "BlockBlob".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}
