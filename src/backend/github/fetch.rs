//! Fetch: artifacts → cell output folders, with the run's provenance.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::contract::{CellRecord, CellStatus, JobProvenance, RunProvenance, Source};
use crate::experiment::{self, Plan};
use crate::github_api::{Artifact, Client, Conclusion, GithubError, Job, Run};
use crate::names::{self, DOWNLOADS_DIR};
use crate::report::Refused;

use super::types::{CollectArgs, Fetched};
use super::{MAX_ARTIFACT_BYTES, RemoteError, io};

/// The run's conclusion while its final job is still running: from the cells' jobs.
fn conclusion_from_jobs(jobs: &[Job]) -> Conclusion {
    if jobs
        .iter()
        .any(|j| j.conclusion == Some(Conclusion::Cancelled))
    {
        Conclusion::Cancelled
    } else if jobs.iter().any(|j| {
        !matches!(
            j.conclusion,
            None | Some(Conclusion::Success | Conclusion::Skipped)
        )
    }) {
        Conclusion::Failure
    } else {
        Conclusion::Success
    }
}

/// Where a run came from and when it started, as GitHub reports the run: no cell's times yet,
/// no wave.
pub(super) fn run_provenance(run: &Run) -> RunProvenance {
    RunProvenance {
        source: Source::Github,
        run_id: run.id.to_string(),
        url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
        run_started_at: run.started_at().to_string(),
        attempt: run.attempt(),
        commit: Some(run.head_sha.clone()).filter(|s| !s.is_empty()),
        event: Some(run.event.clone()),
        git_ref: run.head_branch.clone(),
        conclusion: run.conclusion.as_ref().map(Conclusion::to_string),
        cells: BTreeMap::new(),
        wave: None,
    }
}

/// Where the run came from and when it ran, from GitHub's run and jobs: the commit, the
/// attempt and the times no artifact can change, per job name (the matrix shard). The job's
/// duration is its own start to end; it becomes a cell's only where the job ran that cell alone.
fn provenance(
    run: &Run,
    jobs: &[Job],
    in_run: bool,
) -> (RunProvenance, BTreeMap<String, JobProvenance>) {
    let by_shard = jobs
        .iter()
        .map(|j| {
            let started_at = j.started_at.clone().unwrap_or_default();
            let finished_at = j.completed_at.clone().unwrap_or_default();
            let took = crate::contract::seconds_between(&started_at, &finished_at);
            let p = JobProvenance {
                attempt: j.run_attempt.unwrap_or(run.attempt()),
                duration_s: took,
                job_s: took,
                job: j.name.clone(),
                started_at,
                finished_at,
                runner: j.runner_name.clone().unwrap_or_default(),
            };
            (j.name.clone(), p)
        })
        .collect();
    let mut prov = run_provenance(run);
    if in_run {
        prov.conclusion = Some(conclusion_from_jobs(jobs).to_string());
    }
    (prov, by_shard)
}

/// Which wave of its dispatch `run` is, when the selected cells needed several runs: the
/// `wave` input (or the dispatch record), else the `.wN` its run name ends with, else the wave
/// of the jobs it has; the group from the run's name (`outrun NAME GROUP.wN`; a run started by
/// hand has its own id there).
fn wave_of(
    run: &Run,
    jobs: &[Job],
    opts: &CollectArgs,
    packed: &[crate::workflow::pack::Shard],
) -> Option<crate::contract::WaveOf> {
    let waves = packed.last()?.wave;
    if waves < 2 {
        return None;
    }
    let id = run.outrun_title().map(|(_, id)| id).unwrap_or("");
    let from_title = id.rsplit_once(".w").and_then(|(_, n)| n.parse().ok());
    let from_jobs = jobs
        .iter()
        .find_map(|j| packed.iter().find(|s| s.name == j.name))
        .map(|s| s.wave);
    let wave = opts.wave.or(from_title).or(from_jobs).unwrap_or(1);
    let group = id
        .strip_suffix(&format!(".w{wave}"))
        .unwrap_or(if id.is_empty() { "manual" } else { id });
    let mut cells_per_wave = vec![0; waves];
    for s in packed {
        cells_per_wave[s.wave - 1] += s.cells.len();
    }
    Some(crate::contract::WaveOf {
        wave,
        waves,
        group: group.to_string(),
        cells_per_wave,
    })
}

/// Which wave of its dispatch `run` is, when the cells (its `cells` filter) need several runs,
/// before any of its jobs has run: from the `wave` input, else the run's name.
pub fn wave_before_jobs(
    plan: &Plan,
    run: &Run,
    cells: Option<&str>,
    wave: Option<usize>,
) -> Option<crate::contract::WaveOf> {
    let selected = selection(plan, cells);
    let ids: Vec<&str> = selected.iter().map(|c| c.id.as_str()).collect();
    let packed = crate::workflow::pack::shards(&ids, crate::workflow::max_cells_per_job(plan));
    let opts = CollectArgs {
        wave,
        ..CollectArgs::default()
    };
    wave_of(run, &[], &opts, &packed)
}

/// Cell folders (with a `cell.json`) directly inside an unpacked artifact.
fn cells_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.path().join(crate::contract::CELL_JSON).is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

/// The cells a run was asked to run: its `cells` filter when known, else all of the plan.
fn selection(plan: &Plan, cells: Option<&str>) -> Vec<experiment::Cell> {
    match cells {
        Some(f) if !f.trim().is_empty() => experiment::filter::Filter::parse(f)
            .and_then(|f| f.select(&plan.cells, &plan.param_names()))
            .unwrap_or_else(|_| plan.cells.clone()),
        _ => plan.cells.clone(),
    }
}

/// Fetches the outputs of `run`: the newest attempt's artifact of each job, downloaded and
/// unpacked safely (or, in the workflow's final job, already downloaded into `artifacts_dir`).
/// A hostile or broken artifact is refused with its reason and the others go on. Which cells
/// an artifact may hold follows from its name alone: the job it names, and the cells the plan
/// gave that job (`workflow::pack`, as the workflow packed them); each folder holds the cell it
/// is named for. Nothing inside an artifact decides which cell it is.
pub(crate) async fn fetch(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    jobs: &[Job],
    opts: &CollectArgs,
) -> Result<Fetched, RemoteError> {
    let (mut prov, job_prov) = provenance(run, jobs, opts.in_run);
    let (shards, selected) = jobs_of_run(plan, run, jobs, opts, &mut prov);
    let listed = list_artifacts(client, plan.name(), run, opts.artifacts_dir.as_deref()).await?;
    let mut s = Sorting {
        name: plan.name(),
        shard_cells: shards
            .iter()
            .map(|s| (s.name.as_str(), s.cells.as_slice()))
            .collect(),
        cell_ids: plan.cells.iter().map(|c| (c.id.as_str(), c)).collect(),
        job_prov: &job_prov,
        prov,
        out: Fetched::default(),
        lost: BTreeMap::new(),
        taken: BTreeSet::new(),
    };
    let newest = s.newest_per_job(listed, run);
    s.out.artifacts = newest.len();
    let from = ArtifactsFrom {
        client,
        artifacts_dir: opts.artifacts_dir.as_deref(),
        base: root.join(DOWNLOADS_DIR).join(run.id.to_string()),
    };
    for (shard, (attempt, artifacts)) in &newest {
        s.take(&from, shard, *attempt, artifacts).await?;
    }
    s.account_jobs(jobs);
    s.account_selection(&shards, &selected, jobs, opts.cells.as_deref());
    let Sorting { mut out, prov, .. } = s;
    out.provenance = prov;
    Ok(out)
}

/// The jobs the workflow packed the selection into (`workflow::pack`), of this run's wave only
/// (the other waves' cells are other runs'), and the selected cells they hold; sets the run's
/// wave in `prov`.
fn jobs_of_run(
    plan: &Plan,
    run: &Run,
    jobs: &[Job],
    opts: &CollectArgs,
    prov: &mut RunProvenance,
) -> (Vec<crate::workflow::Shard>, Vec<experiment::Cell>) {
    let selected = selection(plan, opts.cells.as_deref());
    let ids: Vec<&str> = selected.iter().map(|c| c.id.as_str()).collect();
    let packed = crate::workflow::pack::shards(&ids, crate::workflow::max_cells_per_job(plan));
    prov.wave = wave_of(run, jobs, opts, &packed);
    let shards: Vec<crate::workflow::Shard> = packed
        .iter()
        .filter(|s| prov.wave.as_ref().is_none_or(|w| s.wave == w.wave))
        .map(|s| crate::workflow::Shard {
            name: s.name.clone(),
            cells: ids[s.cells.clone()].iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    let mine: BTreeSet<&str> = shards
        .iter()
        .flat_map(|s| s.cells.iter().map(String::as_str))
        .collect();
    let selected = selected
        .iter()
        .filter(|c| mine.contains(c.id.as_str()))
        .cloned()
        .collect();
    (shards, selected)
}

/// An artifact of the run, read once by its name (`outrun-NAME-SHARD-aN`): the job (shard) and
/// the attempt it names, and the artifact on GitHub (`None`: already in `artifacts_dir`).
struct Listed {
    shard: String,
    attempt: u32,
    artifact: Option<Artifact>,
}

impl Listed {
    /// `None` for a name that is not one of the experiment's artifacts: it is passed over.
    fn parse(experiment: &str, name: &str, artifact: Option<Artifact>) -> Option<Listed> {
        let (shard, attempt) = names::parse_artifact(experiment, name)?;
        Some(Listed {
            shard: shard.into(),
            attempt,
            artifact,
        })
    }
}

/// Every artifact of the run per job (shard) and attempt (a re-run uploads `-a2` beside
/// `-a1`): listed on GitHub, or found in `artifacts_dir` (the final job's download).
async fn list_artifacts(
    client: &Client,
    name: &str,
    run: &Run,
    artifacts_dir: Option<&Path>,
) -> Result<Vec<Listed>, RemoteError> {
    Ok(match artifacts_dir {
        Some(dir) => std::fs::read_dir(dir)
            .map_err(io(dir))?
            .flatten()
            .filter_map(|e| Listed::parse(name, &e.file_name().to_string_lossy(), None))
            .collect(),
        None => client
            .artifacts(run.id)
            .await?
            .into_iter()
            .filter_map(|a| Listed::parse(name, &a.name.clone(), Some(a)))
            .collect(),
    })
}

/// Where the artifacts come from: downloaded from GitHub under `base`, or already in
/// `artifacts_dir`.
struct ArtifactsFrom<'a> {
    client: &'a Client,
    artifacts_dir: Option<&'a Path>,
    base: PathBuf,
}

/// A run's artifacts being sorted into cell outputs, refusals and missing cells.
struct Sorting<'a> {
    name: &'a str,
    /// Job (shard) → the cells the plan gave it.
    shard_cells: BTreeMap<&'a str, &'a [String]>,
    cell_ids: BTreeMap<&'a str, &'a experiment::Cell>,
    job_prov: &'a BTreeMap<String, JobProvenance>,
    prov: RunProvenance,
    out: Fetched,
    /// Shard → why its artifact gave nothing (expired, refused).
    lost: BTreeMap<String, String>,
    /// The cells accounted for.
    taken: BTreeSet<String>,
}

type Newest = BTreeMap<String, (u32, Vec<Option<Artifact>>)>;

impl Sorting<'_> {
    /// The artifacts of each job's newest attempt. An artifact named for a job the plan has
    /// not, or for an attempt the run has not had yet, was not uploaded by the workflow's own
    /// step for that job: it is refused.
    fn newest_per_job(&mut self, listed: Vec<Listed>, run: &Run) -> Newest {
        let mut newest = Newest::new();
        for Listed {
            shard,
            attempt,
            artifact,
        } in listed
        {
            let artifact_name = names::artifact_name(self.name, &shard, attempt);
            let why = if !self.shard_cells.contains_key(shard.as_str()) {
                Some(format!(
                    "names job `{shard}`, which the plan of this run has not"
                ))
            } else if attempt > run.attempt().max(1) {
                Some(format!(
                    "names attempt {attempt}, but the run has had {}",
                    run.attempt().max(1)
                ))
            } else {
                None
            };
            if let Some(why) = why {
                self.out.refused.push(Refused {
                    artifact: artifact_name,
                    reason: why,
                });
                continue;
            }
            let entry = newest.entry(shard).or_insert((attempt, Vec::new()));
            if attempt > entry.0 {
                *entry = (attempt, Vec::new());
            }
            if attempt == entry.0 {
                entry.1.push(artifact);
            }
        }
        newest
    }

    /// Takes one job's artifact: downloads and unpacks it when needed, and keeps the cells the
    /// plan gave this job, each in the folder named for it.
    async fn take(
        &mut self,
        from: &ArtifactsFrom<'_>,
        shard: &str,
        attempt: u32,
        artifacts: &[Option<Artifact>],
    ) -> Result<(), RemoteError> {
        let planned = self.shard_cells[shard];
        let artifact_name = names::artifact_name(self.name, shard, attempt);
        if artifacts.len() > 1 {
            self.refuse_twins(&artifact_name, artifacts.len(), planned);
            return Ok(());
        }
        let dir = match (from.artifacts_dir, &artifacts[0]) {
            (Some(d), _) => d.join(&artifact_name),
            (None, Some(a)) => {
                let dest = from.base.join("artifacts").join(&a.name);
                if !dest.is_dir()
                    && let Some(why) = download(from.client, a, &from.base, &dest).await?
                {
                    if why == EXPIRED {
                        self.out.expired.push(a.name.clone());
                    }
                    self.out.refused.push(Refused {
                        artifact: a.name.clone(),
                        reason: why.clone(),
                    });
                    self.lost.insert(shard.to_string(), why);
                    return Ok(());
                }
                dest
            }
            (None, None) => return Ok(()),
        };
        // Only the cells the plan gave this job, each in the folder named for it.
        let found = cells_in(&dir);
        let strangers: Vec<&str> = found
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| !planned.iter().any(|p| p == c))
            .collect();
        if !strangers.is_empty() {
            let why = format!(
                "holds outputs of cells its job did not run ({})",
                strangers.join(", ")
            );
            self.out.refused.push(Refused {
                artifact: artifact_name,
                reason: why.clone(),
            });
            self.lost.insert(shard.to_string(), why);
            return Ok(());
        }
        for (cell, path) in found {
            if let Some(j) = self.job_prov.get(shard) {
                // The job's times are this cell's only when they are of this output's attempt
                // and the job ran nothing else.
                let own = planned.len() == 1 && j.attempt == attempt;
                self.prov.cells.insert(
                    cell.clone(),
                    JobProvenance {
                        attempt: j.attempt.max(attempt),
                        duration_s: j.duration_s.filter(|_| own),
                        job_s: j.job_s.filter(|_| j.attempt == attempt),
                        ..j.clone()
                    },
                );
            }
            self.taken.insert(cell.clone());
            self.out.outputs.push(crate::outputs::Positioned {
                cell,
                dir: path,
                attempt,
            });
        }
        Ok(())
    }

    /// Two uploads under one job's name in one attempt: not the workflow's doing, and neither
    /// can be told to be the real one. Both are refused and the job's cells reported so.
    fn refuse_twins(&mut self, artifact_name: &str, count: usize, planned: &[String]) {
        let why =
            format!("{count} artifacts named `{artifact_name}` in one attempt: none is taken");
        for _ in 0..count {
            self.out.refused.push(Refused {
                artifact: artifact_name.to_string(),
                reason: why.clone(),
            });
        }
        for id in planned {
            if let Some(cell) = self.cell_ids.get(id.as_str()) {
                self.out.missing.push(CellRecord::missing(
                    self.name,
                    cell,
                    CellStatus::Refused,
                    why.clone(),
                    &self.prov,
                ));
                self.taken.insert(id.clone());
            }
        }
    }

    /// Cells whose job ended without output that could be used (cancelled, timed out, runner
    /// lost, artifact expired or refused) are reported, not left out.
    fn account_jobs(&mut self, jobs: &[Job]) {
        for job in jobs {
            let Some(planned) = self.shard_cells.get(job.name.as_str()).copied() else {
                continue;
            };
            if !job.completed() {
                continue;
            }
            for id in planned {
                let Some(cell) = self.cell_ids.get(id.as_str()).copied() else {
                    continue;
                };
                if self.taken.contains(id) {
                    continue;
                }
                let why = match self.lost.get(&job.name) {
                    Some(w) if w == EXPIRED => {
                        "artifact expired: GitHub no longer keeps its outputs".to_string()
                    }
                    Some(w) => format!("artifact refused: {w}"),
                    None => format!(
                        "no output uploaded: job {}",
                        job.conclusion.as_ref().map_or("ended", Conclusion::as_str)
                    ),
                };
                let mut p = self.prov.clone();
                if let Some(j) = self.job_prov.get(&job.name) {
                    let own = planned.len() == 1;
                    p.cells.insert(
                        cell.id.clone(),
                        JobProvenance {
                            duration_s: j.duration_s.filter(|_| own),
                            ..j.clone()
                        },
                    );
                }
                self.taken.insert(id.clone());
                self.out.missing.push(CellRecord::missing(
                    self.name,
                    cell,
                    status_of(job.conclusion.as_ref().map(Conclusion::as_str)),
                    why,
                    &p,
                ));
            }
        }
    }

    /// Every selected cell is accounted for: one whose job the run never created (it ended
    /// early) or never finished is reported too. Only when the selection is known or the run
    /// ended badly: a run of a few cells, collected without its `cells` input, did not skip
    /// the others.
    fn account_selection(
        &mut self,
        shards: &[crate::workflow::Shard],
        selected: &[experiment::Cell],
        jobs: &[Job],
        cells: Option<&str>,
    ) {
        let ended_badly = self
            .prov
            .conclusion
            .as_deref()
            .is_some_and(|c| c != "success");
        let known = cells.is_some_and(|c| !c.trim().is_empty());
        if !(ended_badly || known) {
            return;
        }
        let shard_of: BTreeMap<&str, &str> = shards
            .iter()
            .flat_map(|s| s.cells.iter().map(|c| (c.as_str(), s.name.as_str())))
            .collect();
        for c in selected {
            let running = shard_of
                .get(c.id.as_str())
                .is_some_and(|s| jobs.iter().any(|j| j.name == *s && !j.completed()));
            if self.taken.contains(&c.id) || running {
                continue;
            }
            let why = match self.prov.conclusion.as_deref() {
                Some(c) if c != "success" => format!("not run: the run ended {c}"),
                _ => "not run: the run has no job for it".to_string(),
            };
            self.out.missing.push(CellRecord::missing(
                self.name,
                c,
                status_of(self.prov.conclusion.as_deref()),
                why,
                &self.prov,
            ));
        }
    }
}

/// A cell's status when its job (or the run) ended without its output.
fn status_of(conclusion: Option<&str>) -> CellStatus {
    match conclusion {
        Some("cancelled") | Some("skipped") => CellStatus::Cancelled,
        Some("timed_out") => CellStatus::TimedOut,
        _ => CellStatus::Failed,
    }
}

/// The reason an artifact gave nothing because GitHub no longer has it.
const EXPIRED: &str = "expired";

/// Downloads and unpacks one artifact into `dest`. `Ok(Some(reason))`: the artifact is refused
/// (or expired), and that is the artifact's fault, not the collection's.
async fn download(
    client: &Client,
    a: &Artifact,
    base: &Path,
    dest: &Path,
) -> Result<Option<String>, RemoteError> {
    if a.expired {
        return Ok(Some(EXPIRED.into()));
    }
    let downloads = base.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(io(&downloads))?;
    let zip = downloads.join(format!("{}.zip", a.name));
    let result = match client.download_artifact(a, &zip, MAX_ARTIFACT_BYTES).await {
        Ok(_) => match crate::outputs::unzip::extract(
            &zip,
            dest,
            &crate::outputs::unzip::Limits::default(),
        ) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        },
        Err(GithubError::Expired { .. }) => Some(EXPIRED.into()),
        Err(GithubError::Download { source, .. }) => Some(source.to_string()),
        Err(e) => return Err(e.into()),
    };
    let _ = std::fs::remove_file(&zip);
    Ok(result)
}
