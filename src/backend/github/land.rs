//! Landing: the workflow's final job puts the dataset change where the experiment asks.

#[allow(unused_imports)]
use super::*;

/// How the dataset change landed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandedHow {
    PullRequest,
    Branch,
    Artifact,
    /// Nothing new to land.
    #[default]
    None,
}

impl LandedHow {
    pub fn as_str(self) -> &'static str {
        match self {
            LandedHow::PullRequest => "pull_request",
            LandedHow::Branch => "branch",
            LandedHow::Artifact => "artifact",
            LandedHow::None => "none",
        }
    }
}

/// What landing did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Landed {
    pub how: LandedHow,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub pull_url: Option<String>,
    /// Earlier outrun pull requests of the experiment whose rows this one carries too, closed.
    pub superseded: Vec<u64>,
    /// What a maintainer must do, when GitHub would not let the job finish (e.g. open the
    /// pull request by hand).
    pub action_needed: Option<String>,
}

/// GitHub's answer when the repository does not let Actions open pull requests.
const NO_PRS_FOR_ACTIONS: &str = "not permitted to create or approve pull requests";

/// The files a landing commits: the dataset and its ledger, relative to the root.
fn landed_files(plan: &Plan) -> Vec<PathBuf> {
    let data = plan.dataset_path();
    vec![ledger::path_for(&data), data]
}

/// Collects the caller's own run (the workflow's final job) and lands the dataset change the
/// way the experiment asks: a pull request from `outrun/NAME/RUN_ID` (default), a commit on
/// `github.branch`, or nothing committed (`artifact`: the workflow uploads the files).
///
/// The change is merged on top of what is already waiting to land, not on top of the run's
/// own commit: for a pull request, on the run's landing branch if an earlier attempt made one,
/// else on the newest open outrun pull request of the experiment (which the new one then
/// supersedes, so no waiting rows are lost), else on the default branch; for `branch`, on the
/// branch's head. The new commit only ever fast-forwards: when someone moved the branch in
/// between, the merge is redone on the new head (rebase and retry).
pub async fn collect_and_land(
    root: &Path,
    client: &Client,
    run: &Run,
    opts: &CollectOptions<'_>,
) -> Result<(Collected, Landed), RemoteError> {
    let plan = plan_of(root, run)?;
    let jobs = client.jobs(run.id).await?;
    let fetched = fetch(root, client, &plan, run, &jobs, opts).await?;
    let files = landed_files(&plan);
    let default = client.default_branch().await?;
    let mut landed = Landed::default();
    let mut done = None;
    for _ in 0..5 {
        // Where to build on, and whether the branch is new.
        let (branch, base, stacked_on) = match plan.file.github.land {
            experiment::Land::Artifact => (None, None, None),
            experiment::Land::Branch => {
                let b = plan
                    .file
                    .github
                    .branch
                    .clone()
                    .unwrap_or_else(|| default.clone());
                let head = client.branch_sha(&b).await?;
                (Some(b), head.map(|h| (h, false)), None)
            }
            experiment::Land::PullRequest => {
                let own = names::landing_branch(plan.name(), run.id);
                match client.branch_sha(&own).await? {
                    Some(h) => (Some(own), Some((h, false)), None),
                    None => {
                        let open: Vec<crate::github_api::PullRequest> = client
                            .open_pulls()
                            .await?
                            .into_iter()
                            .filter(|p| {
                                names::parse_landing_branch(plan.name(), &p.head.name)
                                    .is_some_and(|id| id != run.id)
                            })
                            .collect();
                        let newest = open
                            .into_iter()
                            .max_by_key(|p| names::parse_landing_branch(plan.name(), &p.head.name));
                        match newest {
                            Some(p) => (Some(own), Some((p.head.sha.clone(), true)), Some(p)),
                            None => (
                                Some(own),
                                client.branch_sha(&default).await?.map(|h| (h, true)),
                                None,
                            ),
                        }
                    }
                }
            }
        };
        // For `branch`, a branch that does not exist yet starts from the default branch.
        let (base_sha, create) = match (&base, &branch) {
            (Some((sha, create)), _) => (Some(sha.clone()), *create),
            (None, Some(_)) => (client.branch_sha(&default).await?, true),
            (None, None) => (None, false),
        };
        // The files as they are on the base: the merge goes on top of them.
        if let Some(sha) = &base_sha {
            for f in &files {
                let local = root.join(f);
                match client.file_at(&f.to_string_lossy(), sha).await? {
                    Some(bytes) => crate::fsutil::write_atomic(&local, &bytes)?,
                    None => match std::fs::remove_file(&local) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io(&local)(e)),
                    },
                }
            }
        }
        let finished = pipeline::finish(pipeline::Finish {
            root,
            plan: &plan,
            outputs: fetched.outputs.clone(),
            provenance: &fetched.provenance,
            missing: fetched.missing.clone(),
            refused: fetched.refused.clone(),
            merge: true,
            report_file: None,
            comment: None,
        })
        .await?;
        let changed = finished.merge.as_ref().is_some_and(|m| m.changed) || finished.ledger_changed;
        let (Some(branch), Some(base_sha)) = (branch, base_sha) else {
            landed.how = if plan.file.github.land == experiment::Land::Artifact {
                LandedHow::Artifact
            } else {
                LandedHow::None
            };
            done = Some(finished);
            break;
        };
        if !changed {
            landed.how = LandedHow::None;
            landed.branch = Some(branch);
            done = Some(finished);
            break;
        }
        let mut tree_files = Vec::new();
        for f in &files {
            let bytes = std::fs::read(root.join(f)).map_err(io(&root.join(f)))?;
            tree_files.push((
                f.to_string_lossy().into_owned(),
                client.create_blob(&bytes).await?,
            ));
        }
        let tree = client
            .create_tree(&client.commit_tree(&base_sha).await?, &tree_files)
            .await?;
        let message = format!(
            "outrun: {} run {} ({} of {} cells ok)\n\n{}",
            plan.name(),
            run.id,
            finished.report.summary.ok,
            finished.report.summary.cells,
            run.html_url
        );
        let commit = client.create_commit(&message, &tree, &base_sha).await?;
        let pushed = if create {
            client.create_branch(&branch, &commit).await?
        } else {
            client.fast_forward(&branch, &commit).await?
        };
        if !pushed {
            continue; // the branch moved (or appeared) meanwhile: merge again on its new head
        }
        landed.branch = Some(branch.clone());
        landed.commit = Some(commit);
        landed.how = if plan.file.github.land == experiment::Land::Branch {
            LandedHow::Branch
        } else {
            LandedHow::PullRequest
        };
        if plan.file.github.land == experiment::Land::PullRequest {
            let stacked: Vec<u64> = stacked_on.iter().map(|p| p.number).collect();
            open_pull(
                client,
                &plan,
                run,
                &branch,
                &default,
                &finished.report,
                opts.issue,
                &stacked,
                &mut landed,
            )
            .await?;
            for n in stacked {
                client.close_pull(n).await?;
                landed.superseded.push(n);
            }
        }
        done = Some(finished);
        break;
    }
    let Some(finished) = done else {
        return Err(RemoteError::Github(GithubError::Decode {
            path: format!("branch of run {}", run.id),
            message: "it kept moving while the results were being landed (5 tries)".into(),
        }));
    };
    let mut markdown = finished.markdown.clone();
    if let Some(note) = landing_note(&landed) {
        markdown = crate::report::with_note(&markdown, &note);
    }
    let comment_url = match opts.issue {
        Some(issue) => upsert_comment(client, issue, plan.name(), &markdown).await?,
        None => None,
    };
    Ok((
        Collected::of(&plan, run, fetched, finished, markdown, comment_url),
        landed,
    ))
}

/// Opens the pull request for a landed branch (unless one is open already).
#[allow(clippy::too_many_arguments)]
async fn open_pull(
    client: &Client,
    plan: &Plan,
    run: &Run,
    branch: &str,
    base: &str,
    report: &Report,
    issue: Option<u64>,
    stacked: &[u64],
    landed: &mut Landed,
) -> Result<(), RemoteError> {
    if let Some(p) = client
        .open_pulls()
        .await?
        .into_iter()
        .find(|p| p.head.name == branch)
    {
        landed.pull_url = Some(p.html_url);
        return Ok(());
    }
    let s = &report.summary;
    let title = format!(
        "outrun: {} results of run {} ({} of {} cells ok)",
        plan.name(),
        run.id,
        s.ok,
        s.cells
    );
    let mut body = format!(
        "Results of [run {}]({}) of `{}`, merged into `{}` by outrun.\n\n",
        run.id,
        run.html_url,
        plan.name(),
        plan.dataset_path().display()
    );
    if let Some(i) = issue {
        body.push_str(&format!("For #{i}.\n\n"));
    }
    if !stacked.is_empty() {
        let list: Vec<String> = stacked.iter().map(|n| format!("#{n}")).collect();
        body.push_str(&format!(
            "Also holds the rows of {}, which it supersedes (closed).\n\n",
            list.join(", ")
        ));
    }
    body.push_str(&crate::report::markdown_with_limit(report, 60_000));
    match client.create_pull(&title, branch, base, &body).await {
        Ok(p) => landed.pull_url = Some(p.html_url),
        Err(GithubError::Http {
            status: 403,
            message,
            ..
        }) if message.contains(NO_PRS_FOR_ACTIONS) => {
            landed.action_needed = Some(format!(
                "GitHub does not let this repository's workflows open pull requests. The results are on branch `{branch}`: open its pull request by hand, or allow it once for all runs in Settings → Actions → General → Workflow permissions → \"Allow GitHub Actions to create and approve pull requests\"."
            ));
        }
        Err(GithubError::Ambiguous { .. }) => {
            landed.pull_url = client
                .open_pulls()
                .await?
                .into_iter()
                .find(|p| p.head.name == branch)
                .map(|p| p.html_url);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The line the comment gets about where the results went.
fn landing_note(l: &Landed) -> Option<String> {
    let branch = l.branch.as_deref().unwrap_or("");
    Some(match l.how {
        LandedHow::PullRequest => match (&l.pull_url, &l.action_needed) {
            (Some(u), _) => format!(
                "📥 The dataset change waits in [this pull request]({u}) (branch `{branch}`)."
            ),
            (None, Some(a)) => format!("⚠️ {a}"),
            _ => format!("📥 The dataset change is on branch `{branch}`."),
        },
        LandedHow::Branch => format!("📥 The dataset change was committed to branch `{branch}`."),
        LandedHow::Artifact => {
            "📦 The merged dataset is uploaded as this run's `outrun-dataset` artifact.".into()
        }
        LandedHow::None => return None,
    })
}
