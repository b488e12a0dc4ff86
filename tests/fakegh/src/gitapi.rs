//! Git Data API, contents and pull requests over the per-repository git store (`git.rs`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::App;
use super::git::{Commit, Flat, GitStore};
use super::json;
use super::routes::{
    gh_error, gh_not_found, json_response, paginate, parse_query, validation_failed, with_link,
};
use super::state::{Identity, Pull, State};
use super::util::{base64_decode, base64_encode, iso8601};

const WEB: &str = "https://github.com";

pub(crate) fn router(prefix: &str) -> Router<App> {
    let p = |path: &str| format!("{prefix}/repos/{{owner}}/{{repo}}{path}");
    Router::new()
        .route(&p("/git/ref/{*name}"), get(get_ref))
        .route(&p("/git/matching-refs/{*name}"), get(matching_refs))
        .route(&p("/git/refs"), post(create_ref))
        .route(&p("/git/refs/{*name}"), axum::routing::patch(update_ref))
        .route(&p("/git/commits"), post(create_commit))
        .route(&p("/git/commits/{sha}"), get(get_commit))
        .route(&p("/git/trees"), post(create_tree))
        .route(&p("/git/trees/{sha}"), get(get_tree))
        .route(&p("/git/blobs"), post(create_blob))
        .route(&p("/git/blobs/{sha}"), get(get_blob))
        .route(&p("/contents/{*path}"), get(get_contents))
        .route(&p("/pulls"), get(list_pulls).post(create_pull))
        .route(&p("/pulls/{number}"), get(get_pull).patch(update_pull))
        .route(&p("/pulls/{number}/merge"), axum::routing::put(merge_pull))
}

fn ts(ms: u64) -> String {
    iso8601(ms / 1000)
}

/// The request body as a JSON object, or GitHub's 400.
fn body_object(body: &Bytes, doc: &str) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Box::new(gh_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            doc,
        ))),
    }
}

fn invalid(message: &str, doc: &str) -> Response {
    validation_failed(message, doc, json!([]))
}

fn created(body: Value, location: Option<&str>) -> Response {
    let mut resp = json_response(StatusCode::CREATED, &body);
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

// ---------- JSON shapes ----------

fn repo_url(st: &State, repo: &str) -> String {
    format!("{}/repos/{repo}", st.api_url)
}

/// `git-ref`.
fn ref_json(st: &State, repo: &str, name: &str, sha: &str) -> Value {
    let r = repo_url(st, repo);
    json!({
        "ref": name,
        "node_id": format!("REF_{}", &sha[..12]),
        "url": format!("{r}/git/{name}"),
        "object": { "type": "commit", "sha": sha, "url": format!("{r}/git/commits/{sha}") },
    })
}

/// `git-commit`.
fn commit_json(st: &State, repo: &str, sha: &str, c: &Commit) -> Value {
    let r = repo_url(st, repo);
    let person = json!({ "name": c.author.0, "email": c.author.1, "date": ts(c.date_ms) });
    json!({
        "sha": sha,
        "node_id": format!("C_{}", &sha[..12]),
        "url": format!("{r}/git/commits/{sha}"),
        "html_url": format!("{WEB}/{repo}/commit/{sha}"),
        "author": person,
        "committer": person,
        "tree": { "sha": c.tree, "url": format!("{r}/git/trees/{}", c.tree) },
        "message": c.message,
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{r}/git/commits/{p}"),
            "html_url": format!("{WEB}/{repo}/commit/{p}"),
        })).collect::<Vec<_>>(),
        "verification": {
            "verified": false, "reason": "unsigned", "signature": null, "payload": null,
            "verified_at": null,
        },
    })
}

/// `git-tree`: the entries of a flat tree in GitHub's nested form (directories as `tree`
/// entries), or every blob and directory with `recursive`.
fn tree_json(
    st: &State,
    g: &GitStore,
    repo: &str,
    sha: &str,
    flat: &Flat,
    recursive: bool,
) -> Value {
    let r = repo_url(st, repo);
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for (path, blob) in flat {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            dirs.push(parts[..i].join("/"));
        }
        if recursive || parts.len() == 1 {
            let size = g.blobs.get(blob).map_or(0, Vec::len);
            entries.push((
                path.clone(),
                json!({
                    "path": path, "mode": "100644", "type": "blob", "sha": blob, "size": size,
                    "url": format!("{r}/git/blobs/{blob}"),
                }),
            ));
        }
    }
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        if !recursive && dir.contains('/') {
            continue;
        }
        let prefix = format!("{dir}/");
        let sub: Flat = flat
            .iter()
            .filter_map(|(p, s)| Some((p.strip_prefix(&prefix)?.to_string(), s.clone())))
            .collect();
        let sub_sha = g
            .trees
            .iter()
            .find(|(_, t)| **t == sub)
            .map_or_else(String::new, |(s, _)| s.clone());
        entries.push((
            dir.clone(),
            json!({
                "path": dir, "mode": "040000", "type": "tree", "sha": sub_sha,
                "url": format!("{r}/git/trees/{sub_sha}"),
            }),
        ));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "sha": sha,
        "url": format!("{r}/git/trees/{sha}"),
        "tree": entries.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "truncated": false,
    })
}

/// `pull-request`.
fn pull_json(st: &State, p: &Pull) -> Value {
    let api = st.api_url.as_str();
    let r = repo_url(st, &p.repo);
    let owner = p.repo.split('/').next().unwrap_or_default();
    let repo = json::full_repository(api, &p.repo, &st.cfg.default_branch);
    let head_sha = if p.state == "open" {
        st.branch_head(&p.repo, &p.head)
            .unwrap_or_else(|| p.head_sha.clone())
    } else {
        p.head_sha.clone()
    };
    let side = |branch: &str, sha: &str| {
        json!({
            "label": format!("{owner}:{branch}"),
            "ref": branch,
            "sha": sha,
            "user": json::simple_user(api, owner),
            "repo": repo,
        })
    };
    // Worked out on every read, as GitHub does in the background after a push.
    let mergeable = (p.state == "open").then(|| st.pull_mergeable(&p.repo, p.number).is_ok());
    let url = format!("{r}/pulls/{}", p.number);
    let issue = format!("{r}/issues/{}", p.number);
    let html = format!("{WEB}/{}/pull/{}", p.repo, p.number);
    let link = |h: &str| json!({ "href": h });
    // Two halves: one json! this large exceeds the macro recursion limit.
    let mut v = json!({
        "url": url,
        "id": 9_000_000 + p.number,
        "node_id": format!("PR_{}", p.number),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{r}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue}/comments"),
        "statuses_url": format!("{r}/statuses/{head_sha}"),
        "number": p.number,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": json::simple_user_as(api, &p.user_login, p.user_kind),
        "body": p.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": ts(p.created_ms),
        "updated_at": ts(p.updated_ms),
        "closed_at": p.closed_ms.map(ts),
        "merged_at": p.merge_sha.as_ref().and(p.closed_ms).map(ts),
        "merge_commit_sha": p.merge_sha,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
    });
    let rest = json!({
        "head": side(&p.head, &head_sha),
        "base": side(&p.base, &p.base_sha),
        "_links": {
            "self": link(&url), "html": link(&html), "issue": link(&issue),
            "comments": link(&format!("{issue}/comments")),
            "review_comments": link(&format!("{url}/comments")),
            "review_comment": link(&format!("{r}/pulls/comments{{/number}}")),
            "commits": link(&format!("{url}/commits")),
            "statuses": link(&format!("{r}/statuses/{head_sha}")),
        },
        "author_association": p.association,
        "auto_merge": null,
        "draft": p.draft,
        "merged": p.merge_sha.is_some(),
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": match mergeable {
            Some(true) => "clean",
            Some(false) => "dirty",
            None => "unknown",
        },
        "merged_by": null,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    });
    if let (Some(a), Value::Object(b)) = (v.as_object_mut(), rest) {
        a.extend(b);
    }
    v
}

// ---------- refs ----------

async fn get_ref(
    Ax(app): Ax<App>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let name = format!("refs/{}", name.trim_start_matches('/'));
    match st.git_mut(&full).refs.get(&name).cloned() {
        Some(sha) => json_response(StatusCode::OK, &ref_json(&st, &full, &name, &sha)),
        None => gh_not_found(),
    }
}

/// `GET …/git/matching-refs/{ref}`: every ref that starts with `refs/{ref}` (a plain array).
async fn matching_refs(
    Ax(app): Ax<App>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let prefix = format!("refs/{}", name.trim_start_matches('/'));
    let found: Vec<(String, String)> = st
        .git_mut(&full)
        .refs
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body: Vec<Value> = found
        .iter()
        .map(|(k, v)| ref_json(&st, &full, k, v))
        .collect();
    json_response(StatusCode::OK, &Value::Array(body))
}

async fn create_ref(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/git/refs#create-a-reference";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (Some(Value::String(name)), Some(Value::String(sha))) = (b.get("ref"), b.get("sha")) else {
        return invalid(
            "Invalid request.\n\n\"ref\", \"sha\" weren't supplied.",
            doc,
        );
    };
    if !name.starts_with("refs/") || name.matches('/').count() < 2 {
        return invalid(
            "Reference name must start with 'refs/' and have at least two slashes.",
            doc,
        );
    }
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let g = st.git_mut(&full);
    if g.refs.contains_key(name) {
        return invalid("Reference already exists", doc);
    }
    if !g.commits.contains_key(sha) {
        return invalid("Object does not exist", doc);
    }
    g.refs.insert(name.clone(), sha.clone());
    let body = ref_json(&st, &full, name, sha);
    let loc = body["url"].as_str().map(str::to_string);
    created(body, loc.as_deref())
}

async fn update_ref(
    Ax(app): Ax<App>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/git/refs#update-a-reference";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(Value::String(sha)) = b.get("sha") else {
        return invalid("Invalid request.\n\n\"sha\" wasn't supplied.", doc);
    };
    let force = b.get("force").and_then(Value::as_bool).unwrap_or(false);
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let name = format!("refs/{}", name.trim_start_matches('/'));
    let g = st.git_mut(&full);
    let Some(current) = g.refs.get(&name).cloned() else {
        return invalid("Reference does not exist", doc);
    };
    if !g.commits.contains_key(sha) {
        return invalid("Object does not exist", doc);
    }
    if !force && !g.descends_from(sha, &current) {
        return invalid("Update is not a fast forward", doc);
    }
    g.refs.insert(name.clone(), sha.clone());
    json_response(StatusCode::OK, &ref_json(&st, &full, &name, sha))
}

// ---------- commits, trees, blobs ----------

async fn create_commit(
    Ax(app): Ax<App>,
    Extension(who): Extension<Identity>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/git/commits#create-a-commit";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (Some(Value::String(message)), Some(Value::String(tree))) =
        (b.get("message"), b.get("tree"))
    else {
        return invalid(
            "Invalid request.\n\n\"message\", \"tree\" weren't supplied.",
            doc,
        );
    };
    let parents: Vec<String> = match b.get("parents") {
        None => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return invalid(
                "Invalid request.\n\nFor 'properties/parents', it is not an array of strings.",
                doc,
            );
        }
    };
    let author = b
        .get("author")
        .and_then(|a| {
            Some((
                a.get("name")?.as_str()?.to_string(),
                a.get("email")?.as_str()?.to_string(),
            ))
        })
        .unwrap_or_else(|| {
            (
                who.login.clone(),
                format!("{}@users.noreply.github.com", who.login),
            )
        });
    let mut st = app.lock();
    let now = st.now_ms();
    let full = format!("{owner}/{repo}");
    let g = st.git_mut(&full);
    if !g.trees.contains_key(tree) {
        return invalid("Tree SHA does not exist", doc);
    }
    if parents.iter().any(|p| !g.commits.contains_key(p)) {
        return invalid("Parent SHA does not exist or is not a commit object", doc);
    }
    let commit = Commit {
        tree: tree.clone(),
        parents,
        message: message.clone(),
        author,
        date_ms: now,
    };
    let sha = g.put_commit(commit.clone());
    let body = commit_json(&st, &full, &sha, &commit);
    let loc = body["url"].as_str().map(str::to_string);
    created(body, loc.as_deref())
}

async fn get_commit(
    Ax(app): Ax<App>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    match st.git_mut(&full).commits.get(&sha).cloned() {
        Some(c) => json_response(StatusCode::OK, &commit_json(&st, &full, &sha, &c)),
        None => gh_not_found(),
    }
}

async fn create_tree(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/git/trees#create-a-tree";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(Value::Array(entries)) = b.get("tree") else {
        return invalid("Invalid request.\n\n\"tree\" wasn't supplied.", doc);
    };
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let g = st.git_mut(&full);
    let mut flat: Flat = match b.get("base_tree") {
        None | Some(Value::Null) => Flat::new(),
        Some(Value::String(base)) => match g.trees.get(base) {
            Some(t) => t.clone(),
            None => return invalid("base_tree is not a valid tree oid", doc),
        },
        Some(_) => {
            return invalid(
                "Invalid request.\n\nFor 'properties/base_tree', it is not a string.",
                doc,
            );
        }
    };
    for e in entries {
        let Some(path) = e.get("path").and_then(Value::as_str) else {
            return invalid("Invalid request.\n\n\"path\" wasn't supplied.", doc);
        };
        let path = path.trim_matches('/').to_string();
        let kind = e.get("type").and_then(Value::as_str).unwrap_or("blob");
        // `sha: null` deletes the path (a file, or everything under a directory).
        if e.get("sha") == Some(&Value::Null) && e.get("content").is_none() {
            let prefix = format!("{path}/");
            flat.retain(|p, _| *p != path && !p.starts_with(&prefix));
            continue;
        }
        if let Some(content) = e.get("content").and_then(Value::as_str) {
            let sha = g.put_blob(content.as_bytes().to_vec());
            flat.insert(path, sha);
        } else if let Some(sha) = e.get("sha").and_then(Value::as_str) {
            if kind == "tree" {
                let Some(sub) = g.trees.get(sha).cloned() else {
                    return invalid(&format!("tree.sha {sha} is not a valid tree"), doc);
                };
                let prefix = format!("{path}/");
                flat.retain(|p, _| !p.starts_with(&prefix));
                flat.extend(sub.into_iter().map(|(p, s)| (format!("{prefix}{p}"), s)));
            } else if g.blobs.contains_key(sha) {
                flat.insert(path, sha.to_string());
            } else {
                return invalid(&format!("tree.sha {sha} is not a valid blob"), doc);
            }
        } else {
            return invalid("Must supply either tree.sha or tree.content", doc);
        }
    }
    let sha = g.put_tree(flat.clone());
    let g = st.git_of(&full).expect("git store");
    let body = tree_json(&st, g, &full, &sha, &flat, false);
    let loc = body["url"].as_str().map(str::to_string);
    created(body, loc.as_deref())
}

async fn get_tree(
    Ax(app): Ax<App>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = parse_query(raw.as_deref());
    // GitHub treats any value of `recursive` as true ("0" and "false" included).
    let recursive = q.contains_key("recursive");
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    // A commit sha or branch name also names its tree.
    let g = st.git_mut(&full);
    let tree_sha = if g.trees.contains_key(&sha) {
        Some(sha.clone())
    } else {
        g.resolve(&sha)
            .and_then(|c| g.commits.get(&c).map(|c| c.tree.clone()))
    };
    let g = st.git_of(&full).expect("git store");
    match tree_sha.and_then(|t| Some((g.trees.get(&t)?, t))) {
        Some((flat, t)) => json_response(
            StatusCode::OK,
            &tree_json(&st, g, &full, &t, flat, recursive),
        ),
        None => gh_not_found(),
    }
}

async fn create_blob(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/git/blobs#create-a-blob";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(Value::String(content)) = b.get("content") else {
        return invalid("Invalid request.\n\n\"content\" wasn't supplied.", doc);
    };
    let bytes = match b.get("encoding").and_then(Value::as_str).unwrap_or("utf-8") {
        "utf-8" | "utf8" => content.as_bytes().to_vec(),
        "base64" => match base64_decode(content) {
            Some(b) => b,
            None => return invalid("Invalid Base64 content", doc),
        },
        other => return invalid(&format!("encoding {other} is not supported"), doc),
    };
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let sha = st.git_mut(&full).put_blob(bytes);
    let url = format!("{}/git/blobs/{sha}", repo_url(&st, &full));
    created(json!({ "url": url, "sha": sha }), Some(&url))
}

async fn get_blob(
    Ax(app): Ax<App>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response {
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let Some(bytes) = st.git_mut(&full).blobs.get(&sha).cloned() else {
        return gh_not_found();
    };
    let body = json!({
        "sha": sha,
        "node_id": format!("B_{}", &sha[..12.min(sha.len())]),
        "size": bytes.len(),
        "url": format!("{}/git/blobs/{sha}", repo_url(&st, &full)),
        "content": wrap60(&base64_encode(&bytes)),
        "encoding": "base64",
    });
    json_response(StatusCode::OK, &body)
}

/// GitHub wraps base64 `content` at 60 columns, each line ending in "\n".
fn wrap60(b64: &str) -> String {
    b64.as_bytes()
        .chunks(60)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect()
}

// ---------- contents ----------

/// `GET /contents/{path}?ref=`: a file as `content-file` JSON, or its raw bytes when the client
/// asks for `application/vnd.github.raw` (`.raw` or `.raw+json`). Directories are not modelled.
async fn get_contents(
    Ax(app): Ax<App>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = parse_query(raw.as_deref());
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let git_ref = q
        .get("ref")
        .cloned()
        .unwrap_or_else(|| st.cfg.default_branch.clone());
    let path = path.trim_matches('/').to_string();
    let g = st.git_mut(&full);
    let Some(blob) = g
        .resolve(&git_ref)
        .and_then(|c| g.flat_of_commit(&c)?.get(&path).cloned())
    else {
        return gh_not_found();
    };
    let bytes = g.blobs.get(&blob).cloned().unwrap_or_default();
    // Any Accept value (a client may send several) asking for the raw media type wins.
    let raw = headers.get_all(header::ACCEPT).iter().any(|v| {
        let v = v.to_str().unwrap_or("");
        v.contains("application/vnd.github.raw") || v.contains("application/vnd.github.v3.raw")
    });
    if raw {
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/vnd.github.raw; charset=utf-8",
            )],
            bytes,
        )
            .into_response();
    }
    let r = repo_url(&st, &full);
    let self_url = format!("{r}/contents/{path}?ref={git_ref}");
    let git_url = format!("{r}/git/blobs/{blob}");
    let html = format!("{WEB}/{full}/blob/{git_ref}/{path}");
    let body = json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": path.rsplit('/').next().unwrap_or(&path),
        "path": path,
        "content": wrap60(&base64_encode(&bytes)),
        "sha": blob,
        "url": self_url,
        "git_url": git_url,
        "html_url": html,
        "download_url": format!("https://raw.githubusercontent.com/{full}/{git_ref}/{path}"),
        "_links": { "self": self_url, "git": git_url, "html": html },
    });
    json_response(StatusCode::OK, &body)
}

// ---------- pull requests ----------

/// `head` may be `branch` or `owner:branch`.
fn branch_of(head: &str) -> &str {
    head.split_once(':').map_or(head, |(_, b)| b)
}

async fn create_pull(
    Ax(app): Ax<App>,
    Extension(who): Extension<Identity>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = app.lock();
    // The repository setting "Allow GitHub Actions to create and approve pull requests".
    if who.installation && !st.cfg.actions_can_create_prs {
        return gh_error(
            StatusCode::FORBIDDEN,
            "GitHub Actions is not permitted to create or approve pull requests.",
            doc,
        );
    }
    let (Some(Value::String(head)), Some(Value::String(base))) = (b.get("head"), b.get("base"))
    else {
        return invalid(
            "Invalid request.\n\n\"head\", \"base\" weren't supplied.",
            doc,
        );
    };
    let Some(Value::String(title)) = b.get("title") else {
        return invalid("Invalid request.\n\n\"title\" wasn't supplied.", doc);
    };
    let full = format!("{owner}/{repo}");
    let (head, base) = (branch_of(head).to_string(), base.clone());
    st.git_mut(&full);
    let field_invalid = |field: &str| {
        validation_failed(
            "Validation Failed",
            doc,
            json!([{ "resource": "PullRequest", "field": field, "code": "invalid" }]),
        )
    };
    let Some(head_sha) = st.branch_head(&full, &head) else {
        return field_invalid("head");
    };
    let Some(base_sha) = st.branch_head(&full, &base) else {
        return field_invalid("base");
    };
    let custom = |message: String| {
        validation_failed(
            "Validation Failed",
            doc,
            json!([{ "resource": "PullRequest", "code": "custom", "message": message }]),
        )
    };
    if st
        .pulls_of(&full)
        .iter()
        .any(|p| p.state == "open" && p.head == head && p.base == base)
    {
        return custom(format!("A pull request already exists for {owner}:{head}."));
    }
    if head_sha == base_sha
        || st
            .git_of(&full)
            .is_some_and(|g| g.descends_from(&base_sha, &head_sha))
    {
        return custom(format!("No commits between {base} and {head}"));
    }
    let now = st.now_ms();
    // Issues and pull requests share one number sequence; comments name arbitrary issues, so
    // pull numbers simply count the repository's pulls.
    let number = st.pulls_of(&full).len() as u64 + 1;
    st.pulls.push(Pull {
        number,
        repo: full.clone(),
        title: title.clone(),
        body: b.get("body").and_then(Value::as_str).map(str::to_string),
        head,
        base,
        head_sha,
        base_sha,
        state: "open".into(),
        draft: b.get("draft").and_then(Value::as_bool).unwrap_or(false),
        user_login: who.login.clone(),
        user_kind: who.kind,
        association: who.association.clone(),
        created_ms: now,
        updated_ms: now,
        closed_ms: None,
        merge_sha: None,
    });
    let body = pull_json(&st, st.pulls.last().expect("pull"));
    let loc = body["url"].as_str().map(str::to_string);
    created(body, loc.as_deref())
}

async fn list_pulls(
    Ax(app): Ax<App>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let q = parse_query(raw.as_deref());
    let full = format!("{owner}/{repo}");
    let state = q.get("state").map_or("open", String::as_str);
    let mut pulls: Vec<&Pull> = st
        .pulls_of(&full)
        .into_iter()
        .filter(|p| state == "all" || p.state == state)
        // `head` must be `owner:branch` on GitHub; a bare branch is taken as this owner's.
        .filter(|p| q.get("head").is_none_or(|h| branch_of(h) == p.head))
        .filter(|p| q.get("base").is_none_or(|b| *b == p.base))
        .collect();
    // Default sort: created, descending (newest first).
    pulls.sort_by(|a, b| {
        b.created_ms
            .cmp(&a.created_ms)
            .then(b.number.cmp(&a.number))
    });
    if q.get("direction").map(String::as_str) == Some("asc") {
        pulls.reverse();
    }
    let (page, link) = paginate(&st, &uri, &q, pulls);
    let body: Vec<Value> = page.iter().map(|p| pull_json(&st, p)).collect();
    with_link(json_response(StatusCode::OK, &Value::Array(body)), link)
}

fn find_pull(st: &State, full: &str, number: &str) -> Option<usize> {
    let n: u64 = number.parse().ok()?;
    st.pulls
        .iter()
        .position(|p| p.number == n && p.repo.eq_ignore_ascii_case(full))
}

async fn get_pull(
    Ax(app): Ax<App>,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Response {
    let st = app.lock();
    match find_pull(&st, &format!("{owner}/{repo}"), &number) {
        Some(i) => json_response(StatusCode::OK, &pull_json(&st, &st.pulls[i])),
        None => gh_not_found(),
    }
}

async fn update_pull(
    Ax(app): Ax<App>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let doc = "https://docs.github.com/rest/pulls/pulls#update-a-pull-request";
    let b = match body_object(&body, doc) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let Some(i) = find_pull(&st, &full, &number) else {
        return gh_not_found();
    };
    let now = st.now_ms();
    let head_now = st.branch_head(&full, &st.pulls[i].head.clone());
    let p = &mut st.pulls[i];
    match b.get("state").and_then(Value::as_str) {
        None => {}
        Some("closed") if p.state == "open" => {
            // A closed PR keeps the head it had.
            if let Some(sha) = head_now {
                p.head_sha = sha;
            }
            p.state = "closed".into();
            p.closed_ms = Some(now);
        }
        Some("open") if p.state == "closed" => {
            p.state = "open".into();
            p.closed_ms = None;
        }
        Some("open" | "closed") => {}
        Some(_) => {
            return validation_failed(
                "Validation Failed",
                doc,
                json!([{ "resource": "PullRequest", "field": "state", "code": "invalid" }]),
            );
        }
    }
    if let Some(t) = b.get("title").and_then(Value::as_str) {
        p.title = t.to_string();
    }
    if let Some(body) = b.get("body") {
        p.body = body.as_str().map(str::to_string);
    }
    p.updated_ms = now;
    json_response(StatusCode::OK, &pull_json(&st, &st.pulls[i]))
}

/// `PUT /pulls/{number}/merge`: a merge commit, as the "Merge pull request" button makes.
async fn merge_pull(
    Ax(app): Ax<App>,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Response {
    let doc = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request";
    let mut st = app.lock();
    let full = format!("{owner}/{repo}");
    let Some(i) = find_pull(&st, &full, &number) else {
        return gh_not_found();
    };
    let n = st.pulls[i].number;
    match st.merge_pull(&full, n) {
        Ok(sha) => json_response(
            StatusCode::OK,
            &json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }),
        ),
        Err(m) => gh_error(StatusCode::METHOD_NOT_ALLOWED, &m, doc),
    }
}
