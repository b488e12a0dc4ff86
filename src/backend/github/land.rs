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
    /// Earlier runs whose rows the landing carries too (not on the default branch yet), oldest
    /// first.
    pub carries: Vec<u64>,
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

/// Lands the dataset change of a fetched run the way the experiment asks: a pull request from
/// `outrun/NAME/RUN_ID` (default), a commit on `github.branch`, or nothing committed
/// (`artifact`: the workflow uploads the files). Returns what the collect path made of the run,
/// how it landed, and the report with a note on where the results went.
///
/// The change is merged on top of what is already waiting to land, not on top of the run's
/// own commit: for a pull request, on the run's landing branch if an earlier attempt made one,
/// else on the newest landing branch of the experiment whose run is not on the default branch
/// yet (whatever became of its pull request), else on the default branch; for `branch`, on the
/// branch's head. The pull requests of the runs it carries are closed only once its own is
/// open. The new commit only ever fast-forwards: when someone moved the branch in between, the
/// merge is redone on the new head (rebase and retry).
///
/// Outside the workflow's own job (`sync`, `collect --land` on a clone) the checkout's own
/// dataset and ledger are kept (the landing builds on the branch's copies, not on them), and
/// the run is then merged into them as `collect` without landing would.
pub(super) async fn land(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    fetched: &Fetched,
    opts: &CollectOptions<'_>,
) -> Result<(pipeline::Finished, Landed, String), RemoteError> {
    let files = landed_files(plan);
    let kept = if opts.in_run || plan.file.github.land == experiment::Land::Artifact {
        None
    } else {
        Some(Kept::save(root, &files)?)
    };
    let landed = land_on_github(root, client, plan, run, fetched, opts, &files).await;
    if let Some(kept) = kept {
        kept.restore(root)?;
        if landed.is_ok() {
            // The checkout gets the run's rows too, as `collect` without landing gives them.
            merge_here(root, plan, run, fetched, true).await?;
        }
    }
    landed
}

/// The checkout's own copies of the landed files, put back after a landing from a clone.
struct Kept(Vec<(PathBuf, Option<Vec<u8>>)>);

impl Kept {
    fn save(root: &Path, files: &[PathBuf]) -> Result<Kept, RemoteError> {
        let mut kept = Vec::new();
        for f in files {
            let path = root.join(f);
            match std::fs::read(&path) {
                Ok(b) => kept.push((f.clone(), Some(b))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => kept.push((f.clone(), None)),
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(Kept(kept))
    }

    fn restore(self, root: &Path) -> Result<(), RemoteError> {
        for (f, bytes) in self.0 {
            put_file(&root.join(f), bytes.as_deref())?;
        }
        Ok(())
    }
}

/// Writes `path` atomically, or removes it (`None`).
fn put_file(path: &Path, bytes: Option<&[u8]>) -> Result<(), RemoteError> {
    match bytes {
        Some(b) => Ok(crate::fsutil::write_atomic(path, b)?),
        None => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(path)(e)),
        },
    }
}

#[allow(clippy::too_many_arguments)]
async fn land_on_github(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    fetched: &Fetched,
    opts: &CollectOptions<'_>,
    files: &[PathBuf],
) -> Result<(pipeline::Finished, Landed, String), RemoteError> {
    let default = client.default_branch().await?;
    // The runs whose rows are on the default branch already (its ledger): what waits to land
    // is every other run on a landing branch.
    let on_default: BTreeSet<String> = if plan.file.github.land == experiment::Land::PullRequest {
        ledger_at(client, plan, &default)
            .await?
            .into_iter()
            .map(|e| e.run_id)
            .collect()
    } else {
        BTreeSet::new()
    };
    let mut landed = Landed::default();
    let mut done = None;
    for _ in 0..5 {
        // Where to build on, and whether the branch is new.
        let (branch, base) = match plan.file.github.land {
            experiment::Land::Artifact => (None, None),
            experiment::Land::Branch => {
                let b = plan
                    .file
                    .github
                    .branch
                    .clone()
                    .unwrap_or_else(|| default.clone());
                let head = client.branch_sha(&b).await?;
                (Some(b), head.map(|h| (h, false)))
            }
            experiment::Land::PullRequest => {
                let own = names::landing_branch(plan.name(), run.id);
                match client.branch_sha(&own).await? {
                    Some(h) => (Some(own), Some((h, false))),
                    // A new branch builds on the rows still waiting to land, wherever the chain
                    // of earlier landings stopped (a pull request GitHub would not open, a
                    // final job cancelled, a pull request closed unmerged), else on the
                    // default branch.
                    None => match waiting_tip(client, plan, &on_default, run.id).await? {
                        Some((_, sha)) => (Some(own), Some((sha, true))),
                        None => (
                            Some(own),
                            client.branch_sha(&default).await?.map(|h| (h, true)),
                        ),
                    },
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
            for f in files {
                let bytes = client.file_at(&f.to_string_lossy(), sha).await?;
                put_file(&root.join(f), bytes.as_deref())?;
            }
        }
        let finished = merge_here(root, plan, run, fetched, false).await?;
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
        for f in files {
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
            landed.carries = carried_runs(root, plan, &on_default, run.id)?;
            let open = client.open_pulls().await?;
            let stacked: Vec<u64> = open
                .iter()
                .filter(|p| {
                    names::parse_landing_branch(plan.name(), &p.head.name)
                        .is_some_and(|id| id != run.id && landed.carries.contains(&id))
                })
                .map(|p| p.number)
                .collect();
            open_pull(
                client,
                &open,
                plan,
                run,
                (&branch, &default),
                &finished.report,
                opts.issue,
                &stacked,
                &mut landed,
            )
            .await?;
            // Only once the pull request that carries their rows exists: closing them before
            // would leave those rows on branches nobody is asked to merge.
            if landed.pull_url.is_some() {
                for n in stacked {
                    client.close_pull(n).await?;
                    landed.superseded.push(n);
                }
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
    if let Some(note) = landing_note(&landed, &default) {
        markdown = crate::report::with_note(&markdown, &note);
    }
    Ok((finished, landed, markdown))
}

/// Opens the pull request for a landed branch (unless one is open already).
#[allow(clippy::too_many_arguments)]
async fn open_pull(
    client: &Client,
    open: &[crate::github_api::PullRequest],
    plan: &Plan,
    run: &Run,
    (branch, base): (&str, &str),
    report: &Report,
    issue: Option<u64>,
    stacked: &[u64],
    landed: &mut Landed,
) -> Result<(), RemoteError> {
    if let Some(p) = open.iter().find(|p| p.head.name == branch) {
        landed.pull_url = Some(p.html_url.clone());
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
    if let Some(line) = carries_line(&landed.carries, base) {
        body.push_str(&line);
        body.push_str("\n\n");
    }
    if !stacked.is_empty() {
        let list: Vec<String> = stacked.iter().map(|n| format!("#{n}")).collect();
        body.push_str(&format!(
            "It supersedes {}, closed once this one is open.\n\n",
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

/// The runs of `experiment` whose rows wait on a landing branch: the landing branches whose run
/// is not in the default branch's ledger (`on_default`). The newest of them (by run id) is the
/// tip the next landing builds on, with its name and head; `except` (the run landing now) is
/// left out.
async fn waiting_tip(
    client: &Client,
    plan: &Plan,
    on_default: &BTreeSet<String>,
    except: u64,
) -> Result<Option<(String, String)>, RemoteError> {
    let mut waiting: Vec<(u64, String, String)> = client
        .branches_starting(&names::landing_prefix(plan.name()))
        .await?
        .into_iter()
        .filter_map(|(b, sha)| {
            let id = names::parse_landing_branch(plan.name(), &b)?;
            (id != except && !on_default.contains(&id.to_string())).then_some((id, b, sha))
        })
        .collect();
    waiting.sort();
    Ok(waiting.pop().map(|(_, b, sha)| (b, sha)))
}

/// The experiment's ledger as it is on `git_ref` (empty when it has none).
pub(crate) async fn ledger_at(
    client: &Client,
    plan: &Plan,
    git_ref: &str,
) -> Result<Vec<ledger::LedgerEntry>, RemoteError> {
    let rel = ledger::path_for(&plan.dataset_path());
    Ok(
        match client.file_at(&rel.to_string_lossy(), git_ref).await? {
            Some(bytes) => ledger::parse(bytes.as_slice(), &rel)?,
            None => Vec::new(),
        },
    )
}

/// The earlier runs a landing carries: those in the merged ledger (in `root`, as built on the
/// landing's base) that are not on the default branch yet, oldest first.
fn carried_runs(
    root: &Path,
    plan: &Plan,
    on_default: &BTreeSet<String>,
    this: u64,
) -> Result<Vec<u64>, RemoteError> {
    let entries = ledger::read(&root.join(ledger::path_for(&plan.dataset_path())))?;
    let ids: BTreeSet<u64> = entries
        .iter()
        .filter(|e| !on_default.contains(&e.run_id))
        .filter_map(|e| e.run_id.parse().ok())
        .filter(|id| *id != this)
        .collect();
    Ok(ids.into_iter().collect())
}

/// "Also carries the rows of runs …": said in the pull request and the comment.
fn carries_line(carries: &[u64], default: &str) -> Option<String> {
    if carries.is_empty() {
        return None;
    }
    let list: Vec<String> = carries.iter().map(u64::to_string).collect();
    Some(format!(
        "It also carries the rows of earlier run{} {}, not on `{default}` yet.",
        if carries.len() == 1 { "" } else { "s" },
        list.join(", ")
    ))
}

/// The line the comment gets about where the results went.
fn landing_note(l: &Landed, default: &str) -> Option<String> {
    let branch = l.branch.as_deref().unwrap_or("");
    let carries = carries_line(&l.carries, default)
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    Some(match l.how {
        LandedHow::PullRequest => match (&l.pull_url, &l.action_needed) {
            (Some(u), _) => format!(
                "📥 The dataset change waits in [this pull request]({u}) (branch `{branch}`).{carries}"
            ),
            (None, Some(a)) => format!("⚠️ {a}{carries}"),
            _ => format!("📥 The dataset change is on branch `{branch}`.{carries}"),
        },
        LandedHow::Branch => format!("📥 The dataset change was committed to branch `{branch}`."),
        LandedHow::Artifact => {
            "📦 The merged dataset is uploaded as this run's `outrun-dataset` artifact.".into()
        }
        LandedHow::None => return None,
    })
}
