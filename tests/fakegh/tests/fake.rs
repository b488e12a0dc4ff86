//! Tests of the fake itself, over real HTTP on 127.0.0.1.

mod common;

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use common::*;
use fakegh::{BOMB_SIZE, CellSpec, Conclusion, FakeConfig, Fault, Host, Hostile, Match};
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
    assert_eq!(s[1].0, "run (s0)");
    assert_eq!(s[2].0, "run (s1)");
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
        ("run (s0)".into(), "completed".into(), json!("success"))
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
