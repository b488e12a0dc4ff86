//! Fetch: artifacts → cell output folders, with the run's provenance.

#[allow(unused_imports)]
use super::*;

/// A run's outputs as fetched, ready for [`pipeline::finish`].
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// The cell folders to read, one per cell, from the newest attempt of each job.
    pub cell_dirs: Vec<PathBuf>,
    pub provenance: RunProvenance,
    /// Cells whose job left nothing usable, with the reason.
    pub missing: Vec<CellRecord>,
    pub refused: Vec<Refused>,
    /// Artifact names that had expired.
    pub expired: Vec<String>,
    pub artifacts: usize,
}

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

/// Where the run came from and when it ran, from GitHub's run and jobs: the commit, the
/// attempt and the times no artifact can change. Jobs are matched to cells by their name (the
/// matrix shard, which is the cell id when a job runs one cell).
fn provenance(
    run: &Run,
    jobs: &[Job],
    in_run: bool,
) -> (RunProvenance, BTreeMap<String, JobProvenance>) {
    let by_shard = jobs
        .iter()
        .map(|j| {
            let p = JobProvenance {
                attempt: j.run_attempt.unwrap_or(run.attempt()),
                started_at: j.started_at.clone().unwrap_or_default(),
                finished_at: j.completed_at.clone().unwrap_or_default(),
                runner: j.runner_name.clone().unwrap_or_default(),
            };
            (j.name.clone(), p)
        })
        .collect();
    let prov = RunProvenance {
        source: Source::Github,
        run_id: run.id.to_string(),
        url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
        run_started_at: run.started_at().to_string(),
        attempt: run.attempt(),
        commit: Some(run.head_sha.clone()).filter(|s| !s.is_empty()),
        event: Some(run.event.clone()),
        git_ref: run.head_branch.clone(),
        conclusion: if in_run {
            Some(conclusion_from_jobs(jobs).to_string())
        } else {
            run.conclusion.as_ref().map(Conclusion::to_string)
        },
        cells: BTreeMap::new(),
        wave: None,
    };
    (prov, by_shard)
}

/// Which wave of its dispatch `run` is, when its cells needed several runs: the wave from the
/// `wave` input (or the dispatch record), the count from the packing, the group from the run's
/// name (`outrun NAME GROUP.wN`; a run started by hand has its own id there).
fn wave_of(plan: &Plan, run: &Run, opts: &CollectOptions<'_>) -> Option<crate::contract::WaveOf> {
    let wave = opts.wave?;
    let waves = super::waves_of(plan, opts.cells);
    if waves < 2 {
        return None;
    }
    let id = run.outrun_title().map(|(_, id)| id).unwrap_or("");
    let group = id
        .strip_suffix(&format!(".w{wave}"))
        .unwrap_or(if id.is_empty() { "manual" } else { id });
    Some(crate::contract::WaveOf {
        wave,
        waves,
        group: group.to_string(),
    })
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

/// Fetches the outputs of `run`: the newest attempt's artifact of each job, downloaded and
/// unpacked safely (or, in the workflow's final job, already downloaded into `artifacts_dir`).
/// A hostile or broken artifact is refused with its reason and the others go on; an artifact
/// may only hold the cells of its own job.
pub(crate) async fn fetch(
    root: &Path,
    client: &Client,
    plan: &Plan,
    run: &Run,
    jobs: &[Job],
    opts: &CollectOptions<'_>,
) -> Result<Fetched, RemoteError> {
    let (cells, artifacts_dir) = (opts.cells, opts.artifacts_dir);
    let (mut prov, job_prov) = provenance(run, jobs, opts.in_run);
    prov.wave = wave_of(plan, run, opts);
    let name = plan.name();
    let base = root.join(DOWNLOADS_DIR).join(run.id.to_string());
    let unpacked = base.join("artifacts");

    // The newest attempt's artifact per shard (a re-run uploads `-a2` beside `-a1`).
    let mut newest: BTreeMap<String, (u32, Option<Artifact>)> = BTreeMap::new();
    match artifacts_dir {
        Some(dir) => {
            for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some((shard, attempt)) = names::parse_artifact(name, &file)
                    && newest.get(shard).is_none_or(|(a, _)| attempt > *a)
                {
                    newest.insert(shard.into(), (attempt, None));
                }
            }
        }
        None => {
            for a in client.artifacts(run.id).await? {
                if let Some((shard, attempt)) = names::parse_artifact(name, &a.name)
                    && newest.get(shard).is_none_or(|(old, _)| attempt > *old)
                {
                    newest.insert(shard.to_string(), (attempt, Some(a.clone())));
                }
            }
        }
    }

    let mut out = Fetched {
        artifacts: newest.len(),
        ..Fetched::default()
    };
    let cell_ids: BTreeMap<&str, &experiment::Cell> =
        plan.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    // Shard → why its artifact gave nothing (expired, refused).
    let mut lost: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for (shard, (attempt, artifact)) in &newest {
        let artifact_name = names::artifact_name(name, shard, *attempt);
        let dir = match (artifacts_dir, artifact) {
            (Some(d), _) => d.join(&artifact_name),
            (None, Some(a)) => {
                let dest = unpacked.join(&a.name);
                if !dest.is_dir()
                    && let Some(why) = download(client, a, &base, &dest).await?
                {
                    if why == EXPIRED {
                        out.expired.push(a.name.clone());
                    }
                    out.refused.push(Refused {
                        artifact: a.name.clone(),
                        reason: why.clone(),
                    });
                    lost.insert(shard.clone(), why);
                    continue;
                }
                dest
            }
            (None, None) => continue,
        };
        // Only the cells this job ran: its own cell, or — for a job that runs several — cells
        // of the plan no other job has delivered. Anything else is a forgery.
        let found = cells_in(&dir);
        let own_cell = cell_ids.contains_key(shard.as_str());
        let strangers: Vec<&str> = found
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| {
                if own_cell {
                    *c != shard
                } else {
                    !cell_ids.contains_key(c) || taken.contains(*c)
                }
            })
            .collect();
        if !strangers.is_empty() {
            let why = format!(
                "holds outputs of cells its job did not run ({})",
                strangers.join(", ")
            );
            out.refused.push(Refused {
                artifact: artifact_name,
                reason: why.clone(),
            });
            lost.insert(shard.clone(), why);
            continue;
        }
        for (cell, path) in found {
            if let Some(j) = job_prov.get(shard) {
                prov.cells.insert(
                    cell.clone(),
                    JobProvenance {
                        attempt: j.attempt.max(*attempt),
                        ..j.clone()
                    },
                );
            }
            taken.insert(cell);
            out.cell_dirs.push(path);
        }
    }

    // Cells whose job ended without output that could be used (cancelled, timed out, runner
    // lost, artifact expired or refused) are reported, not left out.
    let status_of = |conclusion: Option<&str>| match conclusion {
        Some("cancelled") | Some("skipped") => CellStatus::Cancelled,
        Some("timed_out") => CellStatus::TimedOut,
        _ => CellStatus::Failed,
    };
    for job in jobs {
        let Some(cell) = cell_ids.get(job.name.as_str()) else {
            continue;
        };
        if taken.contains(&cell.id) || !job.completed() {
            continue;
        }
        let why = match lost.get(&job.name) {
            Some(w) if w == EXPIRED => {
                "artifact expired: GitHub no longer keeps its outputs".to_string()
            }
            Some(w) => format!("artifact refused: {w}"),
            None => format!(
                "no output uploaded: job {}",
                job.conclusion.as_ref().map_or("ended", Conclusion::as_str)
            ),
        };
        let mut p = prov.clone();
        if let Some(j) = job_prov.get(&job.name) {
            p.cells.insert(cell.id.clone(), j.clone());
        }
        out.missing.push(CellRecord::missing(
            name,
            cell,
            status_of(job.conclusion.as_ref().map(Conclusion::as_str)),
            why,
            &p,
        ));
    }
    // A run that ended early may never have created some cells' jobs: those cells are reported
    // too (the cells the dispatch selected when known, else all).
    let ended_badly = prov.conclusion.as_deref().is_some_and(|c| c != "success");
    if ended_badly {
        let selected: Vec<experiment::Cell> = match cells {
            Some(f) if !f.trim().is_empty() => experiment::filter::Filter::parse(f)
                .and_then(|f| f.select(&plan.cells, &plan.param_names()))
                .unwrap_or_else(|_| plan.cells.clone()),
            _ => plan.cells.clone(),
        };
        // Of those, the ones of this run's wave (the same packing the workflow used).
        let selected = match opts.wave {
            Some(w) => {
                let ids: Vec<&str> = selected.iter().map(|c| c.id.as_str()).collect();
                let max = crate::workflow::max_cells_per_job(plan);
                let mine: BTreeSet<usize> = crate::workflow::pack::shards(&ids, max)
                    .into_iter()
                    .filter(|s| s.wave == w)
                    .flat_map(|s| s.cells)
                    .collect();
                selected
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mine.contains(i))
                    .map(|(_, c)| c.clone())
                    .collect()
            }
            None => selected,
        };
        for c in &selected {
            let seen = jobs.iter().any(|j| j.name == c.id)
                || taken.contains(&c.id)
                || out.missing.iter().any(|m| m.cell == c.id);
            if !seen {
                let why = format!(
                    "not run: the run ended {}",
                    prov.conclusion.as_deref().unwrap_or("early")
                );
                out.missing.push(CellRecord::missing(
                    name,
                    c,
                    status_of(prov.conclusion.as_deref()),
                    why,
                    &prov,
                ));
            }
        }
    }
    out.provenance = prov;
    Ok(out)
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
