//! Response bodies, shaped after GitHub's OpenAPI description (`@octokit/openapi`,
//! `generated/api.github.com.json`): every field the schema lists as required is present with its
//! type, and optional fields that GitHub really sends are filled the way `components.examples`
//! shows them. URLs a client follows (`url`, `jobs_url`, `archive_download_url`, ...) point at the
//! fake; `html_url`s point at github.com as they would for real.

use serde_json::{Value, json};

use super::state::{Artifact, Comment, IdentityKind, Job, JobView, Run, State, Workflow};
use super::util::{iso8601, sha256, sha256_hex};

const WEB: &str = "https://github.com";

fn ts(ms: u64) -> String {
    iso8601(ms / 1000)
}

/// A stable positive id derived from a name (repositories and users have no registration step).
fn id_of(name: &str) -> u64 {
    let h = sha256(name.as_bytes());
    1_000_000 + u64::from_be_bytes([0, 0, 0, 0, h[0], h[1], h[2], h[3]]) % 900_000_000
}

/// GitHub node ids are opaque base64-ish strings; a prefix plus the id is just as opaque.
fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDO{id:X}")
}

/// `simple-user` (all 18 required fields); a `…[bot]` login is a Bot.
pub fn simple_user(api: &str, login: &str) -> Value {
    simple_user_as(api, login, IdentityKind::of_login(login))
}

/// `simple-user` of a given kind.
pub fn simple_user_as(api: &str, login: &str, kind: IdentityKind) -> Value {
    let id = id_of(&format!("user:{login}"));
    let u = format!("{api}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id("U", id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{WEB}/{login}"),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind.as_str(),
        "user_view_type": "public",
        "site_admin": false
    })
}

/// `minimal-repository` (its 46 required fields) for `owner/repo`.
pub fn minimal_repository(api: &str, full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let id = id_of(&format!("repo:{full_name}"));
    let r = format!("{api}/repos/{full_name}");
    let mut v = json!({
        "id": id,
        "node_id": node_id("R", id),
        "name": name,
        "full_name": full_name,
        "owner": simple_user(api, owner),
        "private": false,
        "html_url": format!("{WEB}/{full_name}"),
        "description": null,
        "fork": false,
        "url": r,
    });
    let templated = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    let obj = v.as_object_mut().expect("object");
    for (key, tail) in templated {
        obj.insert(key.into(), Value::String(format!("{r}{tail}")));
    }
    obj.insert(
        "git_url".into(),
        format!("git://github.com/{full_name}.git").into(),
    );
    obj.insert(
        "ssh_url".into(),
        format!("git@github.com:{full_name}.git").into(),
    );
    obj.insert("clone_url".into(), format!("{WEB}/{full_name}.git").into());
    v
}

/// `full-repository`, filled as its `full-repository-default-response` example is, with the
/// organization/parent/source/template parts left out (a plain, non-fork user repository).
pub fn full_repository(api: &str, full_name: &str, default_branch: &str) -> Value {
    let mut v = minimal_repository(api, full_name);
    let obj = v.as_object_mut().expect("object");
    let extra = json!({
        "svn_url": format!("{WEB}/{full_name}"),
        "homepage": null,
        "mirror_url": null,
        "language": null,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 108,
        "default_branch": default_branch,
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": true,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": false,
        "disabled": false,
        "visibility": "public",
        "pushed_at": "2026-01-01T00:00:00Z",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": { "admin": true, "maintain": true, "push": true, "triage": true, "pull": true },
        "allow_rebase_merge": true,
        "allow_squash_merge": true,
        "allow_auto_merge": false,
        "delete_branch_on_merge": false,
        "allow_merge_commit": true,
        "allow_forking": true,
        "subscribers_count": 1,
        "network_count": 0,
        "license": null,
    });
    for (k, x) in extra.as_object().expect("object") {
        obj.insert(k.clone(), x.clone());
    }
    v
}

pub fn workflow(api: &str, repo: &str, wf: &Workflow) -> Value {
    json!({
        "id": wf.id,
        "node_id": node_id("W", wf.id),
        "name": wf.name,
        "path": format!(".github/workflows/{}", wf.file_name),
        "state": "active",
        "created_at": ts(wf.created_at_ms),
        "updated_at": ts(wf.created_at_ms),
        "url": format!("{api}/repos/{repo}/actions/workflows/{}", wf.id),
        "html_url": format!("{WEB}/{repo}/blob/main/.github/workflows/{}", wf.file_name),
        "badge_url": format!("{WEB}/{repo}/workflows/{}/badge.svg", wf.name.replace(' ', "%20")),
    })
}

/// `workflow-run` as it looks at simulated time `now`.
pub fn workflow_run(st: &State, run: &Run) -> Value {
    workflow_run_attempt(st, run, run.run_attempt)
}

/// `workflow-run` as of attempt `n` (<= the latest), at simulated time `now`.
pub fn workflow_run_attempt(st: &State, run: &Run, n: u32) -> Value {
    let (api, now) = (st.api_url.as_str(), st.now_ms());
    let (status, conclusion) = run.status_of(n, now);
    let attempt = &run.attempts[n as usize - 1];
    // An earlier attempt stopped changing when the next one started.
    let updated = match run.attempts.get(n as usize) {
        Some(next) => run.updated_ms(next.started_ms.saturating_sub(1).min(now)),
        None => run.updated_ms(now),
    };
    let wf = st
        .workflows
        .iter()
        .find(|w| w.id == run.workflow_id)
        .expect("workflow");
    let r = format!("{api}/repos/{}/actions/runs/{}", run.repo, run.id);
    let actor = simple_user_as(api, &run.actor, run.actor_kind);
    let triggering = simple_user_as(api, &attempt.triggering_actor, attempt.triggering_kind);
    let repo = minimal_repository(api, &run.repo);
    json!({
        "id": run.id,
        "name": run.name,
        "node_id": node_id("WFR", run.id),
        "check_suite_id": run.check_suite_id,
        "check_suite_node_id": node_id("CS", run.check_suite_id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": format!(".github/workflows/{}", wf.file_name),
        "run_number": run.run_number,
        "run_attempt": n,
        "referenced_workflows": [],
        "event": run.event,
        "status": status,
        "conclusion": conclusion.map(|c| c.as_str()),
        "workflow_id": run.workflow_id,
        "url": r,
        "html_url": format!("{WEB}/{}/actions/runs/{}", run.repo, run.id),
        "pull_requests": [],
        "created_at": ts(run.created_ms),
        "updated_at": ts(updated),
        "actor": actor,
        "triggering_actor": triggering,
        "run_started_at": ts(attempt.started_ms),
        "jobs_url": format!("{r}/jobs"),
        "logs_url": format!("{r}/logs"),
        "check_suite_url": format!("{api}/repos/{}/check-suites/{}", run.repo, run.check_suite_id),
        "artifacts_url": format!("{r}/artifacts"),
        "cancel_url": format!("{r}/cancel"),
        "rerun_url": format!("{r}/rerun"),
        "previous_attempt_url": if n > 1 { Value::String(format!("{r}/attempts/{}", n - 1)) } else { Value::Null },
        "workflow_url": format!("{api}/repos/{}/actions/workflows/{}", run.repo, run.workflow_id),
        "head_commit": {
            "id": run.head_sha,
            "tree_id": sha256_hex(run.head_sha.as_bytes())[..40],
            "message": format!("Update {}", wf.file_name),
            "timestamp": ts(run.created_ms.saturating_sub(3_600_000)),
            "author": { "name": "Outrun Tester", "email": "tester@example.com" },
            "committer": { "name": "GitHub", "email": "noreply@github.com" }
        },
        "repository": repo,
        "head_repository": repo,
        "display_title": run.display_title,
    })
}

/// `job` at simulated time `now`, with steps consistent with the job's status.
pub fn job(st: &State, run: &Run, job: &Job, view: &JobView) -> Value {
    let api = st.api_url.as_str();
    let wf_name = &run.name;
    let started = view.status != "queued";
    let completed = view.status == "completed";
    // Steps: the job's own phases, split evenly over its running time.
    let names = ["Set up job", "Run cells", "Upload artifact", "Complete job"];
    let end = view
        .completed_ms
        .unwrap_or(st.now_ms().max(view.started_ms));
    let steps: Vec<Value> = if !started {
        Vec::new()
    } else {
        let n = names.len() as u64;
        let slice = end.saturating_sub(view.started_ms) / n;
        names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let (s, e) = (
                    view.started_ms + slice * i as u64,
                    view.started_ms + slice * (i as u64 + 1),
                );
                let step_done = completed || st.now_ms() >= e;
                let step_started = st.now_ms() >= s || completed;
                if !step_started {
                    return None;
                }
                let conclusion = if step_done {
                    Some(if i == 1 {
                        view.conclusion.map_or("success", |c| c.as_str())
                    } else {
                        "success"
                    })
                } else {
                    None
                };
                Some(json!({
                    "name": name,
                    "status": if step_done { "completed" } else { "in_progress" },
                    "conclusion": conclusion,
                    "number": i + 1,
                    "started_at": ts(s),
                    "completed_at": if step_done { Value::String(ts(e)) } else { Value::Null },
                }))
            })
            .collect()
    };
    json!({
        "id": job.id,
        "run_id": run.id,
        "run_url": format!("{api}/repos/{}/actions/runs/{}", run.repo, run.id),
        "run_attempt": job.attempt,
        "node_id": node_id("CR", job.id),
        "head_sha": run.head_sha,
        "url": format!("{api}/repos/{}/actions/jobs/{}", run.repo, job.id),
        "html_url": format!("{WEB}/{}/actions/runs/{}/job/{}", run.repo, run.id, job.id),
        "status": view.status,
        "conclusion": view.conclusion.map(|c| c.as_str()),
        "created_at": ts(view.created_ms),
        "started_at": ts(view.started_ms),
        "completed_at": view.completed_ms.map(ts),
        "name": job.name,
        "steps": steps,
        "check_run_url": format!("{api}/repos/{}/check-runs/{}", run.repo, job.id),
        "labels": ["ubuntu-latest"],
        "runner_id": if started { Value::from(job.runner_id) } else { Value::Null },
        "runner_name": if started { Value::from(format!("GitHub Actions {}", job.runner_id)) } else { Value::Null },
        "runner_group_id": if started { Value::from(0) } else { Value::Null },
        "runner_group_name": if started { Value::from("GitHub Actions") } else { Value::Null },
        "workflow_name": wf_name,
        "head_branch": run.head_branch,
    })
}

/// `artifact`. `zip` is the archive (its length and digest are what GitHub reports).
pub fn artifact(st: &State, run: &Run, a: &Artifact, created_ms: u64, zip: &[u8]) -> Value {
    let api = st.api_url.as_str();
    let expires = created_ms + st.cfg.artifact_retention.as_millis() as u64;
    let url = format!("{api}/repos/{}/actions/artifacts/{}", run.repo, a.id);
    json!({
        "id": a.id,
        "node_id": node_id("MDg6QXJ0aWZhY3Q", a.id),
        "name": a.name,
        "size_in_bytes": zip.len(),
        "url": url,
        "archive_download_url": format!("{url}/zip"),
        "expired": st.artifact_expired(run, a),
        "created_at": ts(created_ms),
        "expires_at": ts(expires),
        "updated_at": ts(created_ms),
        "digest": format!("sha256:{}", sha256_hex(zip)),
        "workflow_run": {
            "id": run.id,
            "repository_id": id_of(&format!("repo:{}", run.repo)),
            "head_repository_id": id_of(&format!("repo:{}", run.repo)),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
        }
    })
}

/// `issue-comment` with the fields GitHub sends by default (no body_html/body_text unless asked).
pub fn issue_comment(st: &State, c: &Comment) -> Value {
    let api = st.api_url.as_str();
    let url = format!("{api}/repos/{}/issues/comments/{}", c.repo, c.id);
    json!({
        "id": c.id,
        "node_id": node_id("IC", c.id),
        "url": url,
        "html_url": format!("{WEB}/{}/issues/{}#issuecomment-{}", c.repo, c.issue, c.id),
        "body": c.body,
        "user": simple_user_as(api, &c.user_login, c.user_kind),
        "created_at": ts(c.created_ms),
        "updated_at": ts(c.updated_ms),
        "issue_url": format!("{api}/repos/{}/issues/{}", c.repo, c.issue),
        "author_association": c.association,
        "performed_via_github_app": null,
        "reactions": {
            "url": format!("{url}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "confused": 0,
            "heart": 0, "hooray": 0, "eyes": 0, "rocket": 0
        },
        "pin": null,
        "minimized": null,
    })
}

/// `rate-limit-overview`: `core` is the real counter; the other resources are untouched.
pub fn rate_limit(limit: u64, used: u64, reset: u64) -> Value {
    let res = |limit: u64, used: u64| json!({ "limit": limit, "used": used, "remaining": limit - used, "reset": reset, });
    let core = res(limit, used);
    json!({
        "resources": {
            "core": core,
            "search": res(30, 0),
            "graphql": res(5000, 0),
            "integration_manifest": res(5000, 0),
            "source_import": res(100, 0),
            "code_scanning_upload": res(1000, 0),
            "actions_runner_registration": res(10000, 0),
            "scim": res(15000, 0),
            "dependency_snapshots": res(100, 0),
            "code_search": res(10, 0),
        },
        "rate": core,
    })
}

/// GitHub's error body (`basic-error`; `validation-error` when `errors` is given). GitHub now
/// also sends the status as a string in `status`.
pub fn error(status: u16, message: &str, doc: &str, errors: Option<Value>) -> Value {
    let mut v =
        json!({ "message": message, "documentation_url": doc, "status": status.to_string() });
    if let Some(errors) = errors {
        v["errors"] = errors;
    }
    v
}
