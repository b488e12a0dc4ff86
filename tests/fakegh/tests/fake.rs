//! Tests of the fake itself, over real HTTP on 127.0.0.1.

mod common;

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use common::*;
use fakegh::{
    BOMB_SIZE, CellSpec, Conclusion, FakeConfig, Fault, Host, Hostile, Identity, IdentityKind,
    Match,
};
use serde_json::{Value, json};

const MIN: Duration = Duration::from_secs(60);

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("valid zip");
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.push((f.name().unwrap().to_string(), data));
    }
    out.sort();
    out
}

fn names(zip_bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(Cursor::new(zip_bytes.to_vec())).expect("valid zip");
    let mut n: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn statuses(jobs: &Value) -> Vec<(String, String, Value)> {
    jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().into(),
                j["status"].as_str().unwrap().into(),
                j["conclusion"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn dispatch_progress_jobs_artifacts_and_download() {
    let (fake, c) = start().await;
    let run_id = dispatch(&c, "x1").await;
    let run_path = format!("/repos/{REPO}/actions/runs/{run_id}");

    let run = c.get(&run_path).await.json();
    assert_eq!(run["status"], "queued");
    assert_eq!(run["conclusion"], Value::Null);
    assert_eq!(run["display_title"], "outrun demo x1");
    assert_eq!(run["event"], "workflow_dispatch");
    assert_eq!(run["head_branch"], "main");
    assert!(run_id > u32::MAX as u64, "ids past 2^32, as on github.com");
    assert_eq!(
        run["jobs_url"],
        format!("{}{run_path}/jobs", fake.api_url())
    );

    // Queued: only the plan job exists, and it is queued.
    let jobs = c.get(&format!("{run_path}/jobs")).await.json();
    assert_eq!(
        statuses(&jobs),
        vec![("plan".into(), "queued".into(), Value::Null)]
    );
    assert!(
        jobs["jobs"][0]["started_at"].is_string(),
        "started_at is required even when queued"
    );

    fake.advance(Duration::from_secs(30));
    assert_eq!(c.get(&run_path).await.json()["status"], "in_progress");
    let jobs = c
        .get(&format!("{run_path}/jobs?filter=latest"))
        .await
        .json();
    assert_eq!(
        statuses(&jobs),
        vec![("plan".into(), "in_progress".into(), Value::Null)]
    );

    // After the plan job (R/10 = 60 s) the shard jobs exist.
    fake.advance(MIN);
    let jobs = c.get(&format!("{run_path}/jobs")).await.json();
    assert_eq!(jobs["total_count"], 3);
    let s = statuses(&jobs);
    assert_eq!(s[0], ("plan".into(), "completed".into(), json!("success")));
    assert_eq!(s[1].0, "s0");
    assert_eq!(s[2].0, "s1");
    let artifacts = c.get(&format!("{run_path}/artifacts")).await.json();
    assert_eq!(
        artifacts["total_count"], 0,
        "no artifact before its job completes"
    );

    // Shard s0 completes at the middle of the shard phase; its artifact appears, s1's does not.
    fake.advance(Duration::from_secs(300));
    let jobs = c.get(&format!("{run_path}/jobs")).await.json();
    assert_eq!(
        statuses(&jobs)[1],
        ("s0".into(), "completed".into(), json!("success"))
    );
    assert_eq!(statuses(&jobs)[2].1, "in_progress");
    let artifacts = c.get(&format!("{run_path}/artifacts")).await.json();
    assert_eq!(artifacts["total_count"], 1);
    assert_eq!(artifacts["artifacts"][0]["name"], "outrun-demo-s0-a1");
    assert_eq!(c.get(&run_path).await.json()["status"], "in_progress");

    fake.advance(Duration::from_secs(300));
    let run = c.get(&run_path).await.json();
    assert_eq!(
        (run["status"].as_str(), run["conclusion"].as_str()),
        (Some("completed"), Some("failure"))
    );
    let artifacts = c.get(&format!("{run_path}/artifacts")).await.json();
    assert_eq!(artifacts["total_count"], 2);
    let a0 = artifacts["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "outrun-demo-s0-a1")
        .unwrap()
        .clone();
    assert_eq!(a0["workflow_run"]["id"], run_id);
    assert_eq!(a0["expired"], false);

    // /zip answers 302 to the storage host.
    let resp = c.get(a0["archive_download_url"].as_str().unwrap()).await;
    assert_eq!(resp.status, 302);
    let location = resp.header("location").unwrap();
    assert!(location.starts_with(&fake.storage_url()), "{location}");
    assert!(query_map(&location).contains_key("sig"));

    // Storage refuses a forwarded token, serves the zip without one.
    let refused = c
        .send(
            c.http
                .get(&location)
                .header("authorization", format!("Bearer {TOKEN}")),
        )
        .await;
    assert_eq!(refused.status, 400);
    let zip = c.get_storage(&location).await;
    assert_eq!(zip.status, 200);
    assert_eq!(
        zip.header("content-length").unwrap(),
        zip.body.len().to_string()
    );
    assert_eq!(zip.body.len() as u64, a0["size_in_bytes"].as_u64().unwrap());
    let digest = a0["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    assert_eq!(digest.len(), 64);
    let files = unzip(&zip.body);
    assert_eq!(
        files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "c1/cell.json",
            "c1/results.csv",
            "c2/cell.json",
            "c2/results.csv"
        ]
    );
    assert_eq!(files[1].1, b"layer,cycles\nconv1,100\n");

    // The storage URL is signed and expires after 60 s of simulated time.
    let mut tampered = location.clone();
    tampered.push('0');
    assert_eq!(c.get_storage(&tampered).await.status, 403);
    fake.advance(Duration::from_secs(61));
    assert_eq!(c.get_storage(&location).await.status, 403);

    // Storage requests are logged but never counted against the rate limit.
    let reqs = fake.requests();
    assert!(
        reqs.iter()
            .any(|r| r.host == Host::Storage && r.status == 200)
    );
    assert!(
        reqs.iter()
            .filter(|r| r.host == Host::Storage)
            .all(|r| !r.counted)
    );
}

#[tokio::test]
async fn artifact_retention_expiry_gives_410() {
    let (fake, c) = start_with(FakeConfig {
        artifact_retention: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let run_id = dispatch(&c, "r").await;
    fake.advance(Duration::from_secs(700));
    let list = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
        .await
        .json();
    let url = list["artifacts"][0]["archive_download_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(c.get(&url).await.status, 302);
    fake.advance(Duration::from_secs(3600));
    let list = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
        .await
        .json();
    assert_eq!(list["artifacts"][0]["expired"], true);
    let gone = c.get(&url).await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.json()["message"], "Artifact has expired");
}

#[tokio::test]
async fn conditional_get_answers_304_and_is_not_counted() {
    let (fake, c) = start().await;
    let run_id = dispatch(&c, "e").await;
    let path = format!("/repos/{REPO}/actions/runs/{run_id}");
    let first = c.get(&path).await;
    let etag = first.header("etag").expect("GET carries an ETag");
    assert!(etag.starts_with("W/\""), "{etag}");
    let remaining: u64 = first
        .header("x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();

    let again = c.get_if_none_match(&path, &etag).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
    assert_eq!(
        again
            .header("x-ratelimit-remaining")
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        remaining
    );
    let last = fake.requests().pop().unwrap();
    assert!(last.conditional && !last.counted && last.status == 304);

    // Once the run changes, the same ETag no longer matches.
    fake.advance(Duration::from_secs(30));
    let changed = c.get_if_none_match(&path, &etag).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);
    assert_eq!(
        changed
            .header("x-ratelimit-remaining")
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        remaining - 1
    );

    for h in ["x-ratelimit-limit", "x-ratelimit-used", "x-ratelimit-reset"] {
        assert!(changed.header(h).is_some(), "{h}");
    }
    assert_eq!(
        changed.header("x-ratelimit-resource").as_deref(),
        Some("core")
    );

    // /rate_limit reports the same counter and costs nothing.
    let before = fake.counted_requests();
    let rl = c.get("/rate_limit").await.json();
    assert_eq!(rl["resources"]["core"]["used"], before as u64);
    assert_eq!(fake.counted_requests(), before);
}

#[tokio::test]
async fn comments_create_list_patch_and_github_quirks() {
    let (fake, c) = start().await;
    fake.state()
        .lock()
        .unwrap()
        .seed_comment(REPO, 7, "someone", "first!");
    let base = format!("/repos/{REPO}/issues/7/comments");
    let mut ids = Vec::new();
    for i in 0..3 {
        let resp = c
            .post(&base, &json!({ "body": format!("comment {i}") }))
            .await;
        assert_eq!(resp.status, 201);
        let body = resp.json();
        assert_eq!(
            resp.header("location").unwrap(),
            body["url"].as_str().unwrap()
        );
        assert_eq!(body["user"]["login"], "outrun-tester");
        ids.push(body["id"].as_u64().unwrap());
    }

    // Paginated, oldest first, with GitHub's Link header.
    let page1 = c.get(&format!("{base}?per_page=2")).await;
    let link = page1.header("link").expect("Link header");
    assert!(
        link.contains("rel=\"next\"") && link.contains("rel=\"last\""),
        "{link}"
    );
    assert!(
        link.contains(&format!("{}{base}?per_page=2&page=2", fake.api_url())),
        "{link}"
    );
    let bodies: Vec<String> = page1
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().into())
        .collect();
    assert_eq!(bodies, ["first!", "comment 0"]);
    let page2 = c.get(&format!("{base}?per_page=2&page=2")).await;
    assert_eq!(page2.json().as_array().unwrap().len(), 2);
    assert!(page2.header("link").unwrap().contains("rel=\"prev\""));

    // Update with PATCH; POST to the comment URL is not a route on GitHub: 404.
    let url = format!("/repos/{REPO}/issues/comments/{}", ids[1]);
    fake.advance(MIN);
    let patched = c.patch(&url, &json!({ "body": "edited" })).await;
    assert_eq!(patched.status, 200);
    let patched = patched.json();
    assert_eq!(patched["body"], "edited");
    assert_ne!(patched["updated_at"], patched["created_at"]);
    assert_eq!(c.get(&url).await.json()["body"], "edited");
    let wrong = c.post(&url, &json!({ "body": "x" })).await;
    assert_eq!(wrong.status, 404);
    assert_eq!(wrong.json()["message"], "Not Found");
    assert_eq!(
        fake.state().lock().unwrap().comments_on(REPO, 7)[2].body,
        "edited"
    );

    // Bodies over 65536 characters are refused; exactly 65536 (multi-byte) is fine.
    let too_long = c.post(&base, &json!({ "body": "a".repeat(65_537) })).await;
    assert_eq!(too_long.status, 422);
    assert!(
        too_long.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too long")
    );
    assert_eq!(
        c.patch(&url, &json!({ "body": "a".repeat(65_537) }))
            .await
            .status,
        422
    );
    assert_eq!(
        c.post(&base, &json!({ "body": "é".repeat(65_536) }))
            .await
            .status,
        201
    );
    assert_eq!(
        c.post(&base, &json!({ "text": "no body" })).await.status,
        422
    );
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let (_fake, c) = start().await;
    let path = format!("/repos/{REPO}/actions/workflows/outrun-demo.yml");
    let none = c.send(c.http.get(c.url(&path))).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["message"], "Requires authentication");
    let bad = c
        .send(
            c.http
                .get(c.url(&path))
                .header("authorization", "Bearer nope"),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["message"], "Bad credentials");
    assert!(bad.json()["documentation_url"].is_string());
    let token = c
        .send(
            c.http
                .get(c.url(&path))
                .header("authorization", format!("token {TOKEN}")),
        )
        .await;
    assert_eq!(token.status, 200);
    assert_eq!(token.json()["path"], ".github/workflows/outrun-demo.yml");
}

#[tokio::test]
async fn dispatch_validation_and_listing_runs() {
    let (fake, c) = start().await;
    let dispatches = format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches");
    let no_ref = c.post(&dispatches, &json!({ "inputs": {} })).await;
    assert_eq!(no_ref.status, 422);
    let unknown = c
        .post(
            &format!("/repos/{REPO}/actions/workflows/nope.yml/dispatches"),
            &json!({ "ref": "main" }),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let too_many: serde_json::Map<String, Value> =
        (0..26).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        c.post(&dispatches, &json!({ "ref": "main", "inputs": too_many }))
            .await
            .status,
        422
    );

    // Without return_run_details: 204 and no body.
    for id in ["a", "b", "c"] {
        let r = c
            .post(
                &dispatches,
                &json!({ "ref": "refs/heads/main", "inputs": { "outrun_id": id } }),
            )
            .await;
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        fake.advance(Duration::from_secs(1));
    }
    let other = c
        .post(
            &dispatches,
            &json!({ "ref": "dev", "inputs": { "outrun_id": "d" } }),
        )
        .await;
    assert_eq!(other.status, 204);

    // Newest first, filtered by event and branch, paginated.
    let list = c
        .get(&format!(
            "/repos/{REPO}/actions/runs?event=workflow_dispatch&branch=main&per_page=2"
        ))
        .await;
    assert!(list.header("link").unwrap().contains("rel=\"next\""));
    let list = list.json();
    assert_eq!(list["total_count"], 3);
    let titles: Vec<&str> = list["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display_title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["outrun demo c", "outrun demo b"]);

    let wf_runs = c
        .get(&format!(
            "/repos/{REPO}/actions/workflows/outrun-demo.yml/runs?branch=dev"
        ))
        .await
        .json();
    assert_eq!(wf_runs["total_count"], 1);
    assert_eq!(
        wf_runs["workflow_runs"][0]["display_title"],
        "outrun demo d"
    );
    assert_eq!(
        c.get("/repos/someone/else/actions/runs").await.json()["total_count"],
        0
    );

    // `created` qualifiers use ISO dates; status accepts a status or a conclusion.
    let now = fake.state().lock().unwrap().now_iso();
    let created = c
        .get(&format!(
            "/repos/{REPO}/actions/runs?created=%3E%3D{}",
            &now[..10]
        ))
        .await
        .json();
    assert_eq!(created["total_count"], 4);
    let future = c
        .get(&format!("/repos/{REPO}/actions/runs?created=%3E2999-01-01"))
        .await
        .json();
    assert_eq!(future["total_count"], 0);
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs?status=queued"))
            .await
            .json()["total_count"],
        4
    );
    fake.advance(Duration::from_secs(3600));
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs?status=failure"))
            .await
            .json()["total_count"],
        4
    );
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs?status=completed"))
            .await
            .json()["total_count"],
        4
    );
}

#[tokio::test]
async fn list_lag_hides_new_runs_from_lists_only() {
    let (fake, c) = start_with(FakeConfig {
        list_lag: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let run_id = dispatch(&c, "lag").await;
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs")).await.json()["total_count"],
        0
    );
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs/{run_id}"))
            .await
            .status,
        200
    );
    fake.advance(Duration::from_secs(5));
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs")).await.json()["total_count"],
        1
    );
}

#[tokio::test]
async fn enterprise_mode_refuses_return_run_details() {
    let cfg = FakeConfig {
        enterprise_mode: true,
        api_prefix: "/api/v3".into(),
        ..Default::default()
    };
    let (fake, c) = start_with(cfg).await;
    assert!(fake.api_url().ends_with("/api/v3"));
    let dispatches = format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches");
    let refused = c
        .post(
            &dispatches,
            &json!({ "ref": "main", "return_run_details": true }),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("return_run_details")
    );
    // Even `false` is an unknown key there.
    assert_eq!(
        c.post(
            &dispatches,
            &json!({ "ref": "main", "return_run_details": false })
        )
        .await
        .status,
        400
    );
    let ok = c
        .post(
            &dispatches,
            &json!({ "ref": "main", "inputs": { "outrun_id": "ghes1" } }),
        )
        .await;
    assert_eq!(ok.status, 204);
    let runs = c
        .get(&format!(
            "/repos/{REPO}/actions/runs?event=workflow_dispatch&branch=main"
        ))
        .await
        .json();
    assert_eq!(
        runs["workflow_runs"][0]["display_title"],
        "outrun demo ghes1"
    );
    assert!(
        runs["workflow_runs"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/api/v3/repos/")
    );
    // Outside the prefix there is nothing.
    let root = fake.api_url().trim_end_matches("/api/v3").to_string();
    let outside = c
        .send(c.authed(reqwest::Method::GET, &format!("{root}/rate_limit")))
        .await;
    assert_eq!(outside.status, 404);
}

#[tokio::test]
async fn status_faults_5xx() {
    let (fake, c) = start().await;
    let path = format!("/repos/{REPO}/actions/runs");
    fake.inject(Fault::status(Match::get("/repos/"), 500));
    fake.inject(Fault::status(Match::get("/repos/"), 502));
    fake.inject(Fault::status(Match::any("/repos/").times(2), 503));
    let r500 = c.get(&path).await;
    assert_eq!(r500.status, 500);
    assert_eq!(r500.json()["message"], "Server Error");
    let r502 = c.get(&path).await;
    assert_eq!(r502.status, 502);
    assert!(
        r502.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(c.get(&path).await.status, 503);
    assert_eq!(c.get(&path).await.status, 503);
    assert_eq!(c.get(&path).await.status, 200, "faults are used up");
    // A fault for another method or path does not fire.
    fake.inject(Fault::status(Match::post("/repos/"), 500));
    assert_eq!(c.get(&path).await.status, 200);
    assert_eq!(c.get("/rate_limit").await.status, 200);
}

#[tokio::test]
async fn rate_limit_faults_and_real_exhaustion() {
    let (fake, c) = start_with(FakeConfig {
        rate_limit: 4,
        ..Default::default()
    })
    .await;
    let path = format!("/repos/{REPO}/actions/runs");
    fake.inject(Fault::forbidden_rate_limit(Match::get(&path), 7));
    let r = c.get(&path).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );

    fake.inject(Fault::too_many_requests(Match::get(&path), 3));
    let r = c.get(&path).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("3"));

    // The real counter: 4 allowed, then 403 with remaining 0.
    for expected in [3, 2, 1, 0] {
        let ok = c.get(&path).await;
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.header("x-ratelimit-remaining").unwrap(),
            expected.to_string()
        );
    }
    let exhausted = c.get(&path).await;
    assert_eq!(exhausted.status, 403);
    assert_eq!(
        exhausted.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(fake.counted_requests(), 4);
}

#[tokio::test]
async fn disconnect_and_reset_faults_drop_the_connection() {
    let (fake, c) = start().await;
    let path = format!("/repos/{REPO}/actions/runs");
    for reset in [false, true] {
        fake.inject(Fault::Disconnect {
            on: Match::get(&path),
            reset,
        });
        let err = c.authed(reqwest::Method::GET, &path).send().await;
        assert!(
            err.is_err(),
            "reset={reset}: expected a transport error, got {:?}",
            err.map(|r| r.status())
        );
        assert_eq!(c.get(&path).await.status, 200, "the next request is served");
    }
    let dropped: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 0)
        .collect();
    assert_eq!(dropped.len(), 2);
    assert!(dropped.iter().all(|r| !r.counted));

    // Also on the storage host, mid-download.
    let run_id = dispatch(&c, "dl").await;
    fake.advance(Duration::from_secs(700));
    let list = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
        .await
        .json();
    let location = c
        .get(
            list["artifacts"][0]["archive_download_url"]
                .as_str()
                .unwrap(),
        )
        .await
        .header("location")
        .unwrap();
    fake.inject(Fault::disconnect(Match::get("/blob/")));
    assert!(c.http.get(&location).send().await.is_err());
    assert_eq!(c.get_storage(&location).await.status, 200);
}

#[tokio::test]
async fn slow_fault_delays_the_response() {
    let (fake, c) = start().await;
    fake.inject(Fault::slow(
        Match::get("/rate_limit"),
        Duration::from_millis(400),
    ));
    let t = Instant::now();
    assert_eq!(c.get("/rate_limit").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(c.get("/rate_limit").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn artifact_gone_fault_gives_410() {
    let (fake, c) = start().await;
    fake.inject(Fault::ArtifactGone { shard: "s1".into() });
    let run_id = dispatch(&c, "g").await;
    fake.advance(Duration::from_secs(700));
    let list = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
        .await
        .json();
    for a in list["artifacts"].as_array().unwrap() {
        let gone = a["name"] == "outrun-demo-s1-a1";
        assert_eq!(a["expired"], gone);
        let status = c
            .get(a["archive_download_url"].as_str().unwrap())
            .await
            .status;
        assert_eq!(status, if gone { 410 } else { 302 });
    }
    // The fault was for one artifact only.
    let run2 = dispatch(&c, "g2").await;
    fake.advance(Duration::from_secs(700));
    let list = c
        .get(&format!("/repos/{REPO}/actions/runs/{run2}/artifacts"))
        .await
        .json();
    assert!(
        list["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["expired"] == false)
    );
}

#[tokio::test]
async fn end_run_faults_cancel_or_time_out() {
    for (fault, conclusion) in [
        (Fault::cancel_next_run(), "cancelled"),
        (Fault::time_out_next_run(), "timed_out"),
    ] {
        let (fake, c) = start().await;
        fake.inject(fault);
        let run_id = dispatch(&c, "end").await;
        fake.advance(Duration::from_secs(700));
        let run = c
            .get(&format!("/repos/{REPO}/actions/runs/{run_id}"))
            .await
            .json();
        assert_eq!(
            (run["status"].as_str(), run["conclusion"].as_str()),
            (Some("completed"), Some(conclusion))
        );
        let jobs = statuses(
            &c.get(&format!("/repos/{REPO}/actions/runs/{run_id}/jobs"))
                .await
                .json(),
        );
        assert_eq!(jobs[1].2, "success", "s0 finished before the ending");
        assert_eq!(jobs[2].2, conclusion);
        let list = c
            .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
            .await
            .json();
        assert_eq!(list["total_count"], 1, "the ended job uploads nothing");
    }

    // EndRun for a known run, and the cancel endpoint.
    let (fake, c) = start().await;
    let a = dispatch(&c, "a").await;
    let b = dispatch(&c, "b").await;
    fake.inject(Fault::EndRun {
        run: Some(a),
        conclusion: Conclusion::Cancelled,
    });
    assert_eq!(
        c.post(
            &format!("/repos/{REPO}/actions/runs/{b}/cancel"),
            &json!({})
        )
        .await
        .status,
        202
    );
    assert_eq!(
        fake.state()
            .lock()
            .unwrap()
            .run_status(b)
            .unwrap()
            .1
            .as_deref(),
        Some("cancelled")
    );
    fake.advance(Duration::from_secs(700));
    assert_eq!(
        fake.state()
            .lock()
            .unwrap()
            .run_status(a)
            .unwrap()
            .1
            .as_deref(),
        Some("cancelled")
    );
    assert_eq!(
        c.post(
            &format!("/repos/{REPO}/actions/runs/{b}/cancel"),
            &json!({})
        )
        .await
        .status,
        409
    );
}

async fn hostile_zip(entry: Hostile) -> Vec<u8> {
    let (fake, c) = start().await;
    fake.inject(Fault::HostileZip {
        shard: "s0".into(),
        entry,
    });
    let run_id = dispatch(&c, "h").await;
    fake.advance(Duration::from_secs(700));
    let list = c
        .get(&format!(
            "/repos/{REPO}/actions/runs/{run_id}/artifacts?name=outrun-demo-s0-a1"
        ))
        .await
        .json();
    assert_eq!(list["total_count"], 1);
    let location = c
        .get(
            list["artifacts"][0]["archive_download_url"]
                .as_str()
                .unwrap(),
        )
        .await
        .header("location")
        .unwrap();
    let zip = c.get_storage(&location).await;
    assert_eq!(zip.status, 200);
    assert_eq!(
        zip.body.len() as u64,
        list["artifacts"][0]["size_in_bytes"].as_u64().unwrap()
    );
    zip.body
}

#[tokio::test]
async fn hostile_zip_entries() {
    assert!(names(&hostile_zip(Hostile::ParentDir).await).contains(&"../evil".to_string()));
    assert!(names(&hostile_zip(Hostile::Absolute).await).contains(&"/abs/evil".to_string()));

    let link = hostile_zip(Hostile::Symlink).await;
    let mut archive = zip::ZipArchive::new(Cursor::new(link)).unwrap();
    let mut entry = archive.by_name("c1/link").unwrap();
    assert!(entry.is_symlink());
    let mut target = String::new();
    entry.read_to_string(&mut target).unwrap();
    assert_eq!(target, "../../../../etc/passwd");
}

#[tokio::test]
async fn zip_bomb_is_small_but_expands_past_1_gib() {
    let bomb = hostile_zip(Hostile::Bomb).await;
    assert!(
        bomb.len() < 2 << 20,
        "compressed bomb is {} bytes",
        bomb.len()
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(bomb)).unwrap();
    assert!(
        archive.file_names().any(|n| n.unwrap() == "c1/results.csv"),
        "regular entries are kept"
    );
    let mut entry = archive.by_name("c1/bomb.bin").unwrap();
    assert_eq!(entry.size(), BOMB_SIZE);
    assert!(entry.size() > 1 << 30);
    // Inflate only the first 4 MiB: real zeros come out (a client must stop by its own limit).
    let mut head = Vec::new();
    (&mut entry).take(4 << 20).read_to_end(&mut head).unwrap();
    assert_eq!(head.len(), 4 << 20);
    assert!(head.iter().all(|&b| b == 0));
}

#[tokio::test]
async fn unknown_routes_and_ids_are_404() {
    let (_fake, c) = start().await;
    for path in [
        format!("/repos/{REPO}/actions/runs/123"),
        format!("/repos/{REPO}/actions/runs/not-a-number"),
        format!("/repos/{REPO}/actions/artifacts/5/zip"),
        format!("/repos/{REPO}/issues/comments/9"),
        "/nowhere".to_string(),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["message"], "Not Found");
    }
}

/// Every body the fake produces for these operations validates against GitHub's description:
/// required fields present, types and enums right, all the way down.
#[tokio::test]
async fn responses_validate_against_githubs_openapi_description() {
    let Some(spec) = openapi() else {
        eprintln!(
            "SKIPPED: @octokit/openapi not installed (set FAKEGH_OPENAPI to api.github.com.json)"
        );
        return;
    };
    let (fake, c) = start().await;
    let mut checked = Vec::new();
    let mut check = |template: &str, method: &str, status: u16, body: &Value| {
        let errs = check_response(spec, template, method, status, body);
        assert!(
            errs.is_empty(),
            "{method} {template} {status}:\n{}",
            errs.join("\n")
        );
        checked.push(format!("{method} {template} {status}"));
    };
    let dispatched = c
        .post(
            &format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches"),
            &json!({ "ref": "main", "inputs": { "outrun_id": "v" }, "return_run_details": true }),
        )
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
        "post",
        200,
        &dispatched,
    );
    let run_id = dispatched["workflow_run_id"].as_u64().unwrap();
    let wf = c
        .get(&format!("/repos/{REPO}/actions/workflows/outrun-demo.yml"))
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}",
        "get",
        200,
        &wf,
    );

    // Check runs and jobs in every phase: queued, plan running, shards running, completed.
    for step in [0, 30, 70, 300, 400] {
        fake.advance(Duration::from_secs(step));
        let run = c
            .get(&format!("/repos/{REPO}/actions/runs/{run_id}"))
            .await
            .json();
        check(
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            "get",
            200,
            &run,
        );
        // The checker itself must bite: a run without a required field, or with a bad enum, fails.
        let mut broken = run.clone();
        broken.as_object_mut().unwrap().remove("display_title");
        broken["repository"]["owner"]["site_admin"] = json!("no");
        let errs = check_response(
            spec,
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            "get",
            200,
            &broken,
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        let list = c.get(&format!("/repos/{REPO}/actions/runs")).await.json();
        check("/repos/{owner}/{repo}/actions/runs", "get", 200, &list);
        let wf_list = c
            .get(&format!(
                "/repos/{REPO}/actions/workflows/outrun-demo.yml/runs"
            ))
            .await
            .json();
        check(
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
            "get",
            200,
            &wf_list,
        );
        let jobs = c
            .get(&format!("/repos/{REPO}/actions/runs/{run_id}/jobs"))
            .await
            .json();
        check(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            "get",
            200,
            &jobs,
        );
        let arts = c
            .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
            .await
            .json();
        check(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
            "get",
            200,
            &arts,
        );
    }
    let created = c
        .post(
            &format!("/repos/{REPO}/issues/3/comments"),
            &json!({ "body": "hi" }),
        )
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "post",
        201,
        &created,
    );
    let listed = c
        .get(&format!("/repos/{REPO}/issues/3/comments"))
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "get",
        200,
        &listed,
    );
    let url = created["url"].as_str().unwrap();
    check(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "get",
        200,
        &c.get(url).await.json(),
    );
    let patched = c.patch(url, &json!({ "body": "ho" })).await.json();
    check(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "patch",
        200,
        &patched,
    );
    let too_long = c
        .patch(url, &json!({ "body": "x".repeat(70_000) }))
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "patch",
        422,
        &too_long,
    );
    let missing = c
        .get(&format!("/repos/{REPO}/issues/comments/1"))
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "get",
        404,
        &missing,
    );
    check(
        "/rate_limit",
        "get",
        200,
        &c.get("/rate_limit").await.json(),
    );

    let first_artifact = fake.state().lock().unwrap().runs[0].artifacts[0].id;
    assert!(fake.state().lock().unwrap().expire_artifact(first_artifact));
    let arts = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/artifacts"))
        .await
        .json();
    let expired = arts["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["expired"] == true)
        .unwrap();
    let gone = c
        .get(expired["archive_download_url"].as_str().unwrap())
        .await
        .json();
    check(
        "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
        "get",
        410,
        &gone,
    );
    assert!(checked.len() > 30);
}

#[tokio::test]
async fn request_log_records_what_a_benchmark_needs() {
    let (fake, c) = start().await;
    let run_id = dispatch(&c, "log").await;
    let path = format!("/repos/{REPO}/actions/runs/{run_id}");
    let etag = c
        .get(&format!("{path}?exclude_pull_requests=true"))
        .await
        .header("etag")
        .unwrap();
    c.get_if_none_match(&format!("{path}?exclude_pull_requests=true"), &etag)
        .await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].status, 200);
    assert_eq!(
        reqs[1].path_and_query(),
        format!("{path}?exclude_pull_requests=true")
    );
    assert_eq!(reqs[1].header("user-agent"), Some("fakegh-tests"));
    assert!(reqs[2].conditional && reqs[2].status == 304 && !reqs[2].counted);
    assert_eq!(fake.counted_requests(), 2);
}

#[tokio::test]
async fn explicit_experiment_name_and_many_jobs_paginate() {
    let fake = fakegh::FakeGithub::start(FakeConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await;
    let shards: Vec<CellSpec> = (0..35)
        .map(|i| {
            CellSpec::new(&format!("s{i}"), Conclusion::Success)
                .cell(&format!("c{i}"), &[("cell.json", b"{}")])
        })
        .collect();
    fake.state()
        .lock()
        .unwrap()
        .add_workflow_for("big.yml", "resnet", shards);
    let c = Client::new(&fake);
    let r = c
        .post(
            &format!("/repos/{REPO}/actions/workflows/big.yml/dispatches"),
            &json!({ "ref": "main", "inputs": { "outrun_id": "z" } }),
        )
        .await;
    assert_eq!(r.status, 204);
    let run_id = fake.state().lock().unwrap().runs[0].id;
    fake.advance(Duration::from_secs(700));
    let jobs = c
        .get(&format!("/repos/{REPO}/actions/runs/{run_id}/jobs"))
        .await;
    assert!(
        jobs.header("link")
            .unwrap()
            .contains("page=2>; rel=\"next\"")
    );
    let jobs = jobs.json();
    assert_eq!(jobs["total_count"], 36);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 30);
    let arts = c
        .get(&format!(
            "/repos/{REPO}/actions/runs/{run_id}/artifacts?per_page=100"
        ))
        .await
        .json();
    assert_eq!(arts["total_count"], 35);
    assert!(
        arts["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"].as_str().unwrap().starts_with("outrun-resnet-s"))
    );
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs/{run_id}"))
            .await
            .json()["display_title"],
        "outrun resnet z"
    );
}

#[tokio::test]
async fn lost_response_fault_runs_the_handler_then_loses_the_answer() {
    let (fake, c) = start().await;
    let dispatches = format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches");
    let body = json!({ "ref": "main", "inputs": { "outrun_id": "once" } });

    // The dispatch happens, but the connection drops before the 204.
    fake.inject(Fault::LostResponse {
        on: Match::post(&dispatches),
        replace_with: None,
    });
    let req = c
        .authed(reqwest::Method::POST, &dispatches)
        .body(body.to_string());
    assert!(req.send().await.is_err());
    assert_eq!(
        fake.state().lock().unwrap().runs.len(),
        1,
        "the run was created anyway"
    );

    // Or GitHub's edge answers 502 although the run was created.
    fake.inject(Fault::LostResponse {
        on: Match::post(&dispatches),
        replace_with: Some(502),
    });
    assert_eq!(c.post(&dispatches, &body).await.status, 502);
    assert_eq!(fake.state().lock().unwrap().runs.len(), 2);

    let log = fake.requests();
    assert_eq!((log[0].status, log[0].counted), (0, true));
    assert_eq!((log[1].status, log[1].counted), (502, true));
}

// ---------- identities, repository, re-runs ----------

const GHS: &str = "ghs_workflow_token";
const PAT2: &str = "pat_collaborator";

async fn start_with_identities(cfg: FakeConfig) -> (fakegh::FakeGithub, Client) {
    start_with(FakeConfig {
        identities: vec![
            Identity::github_actions(GHS),
            Identity::user(PAT2, "collab", "COLLABORATOR"),
        ],
        ..cfg
    })
    .await
}

#[tokio::test]
async fn identities_author_comments_and_installation_tokens_cannot_read_user() {
    let (fake, c) = start_with_identities(FakeConfig::default()).await;
    let (bot, collab) = (c.as_token(GHS), c.as_token(PAT2));
    let base = format!("/repos/{REPO}/issues/5/comments");

    let by_bot = bot
        .post(&base, &json!({ "body": "from the workflow" }))
        .await;
    assert_eq!(by_bot.status, 201);
    let by_bot = by_bot.json();
    assert_eq!(by_bot["user"]["login"], "github-actions[bot]");
    assert_eq!(by_bot["user"]["type"], "Bot");
    assert_eq!(by_bot["author_association"], "NONE");
    assert_openapi(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "post",
        201,
        &by_bot,
    );
    let by_collab = collab
        .post(&base, &json!({ "body": "me too" }))
        .await
        .json();
    assert_eq!(
        (&by_collab["user"]["login"], &by_collab["user"]["type"]),
        (&json!("collab"), &json!("User"))
    );
    assert_eq!(by_collab["author_association"], "COLLABORATOR");
    let by_owner = c.post(&base, &json!({ "body": "owner" })).await.json();
    assert_eq!(by_owner["author_association"], "OWNER");

    // Seeded comments: as a bot with its own association, or the old way.
    {
        let state = fake.state();
        let mut st = state.lock().unwrap();
        st.seed_comment_as(
            REPO,
            5,
            "other-app[bot]",
            IdentityKind::Bot,
            "NONE",
            "lookalike",
        );
        st.seed_comment(REPO, 5, "someone", "hello");
    }
    let listed = c.get(&base).await.json();
    assert_openapi(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "get",
        200,
        &listed,
    );
    let who: Vec<(String, String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["user"]["login"].as_str().unwrap().into(),
                c["user"]["type"].as_str().unwrap().into(),
                c["author_association"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        who[3..],
        [
            ("other-app[bot]".into(), "Bot".into(), "NONE".into()),
            ("someone".into(), "User".into(), "CONTRIBUTOR".into())
        ]
    );

    // GET /user: each token's own user; an installation token has none.
    let me = c.get("/user").await.json();
    assert_eq!(me["login"], "outrun-tester");
    assert_openapi("/user", "get", 200, &me);
    assert_eq!(collab.get("/user").await.json()["login"], "collab");
    let refused = bot.get("/user").await;
    assert_eq!(refused.status, 403);
    let refused = refused.json();
    assert_eq!(refused["message"], "Resource not accessible by integration");
    assert_openapi("/user", "get", 403, &refused);
    assert_eq!(c.as_token("unknown").get("/user").await.status, 401);

    // DELETE a comment: 204 without a body, then it is gone (404 on GET and on a second DELETE).
    let url = format!("/repos/{REPO}/issues/comments/{}", by_collab["id"]);
    let deleted = c.delete(&url).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(c.get(&url).await.status, 404);
    let again = c.delete(&url).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["message"], "Not Found");
    assert_eq!(fake.state().lock().unwrap().comments_on(REPO, 5).len(), 4);
}

#[tokio::test]
async fn repository_reports_the_configured_default_branch() {
    let (_fake, c) = start_with(FakeConfig {
        default_branch: "trunk".into(),
        ..Default::default()
    })
    .await;
    let repo = c.get("/repos/someone/project").await;
    assert_eq!(repo.status, 200);
    let repo = repo.json();
    assert_eq!(repo["default_branch"], "trunk");
    assert_eq!(repo["full_name"], "someone/project");
    assert_eq!(repo["name"], "project");
    assert_eq!(repo["owner"]["login"], "someone");
    assert_openapi("/repos/{owner}/{repo}", "get", 200, &repo);
    let (_fake, c) = start().await;
    assert_eq!(
        c.get(&format!("/repos/{REPO}")).await.json()["default_branch"],
        "main"
    );
}

#[tokio::test]
async fn seeded_runs_chosen_run_ids_and_actors() {
    let (fake, c) = start_with_identities(FakeConfig::default()).await;
    let pr_run = {
        let state = fake.state();
        let mut st = state.lock().unwrap();
        let id = st.add_run(
            REPO,
            "outrun-demo.yml",
            "pull_request",
            "feature/x",
            "Add x",
        );
        assert!(st.set_head_sha(id, &"ab".repeat(20)));
        st.next_run_id = Some(42_000_000_001);
        id
    };
    // A dispatch by the workflow token gets the chosen id and is acted by github-actions[bot].
    let dispatched = c
        .as_token(GHS)
        .post(
            &format!("/repos/{REPO}/actions/workflows/outrun-demo.yml/dispatches"),
            &json!({ "ref": "main", "inputs": { "outrun_id": "n" }, "return_run_details": true }),
        )
        .await
        .json();
    assert_eq!(dispatched["workflow_run_id"], 42_000_000_001u64);
    let run = c
        .get(&format!("/repos/{REPO}/actions/runs/42000000001"))
        .await
        .json();
    assert_eq!(run["actor"]["login"], "github-actions[bot]");
    assert_eq!(run["triggering_actor"]["type"], "Bot");
    assert_eq!(run["run_attempt"], 1);
    assert_eq!(run["run_started_at"], run["created_at"]);
    assert_openapi(
        "/repos/{owner}/{repo}/actions/runs/{run_id}",
        "get",
        200,
        &run,
    );

    let seeded = c
        .get(&format!("/repos/{REPO}/actions/runs/{pr_run}"))
        .await
        .json();
    assert_eq!(seeded["event"], "pull_request");
    assert_eq!(seeded["head_branch"], "feature/x");
    assert_eq!(seeded["head_sha"], "ab".repeat(20));
    assert_eq!(seeded["display_title"], "Add x");
    assert_eq!(seeded["actor"]["login"], "outrun-tester");
    assert_openapi(
        "/repos/{owner}/{repo}/actions/runs/{run_id}",
        "get",
        200,
        &seeded,
    );
    // Same timeline as a dispatch: it completes with its jobs and artifacts.
    fake.advance(Duration::from_secs(700));
    let arts = c
        .get(&format!("/repos/{REPO}/actions/runs/{pr_run}/artifacts"))
        .await
        .json();
    assert_eq!(arts["total_count"], 2);
    let listed = c
        .get(&format!("/repos/{REPO}/actions/runs?event=pull_request"))
        .await
        .json();
    assert_eq!(listed["total_count"], 1);
    assert_eq!(listed["workflow_runs"][0]["id"], pr_run);
}

fn job_rows(jobs: &Value) -> Vec<(String, u64, String, Value)> {
    jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap().into(),
                j["run_attempt"].as_u64().unwrap(),
                j["status"].as_str().unwrap().into(),
                j["conclusion"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn rerun_failed_jobs_starts_a_new_attempt() {
    let (fake, c) = start_with_identities(FakeConfig::default()).await;
    let run_id = dispatch(&c, "rr").await;
    let run_path = format!("/repos/{REPO}/actions/runs/{run_id}");
    let rerun_path = format!("{run_path}/rerun-failed-jobs");

    // Not completed yet: GitHub refuses with 403.
    let early = c.post(&rerun_path, &json!({})).await;
    assert_eq!(early.status, 403);
    assert_eq!(early.json()["message"], "This workflow is already running");
    assert_eq!(
        c.post(
            &format!("/repos/{REPO}/actions/runs/1/rerun-failed-jobs"),
            &json!({})
        )
        .await
        .status,
        404
    );

    fake.advance(Duration::from_secs(700));
    let first = c.get(&run_path).await.json();
    assert_eq!(first["conclusion"], "failure");
    let first_started = first["run_started_at"].clone();

    // s1 failed in attempt 1; it fails once more, then succeeds.
    fake.state()
        .lock()
        .unwrap()
        .set_rerun_conclusion("s1", Conclusion::Failure);
    fake.advance(Duration::from_secs(100));
    let rerun = c.as_token(PAT2).post(&rerun_path, &json!({})).await;
    assert_eq!(rerun.status, 201);
    let rerun = rerun.json();
    assert_eq!(rerun, json!({}));
    assert_openapi(
        "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
        "post",
        201,
        &rerun,
    );
    let run = c.get(&run_path).await.json();
    assert_eq!(run["run_attempt"], 2);
    assert_eq!(run["status"], "queued");
    assert_eq!(run["conclusion"], Value::Null);
    assert_ne!(run["run_started_at"], first_started);
    assert_eq!(run["actor"]["login"], "outrun-tester");
    assert_eq!(run["triggering_actor"]["login"], "collab");
    assert!(
        run["previous_attempt_url"]
            .as_str()
            .unwrap()
            .ends_with("/attempts/1")
    );
    assert_openapi(
        "/repos/{owner}/{repo}/actions/runs/{run_id}",
        "get",
        200,
        &run,
    );

    // latest: plan and s0 from attempt 1, s1 from attempt 2; all: every execution.
    let latest = c.get(&format!("{run_path}/jobs")).await.json();
    assert_eq!(
        job_rows(&latest),
        vec![
            ("plan".into(), 1, "completed".into(), json!("success")),
            ("s0".into(), 1, "completed".into(), json!("success")),
            ("s1".into(), 2, "queued".into(), Value::Null),
        ]
    );
    assert_openapi(
        "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
        "get",
        200,
        &latest,
    );
    let all = c.get(&format!("{run_path}/jobs?filter=all")).await.json();
    assert_eq!(all["total_count"], 4);
    assert_eq!(
        job_rows(&all)[2],
        ("s1".into(), 1, "completed".into(), json!("failure"))
    );
    assert_ne!(
        latest["jobs"][2]["id"], all["jobs"][2]["id"],
        "a re-run job has a new id"
    );

    fake.advance(Duration::from_secs(30));
    assert_eq!(c.get(&run_path).await.json()["status"], "in_progress");
    fake.advance(Duration::from_secs(300));
    let run = c.get(&run_path).await.json();
    assert_eq!(
        (run["status"].as_str(), run["conclusion"].as_str()),
        (Some("completed"), Some("failure"))
    );
    let arts = c
        .get(&format!("{run_path}/artifacts?per_page=100"))
        .await
        .json();
    let mut names: Vec<&str> = arts["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "outrun-demo-s0-a1",
            "outrun-demo-s1-a1",
            "outrun-demo-s1-a2"
        ]
    );

    // Attempt 3: s1 succeeds now, so the run does.
    fake.state()
        .lock()
        .unwrap()
        .set_rerun_conclusion("s1", Conclusion::Success);
    assert_eq!(c.post(&rerun_path, &json!({})).await.status, 201);
    fake.advance(Duration::from_secs(400));
    let run = c.get(&run_path).await.json();
    assert_eq!(
        (run["run_attempt"].as_u64(), run["conclusion"].as_str()),
        (Some(3), Some("success"))
    );
    let arts = c
        .get(&format!("{run_path}/artifacts?name=outrun-demo-s1-a3"))
        .await
        .json();
    assert_eq!(arts["total_count"], 1);
    // Nothing failed any more: 201, and no new attempt.
    assert_eq!(c.post(&rerun_path, &json!({})).await.status, 201);
    assert_eq!(c.get(&run_path).await.json()["run_attempt"], 3);

    // Each attempt as it was.
    for (n, conclusion) in [(1, "failure"), (2, "failure"), (3, "success")] {
        let a = c.get(&format!("{run_path}/attempts/{n}")).await.json();
        assert_eq!(a["run_attempt"], n);
        assert_eq!(a["id"], run_id);
        assert_eq!(
            (a["status"].as_str(), a["conclusion"].as_str()),
            (Some("completed"), Some(conclusion))
        );
        assert_openapi(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}",
            "get",
            200,
            &a,
        );
    }
    assert_eq!(
        c.get(&format!("{run_path}/attempts/1")).await.json()["run_started_at"],
        first_started
    );
    assert_eq!(c.get(&format!("{run_path}/attempts/4")).await.status, 404);
}

#[tokio::test]
async fn rerun_after_a_cancel_reruns_the_cut_jobs() {
    let (fake, c) = start().await;
    let run_id = dispatch(&c, "cx").await;
    let run_path = format!("/repos/{REPO}/actions/runs/{run_id}");
    // Cancel while the plan job runs: no shard job ever existed.
    fake.advance(Duration::from_secs(40));
    assert_eq!(
        c.post(&format!("{run_path}/cancel"), &json!({}))
            .await
            .status,
        202
    );
    assert_eq!(c.get(&run_path).await.json()["conclusion"], "cancelled");
    assert_eq!(
        c.post(&format!("{run_path}/rerun-failed-jobs"), &json!({}))
            .await
            .status,
        201
    );
    fake.advance(Duration::from_secs(700));
    let run = c.get(&run_path).await.json();
    assert_eq!(
        (run["run_attempt"].as_u64(), run["conclusion"].as_str()),
        (Some(2), Some("success"))
    );
    let latest = job_rows(&c.get(&format!("{run_path}/jobs")).await.json());
    assert_eq!(latest.len(), 3);
    assert!(
        latest.iter().all(|j| j.1 == 2 && j.3 == "success"),
        "{latest:?}"
    );
    let first = c.get(&format!("{run_path}/attempts/1")).await.json();
    assert_eq!(first["conclusion"], "cancelled");
}

// ---------- git data API, contents, pull requests ----------

#[tokio::test]
async fn a_commit_lands_through_the_git_data_api() {
    let (fake, c) = start().await;
    let seeded = fake.state().lock().unwrap().seed_files(
        REPO,
        "main",
        &[("results/a.csv", b"x\n1\n"), ("docs/keep.md", b"keep")],
    );
    let head = c.get(&format!("/repos/{REPO}/git/ref/heads/main")).await;
    assert_eq!(head.status, 200);
    let head = head.json();
    assert_eq!(head["object"]["sha"], seeded);
    assert_openapi("/repos/{owner}/{repo}/git/ref/{ref}", "get", 200, &head);
    assert_eq!(
        c.get(&format!("/repos/{REPO}/git/ref/heads/nope/x"))
            .await
            .status,
        404
    );

    let parent = c
        .get(&format!("/repos/{REPO}/git/commits/{seeded}"))
        .await
        .json();
    assert_openapi(
        "/repos/{owner}/{repo}/git/commits/{commit_sha}",
        "get",
        200,
        &parent,
    );
    let base_tree = parent["tree"]["sha"].as_str().unwrap().to_string();

    let blob = c
        .post(
            &format!("/repos/{REPO}/git/blobs"),
            &json!({ "content": "AAEC/w==", "encoding": "base64" }),
        )
        .await;
    assert_eq!(blob.status, 201);
    let blob = blob.json();
    assert_openapi("/repos/{owner}/{repo}/git/blobs", "post", 201, &blob);
    let blob_sha = blob["sha"].as_str().unwrap().to_string();
    assert_eq!(blob_sha.len(), 40);
    let got = c
        .get(&format!("/repos/{REPO}/git/blobs/{blob_sha}"))
        .await
        .json();
    assert_openapi(
        "/repos/{owner}/{repo}/git/blobs/{file_sha}",
        "get",
        200,
        &got,
    );
    assert_eq!(got["content"], "AAEC/w==\n");

    let tree = c
        .post(
            &format!("/repos/{REPO}/git/trees"),
            &json!({ "base_tree": base_tree, "tree": [
                { "path": "results/b.bin", "mode": "100644", "type": "blob", "sha": blob_sha },
                { "path": "results/c.txt", "mode": "100644", "type": "blob", "content": "hello\n" },
                { "path": "docs/keep.md", "mode": "100644", "type": "blob", "sha": null },
            ]}),
        )
        .await;
    assert_eq!(tree.status, 201);
    let tree = tree.json();
    assert_openapi("/repos/{owner}/{repo}/git/trees", "post", 201, &tree);
    let top: Vec<(&str, &str)> = tree["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(top, [("README.md", "blob"), ("results", "tree")]);
    let tree_sha = tree["sha"].as_str().unwrap().to_string();
    let rec = c
        .get(&format!("/repos/{REPO}/git/trees/{tree_sha}?recursive=1"))
        .await
        .json();
    assert_openapi(
        "/repos/{owner}/{repo}/git/trees/{tree_sha}",
        "get",
        200,
        &rec,
    );
    let paths: Vec<&str> = rec["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "README.md",
            "results",
            "results/a.csv",
            "results/b.bin",
            "results/c.txt"
        ]
    );
    // A subtree's sha reads back.
    let sub = top_sha(&tree, "results");
    assert_eq!(
        c.get(&format!("/repos/{REPO}/git/trees/{sub}"))
            .await
            .json()["tree"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let commit = c
        .post(
            &format!("/repos/{REPO}/git/commits"),
            &json!({ "message": "Add results", "tree": tree_sha, "parents": [seeded] }),
        )
        .await;
    assert_eq!(commit.status, 201);
    let commit = commit.json();
    assert_openapi("/repos/{owner}/{repo}/git/commits", "post", 201, &commit);
    let commit_sha = commit["sha"].as_str().unwrap().to_string();

    // A commit that does not descend from main's head is not a fast forward, unless forced.
    let stray = c
        .post(
            &format!("/repos/{REPO}/git/commits"),
            &json!({ "message": "stray", "tree": tree_sha, "parents": [] }),
        )
        .await
        .json()["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = c
        .patch(
            &format!("/repos/{REPO}/git/refs/heads/main"),
            &json!({ "sha": stray }),
        )
        .await;
    assert_eq!(refused.status, 422);
    let refused = refused.json();
    assert_eq!(refused["message"], "Update is not a fast forward");
    assert_openapi(
        "/repos/{owner}/{repo}/git/refs/{ref}",
        "patch",
        422,
        &refused,
    );
    let moved = c
        .patch(
            &format!("/repos/{REPO}/git/refs/heads/main"),
            &json!({ "sha": commit_sha }),
        )
        .await;
    assert_eq!(moved.status, 200);
    assert_openapi(
        "/repos/{owner}/{repo}/git/refs/{ref}",
        "patch",
        200,
        &moved.json(),
    );

    // A branch with a slash in its name.
    let made = c
        .post(
            &format!("/repos/{REPO}/git/refs"),
            &json!({ "ref": "refs/heads/outrun/results-1", "sha": stray }),
        )
        .await;
    assert_eq!(made.status, 201);
    assert_openapi("/repos/{owner}/{repo}/git/refs", "post", 201, &made.json());
    let dup = c
        .post(
            &format!("/repos/{REPO}/git/refs"),
            &json!({ "ref": "refs/heads/outrun/results-1", "sha": stray }),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.json()["message"], "Reference already exists");
    assert_eq!(
        c.get(&format!("/repos/{REPO}/git/ref/heads/outrun/results-1"))
            .await
            .json()["object"]["sha"],
        stray
    );
    let forced = c
        .patch(
            &format!("/repos/{REPO}/git/refs/heads/outrun/results-1"),
            &json!({ "sha": seeded, "force": true }),
        )
        .await;
    assert_eq!(forced.status, 200);

    // What landed, through the state and through /contents.
    {
        let st = fake.state();
        let st = st.lock().unwrap();
        assert_eq!(
            st.branch_head(REPO, "main").as_deref(),
            Some(commit_sha.as_str())
        );
        assert_eq!(
            st.file_at(REPO, "main", "results/b.bin").unwrap(),
            [0, 1, 2, 255]
        );
        assert_eq!(
            st.file_at(REPO, "main", "results/c.txt").unwrap(),
            b"hello\n"
        );
        assert!(st.file_at(REPO, "main", "docs/keep.md").is_none());
        assert_eq!(st.file_at(REPO, &seeded, "docs/keep.md").unwrap(), b"keep");
    }
    let file = c
        .get(&format!("/repos/{REPO}/contents/results/c.txt?ref=main"))
        .await
        .json();
    assert_openapi("/repos/{owner}/{repo}/contents/{path}", "get", 200, &file);
    assert_eq!(file["content"], "aGVsbG8K\n");
    assert_eq!(file["encoding"], "base64");
    let raw = c
        .send(
            c.authed(
                reqwest::Method::GET,
                &format!("/repos/{REPO}/contents/results/b.bin"),
            )
            .header("accept", "application/vnd.github.raw+json"),
        )
        .await;
    assert_eq!((raw.status, raw.body.clone()), (200, vec![0, 1, 2, 255]));
    let missing = c
        .get(&format!("/repos/{REPO}/contents/docs/keep.md?ref=main"))
        .await;
    assert_eq!(missing.status, 404);
    assert_openapi(
        "/repos/{owner}/{repo}/contents/{path}",
        "get",
        404,
        &missing.json(),
    );
    assert_eq!(
        c.get(&format!("/repos/{REPO}/contents/docs/keep.md?ref={seeded}"))
            .await
            .status,
        200
    );

    // A dispatched run checks out the branch head.
    let run_id = dispatch(&c, "sha").await;
    assert_eq!(
        c.get(&format!("/repos/{REPO}/actions/runs/{run_id}"))
            .await
            .json()["head_sha"],
        commit_sha
    );
}

fn top_sha(tree: &Value, path: &str) -> String {
    tree["tree"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap()["sha"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn pull_requests_create_list_close_and_refusals() {
    let (fake, c) = start_with_identities(FakeConfig::default()).await;
    let pulls = format!("/repos/{REPO}/pulls");
    let no_branch = c
        .post(
            &pulls,
            &json!({ "title": "t", "head": "outrun/r1", "base": "main" }),
        )
        .await;
    assert_eq!(no_branch.status, 422);
    assert_openapi(
        "/repos/{owner}/{repo}/pulls",
        "post",
        422,
        &no_branch.json(),
    );
    let head_sha = fake
        .state()
        .lock()
        .unwrap()
        .seed_files(REPO, "outrun/r1", &[("r.csv", b"1")]);

    let made = c
        .as_token(GHS)
        .post(&pulls, &json!({ "title": "Results r1", "head": "octo:outrun/r1", "base": "main", "body": "table" }))
        .await;
    assert_eq!(made.status, 201);
    let pr = made.json();
    assert_openapi("/repos/{owner}/{repo}/pulls", "post", 201, &pr);
    assert_eq!(
        made.header("location").unwrap(),
        pr["url"].as_str().unwrap()
    );
    assert_eq!(
        (pr["number"].as_u64(), pr["state"].as_str()),
        (Some(1), Some("open"))
    );
    assert_eq!(pr["head"]["ref"], "outrun/r1");
    assert_eq!(pr["head"]["sha"], head_sha);
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["user"]["login"], "github-actions[bot]");
    assert!(
        pr["html_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{REPO}/pull/1"))
    );

    let dup = c
        .post(
            &pulls,
            &json!({ "title": "again", "head": "outrun/r1", "base": "main" }),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.json()["errors"][0]["message"],
        "A pull request already exists for octo:outrun/r1."
    );

    let listed = c
        .get(&format!("{pulls}?state=open&head=octo:outrun/r1"))
        .await
        .json();
    assert_openapi("/repos/{owner}/{repo}/pulls", "get", 200, &listed);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        c.get(&format!("{pulls}?head=octo:other")).await.json(),
        json!([])
    );
    let one = c.get(&format!("{pulls}/1")).await.json();
    assert_openapi(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        "get",
        200,
        &one,
    );

    let closed = c
        .patch(
            &format!("{pulls}/1"),
            &json!({ "state": "closed", "title": "Old results" }),
        )
        .await;
    assert_eq!(closed.status, 200);
    let closed = closed.json();
    assert_openapi(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        "patch",
        200,
        &closed,
    );
    assert_eq!(
        (closed["state"].as_str(), closed["title"].as_str()),
        (Some("closed"), Some("Old results"))
    );
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        c.get(&format!("{pulls}?state=open")).await.json(),
        json!([])
    );
    assert_eq!(
        c.get(&format!("{pulls}?state=all"))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        fake.state().lock().unwrap().pulls_of(REPO)[0].state,
        "closed"
    );
    assert_eq!(c.get(&format!("{pulls}/9")).await.status, 404);

    // With "Allow GitHub Actions to create and approve pull requests" off.
    let (fake, c) = start_with_identities(FakeConfig {
        actions_can_create_prs: false,
        ..Default::default()
    })
    .await;
    fake.state()
        .lock()
        .unwrap()
        .seed_files(REPO, "outrun/r2", &[("r.csv", b"2")]);
    let refused = c
        .as_token(GHS)
        .post(
            &pulls,
            &json!({ "title": "t", "head": "outrun/r2", "base": "main" }),
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = refused.json();
    assert_eq!(
        refused["message"],
        "GitHub Actions is not permitted to create or approve pull requests."
    );
    assert_openapi("/repos/{owner}/{repo}/pulls", "post", 403, &refused);
    // A person's token still may.
    assert_eq!(
        c.post(
            &pulls,
            &json!({ "title": "t", "head": "outrun/r2", "base": "main" })
        )
        .await
        .status,
        201
    );
}
