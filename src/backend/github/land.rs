//! Landing: the workflow's final job puts the dataset change where the experiment asks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dataset::{self, ledger};
use crate::experiment::{self, Plan};
use crate::github_api::{Client, GithubError, LandingBranch, LandingPull, Run};
use crate::names;
use crate::pipeline;
use crate::report::Report;

use super::types::{CollectArgs, Fetched};
use super::{RemoteError, io};

/// Merges the fetched outputs into the dataset and ledger in `root` (the one collect path,
/// without its comment: [`collect`] posts it once landing has added its note).
pub(super) async fn merge_here(
    root: &Path,
    plan: &Plan,
    run: &Run,
    fetched: &Fetched,
    keep_report: bool,
) -> Result<pipeline::Finished, RemoteError> {
    Ok(pipeline::finish(pipeline::Finish {
        root,
        plan,
        outputs: fetched.outputs.clone(),
        provenance: &fetched.provenance,
        missing: fetched.missing.clone(),
        refused: fetched.refused.clone(),
        merge: true,
        report_file: keep_report.then(|| {
            root.join(names::DOWNLOADS_DIR)
                .join(run.id.to_string())
                .join("report.md")
        }),
    })
    .await?)
}

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
/// For a pull request the landing starts from the default branch's tip and carries every run
/// waiting to land (see [`land_pull`]), so the order runs finish in never matters; for
/// `branch`, it goes on the branch's head. The new commit only ever fast-forwards: when
/// someone moved the branch in between, the merge is redone on the new head (retry).
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
    opts: &CollectArgs,
) -> Result<(pipeline::Finished, Landed, String), RemoteError> {
    let files = landed_files(plan);
    let kept = if opts.in_run || plan.file.github.land == experiment::Land::Artifact {
        None
    } else {
        Some(Kept::save(root, &files)?)
    };
    let landing = Landing {
        root,
        client,
        plan,
        run,
        fetched,
        opts,
        files: &files,
    };
    let landed = land_on_github(&landing).await;
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

/// One landing: the run, what was fetched of it, how it was asked for and the files that land;
/// every step of the landing reads these.
#[derive(Clone, Copy)]
struct Landing<'a> {
    root: &'a Path,
    client: &'a Client,
    plan: &'a Plan,
    run: &'a Run,
    fetched: &'a Fetched,
    opts: &'a CollectArgs,
    files: &'a [PathBuf],
}

async fn land_on_github(
    l: &Landing<'_>,
) -> Result<(pipeline::Finished, Landed, String), RemoteError> {
    let default = l.client.default_branch().await?;
    let (finished, landed) = if l.plan.file.github.land == experiment::Land::PullRequest {
        land_pull(l, &default).await?
    } else {
        land_branch(l, &default).await?
    };
    let mut markdown = finished.markdown.clone();
    if let Some(note) = landing_note(&landed, &default) {
        markdown = crate::report::with_note(&markdown, &note);
    }
    Ok((finished, landed, markdown))
}

/// Reads `files` at `sha` into `root` (absent files removed); returns their bytes.
async fn files_at(
    root: &Path,
    client: &Client,
    files: &[PathBuf],
    sha: &str,
) -> Result<Vec<Option<Vec<u8>>>, RemoteError> {
    let mut out = Vec::new();
    for f in files {
        let bytes = client.file_at(&f.to_string_lossy(), sha).await?;
        put_file(&root.join(f), bytes.as_deref())?;
        out.push(bytes);
    }
    Ok(out)
}

/// The files in `root` as they are now.
fn files_here(root: &Path, files: &[PathBuf]) -> Result<Vec<Option<Vec<u8>>>, RemoteError> {
    files
        .iter()
        .map(|f| match std::fs::read(root.join(f)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&root.join(f))(e)),
        })
        .collect()
}

/// Commits `files` from `root` on top of `parents` (the first one's tree as the base).
async fn commit_files(
    root: &Path,
    client: &Client,
    files: &[PathBuf],
    message: &str,
    parents: &[String],
) -> Result<String, RemoteError> {
    let mut tree_files = Vec::new();
    for f in files {
        let bytes = std::fs::read(root.join(f)).map_err(io(&root.join(f)))?;
        tree_files.push((
            f.to_string_lossy().into_owned(),
            client.create_blob(&bytes).await?,
        ));
    }
    let tree = client
        .create_tree(&client.commit_tree(&parents[0]).await?, &tree_files)
        .await?;
    Ok(client.create_commit(message, &tree, parents).await?)
}

fn commit_message(plan: &Plan, run: &Run, finished: &pipeline::Finished) -> String {
    format!(
        "outrun: {} run {} ({} of {} cells ok)\n\n{}",
        plan.name(),
        run.id,
        finished.report.summary.ok,
        finished.report.summary.cells,
        run.html_url
    )
}

fn kept_moving(run: &Run) -> RemoteError {
    RemoteError::Github(GithubError::Decode {
        path: format!("branch of run {}", run.id),
        message: "it kept moving while the results were being landed (5 tries)".into(),
    })
}

/// `land: branch` (a commit on the branch's head) and `land: artifact` (nothing committed).
async fn land_branch(
    l: &Landing<'_>,
    default: &str,
) -> Result<(pipeline::Finished, Landed), RemoteError> {
    let Landing {
        root,
        client,
        plan,
        run,
        fetched,
        files,
        ..
    } = *l;
    let mut landed = Landed::default();
    for _ in 0..5 {
        if plan.file.github.land == experiment::Land::Artifact {
            landed.how = LandedHow::Artifact;
            return Ok((merge_here(root, plan, run, fetched, false).await?, landed));
        }
        let branch = plan
            .file
            .github
            .branch
            .clone()
            .unwrap_or_else(|| default.to_string());
        // A branch that does not exist yet starts from the default branch.
        let (base_sha, create) = match client.branch_sha(&branch).await? {
            Some(h) => (Some(h), false),
            None => (client.branch_sha(default).await?, true),
        };
        if let Some(sha) = &base_sha {
            files_at(root, client, files, sha).await?;
        }
        let finished = merge_here(root, plan, run, fetched, false).await?;
        let changed = finished.merge.as_ref().is_some_and(|m| m.changed) || finished.ledger_changed;
        let Some(base_sha) = base_sha else {
            return Ok((finished, landed));
        };
        if !changed {
            landed.branch = Some(branch);
            return Ok((finished, landed));
        }
        let message = commit_message(plan, run, &finished);
        let commit = commit_files(root, client, files, &message, &[base_sha]).await?;
        let pushed = if create {
            client.create_branch(&branch, &commit).await?
        } else {
            client.fast_forward(&branch, &commit).await?
        };
        if !pushed {
            continue; // the branch moved (or appeared) meanwhile: merge again on its new head
        }
        landed.branch = Some(branch);
        landed.commit = Some(commit);
        landed.how = LandedHow::Branch;
        return Ok((finished, landed));
    }
    Err(kept_moving(run))
}

/// `land: pull_request`: a landing is a function of the default branch and the set of runs
/// waiting to land, never of the order they finished in. It starts from the default branch's
/// tip, takes in the rows and ledger entries of every run on a landing branch
/// `outrun/NAME/*` that is not in the default branch's ledger (read from those branches, the
/// rows outrun merged there), merges this run on top, and commits that on the run's own
/// landing branch with the default branch's tip as first parent (and the branch's earlier head,
/// if an earlier attempt made one, as second: the push stays a fast-forward). Its pull request
/// therefore contains the default branch, carries every waiting run and merges without
/// conflict; every other open landing pull request of the experiment whose runs it carries is
/// closed, once this one is open. A landing branch that appears meanwhile (another run
/// landing at the same moment), or a default branch that moves meanwhile, makes it land again.
async fn land_pull(
    l: &Landing<'_>,
    default: &str,
) -> Result<(pipeline::Finished, Landed), RemoteError> {
    let Landing {
        root,
        client,
        plan,
        run,
        fetched,
        opts,
        files,
    } = *l;
    let own = names::landing_branch(plan.name(), run.id);
    let ledger_rel = ledger::path_for(&plan.dataset_path());
    for _ in 0..5 {
        let (default_sha, on_default) = default_tip(client, plan, default).await?;
        let run_waits = !on_default.contains(&run.id.to_string());
        let base = files_at(root, client, files, &default_sha).await?;
        // The landing branches whose run is not on the default branch, newest first.
        let mut waiting = waiting_branches(client, plan, &on_default).await?;
        waiting.sort_by_key(|w| std::cmp::Reverse(w.run_id));
        let own_sha = waiting
            .iter()
            .find(|w| w.run_id == run.id)
            .map(|w| w.head.clone());
        let (holds, own_files) = take_in_waiting(l, &waiting, &on_default, &own).await?;
        let finished = merge_here(root, plan, run, fetched, false).await?;
        let now = files_here(root, files)?;
        let own_now = match (&own_files, &own_sha, run_waits) {
            (Some(o), Some(sha), true) => Some((o.as_slice(), sha.as_str())),
            _ => None,
        };
        let changed = changes_anything(
            client,
            own_now,
            &default_sha,
            (now.as_slice(), base.as_slice()),
            &finished,
        )
        .await?;
        if !changed {
            return Ok((finished, nothing_new(client, &own).await?));
        }
        let message = commit_message(plan, run, &finished);
        let mut parents = vec![default_sha.clone()];
        parents.extend(own_sha.clone());
        let commit = commit_files(root, client, files, &message, &parents).await?;
        let pushed = match &own_sha {
            Some(_) => client.fast_forward(&own, &commit).await?,
            None => client.create_branch(&own, &commit).await?,
        };
        if !pushed {
            continue; // the branch moved (or appeared) meanwhile: land again on what is there now
        }
        let ours: BTreeSet<String> = ledger::read(&root.join(&ledger_rel))?
            .into_iter()
            .map(|e| e.run_id)
            .collect();
        if moved_meanwhile(l, &holds, (&ours, &on_default), (default, &default_sha)).await? {
            continue;
        }
        let mut landed = Landed {
            branch: Some(own.clone()),
            commit: Some(commit),
            how: LandedHow::PullRequest,
            ..Landed::default()
        };
        landed.carries = ours
            .iter()
            .filter(|id| !on_default.contains(*id))
            .filter_map(|id| id.parse().ok())
            .filter(|id| *id != run.id)
            .collect();
        let open = client.landing_pulls(plan.name()).await?;
        // Every other open landing pull request of the experiment whose runs this one carries
        // (or that are on the default branch already).
        let superseded = superseded(&open, &own, (&ours, &on_default), &holds);
        let pull = Pull {
            open: &open,
            branch: &own,
            base: default,
            report: &finished.report,
            issue: opts.issue,
            stacked: &superseded,
        };
        open_pull(client, plan, run, &pull, &mut landed).await?;
        // Only once the pull request that carries their rows exists: closing them before
        // would leave those rows on branches nobody is asked to merge.
        if landed.pull_url.is_some() {
            for n in superseded {
                client.close_pull(n).await?;
                landed.superseded.push(n);
            }
        }
        return Ok((finished, landed));
    }
    Err(kept_moving(run))
}

/// The default branch's tip, and the runs its ledger holds.
async fn default_tip(
    client: &Client,
    plan: &Plan,
    default: &str,
) -> Result<(String, BTreeSet<String>), RemoteError> {
    let Some(default_sha) = client.branch_sha(default).await? else {
        return Err(RemoteError::Github(GithubError::Decode {
            path: format!("branch {default}"),
            message: "the default branch does not exist".into(),
        }));
    };
    let on_default: BTreeSet<String> = ledger_at(client, plan, &default_sha)
        .await?
        .into_iter()
        .map(|e| e.run_id)
        .collect();
    Ok((default_sha, on_default))
}

/// Landing branch → the runs its ledger holds that are not on the default branch.
type Holds = BTreeMap<String, BTreeSet<String>>;

/// The bytes of the landed files, in `landed_files` order (`None`: absent).
type Files = Vec<File>;

/// One landed file's bytes (`None`: absent).
type File = Option<Vec<u8>>;

/// The runs each waiting landing branch holds (its ledger), by branch; the ledger entries and
/// rows of those not taken in yet go into this checkout (newest branch first). Also returns the
/// run's own branch's ledger and dataset, when it waits already.
async fn take_in_waiting(
    l: &Landing<'_>,
    waiting: &[LandingBranch],
    on_default: &BTreeSet<String>,
    own: &str,
) -> Result<(Holds, Option<Files>), RemoteError> {
    let Landing {
        root, client, plan, ..
    } = *l;
    let ledger_rel = ledger::path_for(&plan.dataset_path());
    let data_rel = plan.dataset_path();
    let mut holds = Holds::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut own_files = None;
    for LandingBranch {
        name: branch,
        head: sha,
        ..
    } in waiting
    {
        let ledger_bytes = client.file_at(&ledger_rel.to_string_lossy(), sha).await?;
        let entries = match &ledger_bytes {
            Some(b) => ledger::parse(b.as_slice(), &ledger_rel)?,
            None => Vec::new(),
        };
        let runs: BTreeSet<String> = entries
            .iter()
            .map(|e| e.run_id.clone())
            .filter(|id| !on_default.contains(id))
            .collect();
        let new: BTreeSet<String> = runs.difference(&taken).cloned().collect();
        let need_data = !new.is_empty() || *branch == own;
        let data = if need_data {
            client.file_at(&data_rel.to_string_lossy(), sha).await?
        } else {
            None
        };
        if *branch == own {
            own_files = Some(vec![ledger_bytes, data.clone()]);
        }
        if !new.is_empty() {
            let path = root.join(&ledger_rel);
            for e in entries.into_iter().filter(|e| new.contains(&e.run_id)) {
                ledger::record(&path, e)?;
            }
            if let Some(d) = &data {
                dataset::absorb(root, plan, d, &new)?;
            }
            taken.extend(new);
        }
        holds.insert(branch.clone(), runs);
    }
    Ok((holds, own_files))
}

/// A landing that changes nothing: the run's branch (and its open pull request, if any)
/// already holds what it would land.
async fn nothing_new(client: &Client, own: &str) -> Result<Landed, RemoteError> {
    Ok(Landed {
        how: LandedHow::None,
        branch: Some(own.to_string()),
        pull_url: client
            .open_pulls()
            .await?
            .into_iter()
            .find(|p| p.head.name == own)
            .map(|p| p.html_url),
        ..Landed::default()
    })
}

/// Whether the landing changes anything. It is compared with the run's branch where it waits
/// already (`own`: its files and head), else with the default branch (`base`: a run on it
/// already lands nothing more). The run's branch is up to date only with the same files on the
/// default branch's current tip: one built on an older tip could conflict once merged.
async fn changes_anything(
    client: &Client,
    own: Option<(&[File], &str)>,
    default_sha: &str,
    (now, base): (&[File], &[File]),
    finished: &pipeline::Finished,
) -> Result<bool, RemoteError> {
    Ok(match own {
        Some((o, sha)) => {
            o != now
                || client
                    .commit_parents(sha)
                    .await?
                    .first()
                    .map(String::as_str)
                    != Some(default_sha)
        }
        None => {
            now != base
                && (finished.merge.as_ref().is_some_and(|m| m.changed) || finished.ledger_changed)
        }
    })
}

/// Whether the landing must be done again: another run's landing branch appeared meanwhile
/// (one more waiting run, which this pull request must carry too), or the default branch moved
/// (a pull request merged by hand: land on its new tip, so that the pull request never
/// conflicts with it).
async fn moved_meanwhile(
    l: &Landing<'_>,
    holds: &Holds,
    (ours, on_default): (&BTreeSet<String>, &BTreeSet<String>),
    (default, default_sha): (&str, &str),
) -> Result<bool, RemoteError> {
    let late = waiting_branches(l.client, l.plan, on_default)
        .await?
        .into_iter()
        .any(|w| {
            w.run_id != l.run.id
                && !holds.contains_key(&w.name)
                && !ours.contains(&w.run_id.to_string())
        });
    Ok(late || l.client.branch_sha(default).await?.as_deref() != Some(default_sha))
}

/// Every other open landing pull request of the experiment whose runs this one carries
/// (`ours`), or that are on the default branch already.
fn superseded(
    open: &[LandingPull],
    own: &str,
    (ours, on_default): (&BTreeSet<String>, &BTreeSet<String>),
    holds: &Holds,
) -> Vec<u64> {
    open.iter()
        .filter(|p| p.pull.head.name != own)
        .filter(|p| {
            let id = p.run_id.to_string();
            (ours.contains(&id) || on_default.contains(&id))
                && holds
                    .get(&p.pull.head.name)
                    .is_none_or(|r| r.iter().all(|x| ours.contains(x)))
        })
        .map(|p| p.pull.number)
        .collect()
}

/// The pull request a landing asks for: from `branch` into `base`, unless `open` (the open
/// landing pull requests) has it already; it says which earlier ones (`stacked`) it carries.
struct Pull<'a> {
    open: &'a [LandingPull],
    branch: &'a str,
    base: &'a str,
    report: &'a Report,
    issue: Option<u64>,
    stacked: &'a [u64],
}

/// Opens the pull request for a landed branch (unless one is open already).
async fn open_pull(
    client: &Client,
    plan: &Plan,
    run: &Run,
    pull: &Pull<'_>,
    landed: &mut Landed,
) -> Result<(), RemoteError> {
    let Pull {
        open,
        branch,
        base,
        report,
        issue,
        stacked,
    } = *pull;
    if let Some(p) = open.iter().find(|p| p.pull.head.name == branch) {
        landed.pull_url = Some(p.pull.html_url.clone());
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

/// The landing branches whose run is not in the default branch's ledger (`on_default`): the
/// runs whose rows wait to land.
pub(crate) async fn waiting_branches(
    client: &Client,
    plan: &Plan,
    on_default: &BTreeSet<String>,
) -> Result<Vec<LandingBranch>, RemoteError> {
    let mut all = client.landing_branches(plan.name()).await?;
    all.retain(|b| !on_default.contains(&b.run_id.to_string()));
    Ok(all)
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

/// Whether `run`, at its attempt or a later one, is in `entries`: the GitHub backend's
/// question of a ledger (a local run has no attempt that GitHub could re-run), so it lives here.
pub(crate) fn in_ledger(entries: &[ledger::LedgerEntry], run: &Run) -> bool {
    let id = run.id.to_string();
    entries
        .iter()
        .any(|e| e.run_id == id && e.attempt >= run.attempt())
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
