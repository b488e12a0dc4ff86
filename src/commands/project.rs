//! The experiment files and what outrun generates from them: list, plan, validate, generate,
//! init, and the shell completions and man pages.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use outrun::experiment::{self, ExperimentError, Plan};
use outrun::{names, workflow};

use super::{CliError, Result, select};
use crate::documents::{self, GenerateState};
use crate::exit;

pub(super) fn completions(shell: clap_complete::Shell) -> Result<u8> {
    // Into memory first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    crate::cli::completions(shell, &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(exit::OK)
}

/// One man page on stdout, or one per command written into `out`.
pub(super) fn man(out: Option<&Path>, json: bool) -> Result<u8> {
    match out {
        Some(dir) => {
            let pages = crate::cli::man_pages(dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            if !json {
                for p in pages {
                    outln!("{}", p.display());
                }
            }
        }
        None => {
            // A closed stdout fails here, as every other output does.
            out!("");
            crate::cli::man_page(&mut std::io::stdout()).context("writing the man page")?
        }
    }
    Ok(exit::OK)
}

pub(super) fn list(root: &Path, json: bool) -> Result<u8> {
    let mut experiments = Vec::new();
    for path in experiment::experiment_files(root)? {
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        experiments.push(match experiment::load(root, &path) {
            Ok(p) => documents::ListEntry::Valid {
                name: p.name().to_string(),
                path: rel,
                valid: true,
                description: p.file.description.lines().next().unwrap_or("").to_string(),
                cells: p.cells.len(),
                issue: p.file.issue,
                workflow: workflow::workflow_path(p.name()),
                dataset: p.dataset_path(),
            },
            Err(e) => documents::ListEntry::Invalid {
                name: rel.file_stem().map(|s| s.to_string_lossy().into_owned()),
                path: rel,
                valid: false,
                error: e.to_string(),
            },
        });
    }
    let doc = documents::List { experiments };
    if json {
        documents::print(&doc);
    } else {
        doc.human();
    }
    Ok(exit::OK)
}

pub(super) fn plan(root: &Path, name: &str, filter: Option<&str>, json: bool) -> Result<u8> {
    let p = experiment::load_named(root, name)?;
    let cells = select(&p, filter)?;
    let wf = workflow::workflow_path(p.name());
    // The workflow and its cells file are one state: the worse of the two.
    let mut state = documents::WorkflowState::UpToDate;
    // An experiment whose cells file is over the limit cannot be generated (`validate` and
    // `generate` say why); it can still be planned and run locally.
    let files = match workflow::render_all(root, &p) {
        Ok(f) => f,
        Err(workflow::WorkflowError::CellsFileTooLarge { .. }) => {
            state = documents::WorkflowState::Missing;
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    for (path, rendered) in files {
        match workflow::check(root, &path, &rendered)? {
            workflow::Drift::UpToDate => {}
            workflow::Drift::Missing => state = documents::WorkflowState::Missing,
            workflow::Drift::Stale { .. } if state == documents::WorkflowState::UpToDate => {
                state = documents::WorkflowState::Stale
            }
            workflow::Drift::Stale { .. } => {}
        }
    }
    let packing = workflow::packing(&p);
    let doc = documents::PlanDoc {
        experiment: p.name().to_string(),
        path: p.path.clone(),
        description: p.file.description.clone(),
        command: p.file.command.clone(),
        timeout_s: p.timeout.as_secs(),
        dataset: p.dataset_path(),
        workflow: documents::PlanWorkflow {
            path: wf,
            state,
            jobs: packing.jobs,
            cells_per_job: packing.cells_per_job,
            runs_on: p.file.runner.labels.clone(),
            waves: packing.waves,
            job_timeout_minutes: workflow::pack::job_timeout_minutes(
                packing.cells_per_job,
                p.timeout,
                p.job_limit,
            ),
        },
        cells: cells
            .into_iter()
            .map(|c| documents::PlanCell {
                id: c.id,
                params: documents::Params(c.params),
            })
            .collect(),
        cells_total: p.cells.len(),
    };
    if json {
        documents::print(&doc);
    } else {
        doc.human(&p.param_names());
    }
    Ok(exit::OK)
}

/// The named experiments' files, or every experiment file.
fn files(root: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    if names.is_empty() {
        return Ok(experiment::experiment_files(root)?);
    }
    let all = experiment::experiment_files(root)?;
    names
        .iter()
        .map(|n| {
            match all
                .iter()
                .find(|p| p.file_stem().is_some_and(|s| s == n.as_str()))
            {
                Some(p) => Ok(p.clone()),
                None => Err(experiment::load_named(root, n)
                    .err()
                    .map(CliError::from)
                    .unwrap_or_else(|| anyhow::anyhow!("no experiment `{n}`").into())),
            }
        })
        .collect()
}

pub(super) fn validate(root: &Path, names: &[String], json: bool) -> Result<u8> {
    let paths = files(root, names)?;
    if paths.is_empty() {
        bail!(
            "no experiment files in {}",
            root.join(experiment::EXPERIMENTS_DIR).display()
        );
    }
    let mut files = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        match experiment::load(root, path) {
            Ok(p) => {
                let warnings = workflow::limit_warnings(&p);
                if !json {
                    for w in &warnings {
                        errln!("warning: {}: {w}", rel.display());
                    }
                }
                files.push(documents::ValidatedFile {
                    path: rel,
                    ok: true,
                    cells: Some(p.cells.len()),
                    problems: Vec::new(),
                    warnings,
                })
            }
            Err(e) => {
                let problems = match &e {
                    ExperimentError::Invalid(f) => documents::Problem::of_file(f),
                    other => vec![documents::Problem::whole_file(
                        rel.clone(),
                        other.to_string(),
                    )],
                };
                files.push(documents::ValidatedFile {
                    path: rel,
                    ok: false,
                    cells: None,
                    problems,
                    warnings: Vec::new(),
                });
                if !json {
                    errln!("{:?}", miette::Report::new(e));
                }
            }
        }
    }
    // Two experiments writing one dataset would replace each other's rows (or mix two layouts in
    // one file): checked across every experiment of the project, whichever were named.
    let all: Vec<Plan> = experiment::experiment_files(root)?
        .iter()
        .filter_map(|f| experiment::load(root, f).ok())
        .collect();
    for (dataset, experiments) in outrun::dataset::shared_paths(&all) {
        let message = format!(
            "experiments {} all write {}: their rows would replace each other's; give each its own `dataset.path`",
            experiments.join(", "),
            dataset.display()
        );
        for f in files.iter_mut() {
            let stem = f
                .path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            if experiments.contains(&stem) && f.ok {
                f.ok = false;
                f.problems = vec![documents::Problem::whole_file(
                    f.path.clone(),
                    message.clone(),
                )];
                if !json {
                    errln!("error: {}: {message}", f.path.display());
                }
            }
        }
    }
    let doc = documents::Validate {
        ok: files.iter().all(|f| f.ok),
        files,
    };
    if json {
        documents::print(&doc);
    } else {
        doc.human();
    }
    Ok(if doc.ok { exit::OK } else { exit::FAILED })
}

/// Keeps `.github/actionlint.yaml` listing the experiments' self-hosted runner labels (entry
/// with no experiment in `outrun.generate/v1`); `None` when no label needs one.
fn actionlint_config(
    root: &Path,
    labels: &[String],
    check: bool,
    json: bool,
) -> Result<Option<documents::GeneratedWorkflow>> {
    use workflow::actionlint;
    let needed = actionlint::needed(labels);
    let rel = actionlint::path(root);
    let existing = match std::fs::read_to_string(root.join(&rel)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(rel.display().to_string())
                .into());
        }
    };
    if needed.is_empty() {
        return Ok(None);
    }
    let merged =
        actionlint::merge(&rel, existing.as_deref(), &needed).map_err(anyhow::Error::from)?;
    let state = match (&merged, check, existing.is_some()) {
        (None, true, _) => GenerateState::UpToDate,
        (None, false, _) => GenerateState::Unchanged,
        (Some(_), true, false) => GenerateState::Missing,
        (Some(_), true, true) => GenerateState::Stale,
        (Some(text), false, _) => {
            outrun::fsutil::write_atomic(&root.join(&rel), text.as_bytes())?;
            GenerateState::Written
        }
    };
    if !json && matches!(state, GenerateState::Missing | GenerateState::Stale) {
        errln!(
            "{} does not list the self-hosted runner labels {} (actionlint would reject them): run `outrun generate`",
            rel.display(),
            needed.join(", ")
        );
    }
    Ok(Some(documents::GeneratedWorkflow {
        experiment: None,
        path: rel,
        state,
        diff: None,
    }))
}

/// `outrun init`: refuses (exit 1, writing nothing) when any file it would create exists.
pub(super) fn init(root: &Path, json: bool) -> Result<u8> {
    use outrun::init;
    let existing = init::existing(root);
    let created: Vec<PathBuf> = init::files().into_iter().map(|(p, _)| p).collect();
    let next = [
        format!("outrun run {} --local", init::EXAMPLE),
        format!(
            "git add {} .gitignore && git commit -m \"outrun: example experiment\" && git push",
            ["experiments", "scripts", "data", ".github"].join(" ")
        ),
        format!("outrun dispatch {} --wait", init::EXAMPLE),
    ];
    if !existing.is_empty() {
        let doc = documents::Init {
            ok: false,
            existing,
            created: Vec::new(),
            gitignore_added: Vec::new(),
            next: Vec::new(),
        };
        if json {
            documents::print(&doc);
        } else {
            for p in &doc.existing {
                errln!("{} already exists", p.display());
            }
            errln!(
                "outrun init wrote nothing: it never overwrites a file (move these away, or start from them)"
            );
        }
        return Ok(exit::FAILED);
    }
    let added = init::write(root)?;
    let p = experiment::load_named(root, init::EXAMPLE)?;
    let mut all = created;
    for (path, text) in workflow::render_all(root, &p)? {
        workflow::write(root, &path, &text)?;
        all.push(path);
    }
    let doc = documents::Init {
        ok: true,
        existing: Vec::new(),
        created: all,
        gitignore_added: added.iter().map(|s| s.to_string()).collect(),
        next: next.to_vec(),
    };
    if json {
        documents::print(&doc);
    } else {
        for p in &doc.created {
            outln!("{:<9} {}", "created", p.display());
        }
        if !doc.gitignore_added.is_empty() {
            outln!(
                "{:<9} .gitignore ({})",
                "added to",
                doc.gitignore_added.join(", ")
            );
        }
        outln!("\nNext:");
        for c in &doc.next {
            outln!("  {c}");
        }
    }
    Ok(exit::OK)
}

pub(super) fn generate(
    root: &Path,
    names: &[String],
    check: bool,
    prune: bool,
    json: bool,
) -> Result<u8> {
    let mut out = Vec::new();
    let mut drifted = 0;
    let mut expected = Vec::new();
    let mut labels = Vec::new();
    // What was written or removed, printed once every file is: a failing stdout ends the
    // command, and must not end it between a workflow and its cells file.
    let mut done_lines = Vec::new();
    for path in files(root, names)? {
        let p = experiment::load(root, &path)?;
        labels.extend(p.file.runner.labels.iter().cloned());
        // The workflow and its cells file: each checked, written and reported on its own.
        for (wf, rendered) in workflow::render_all(root, &p)? {
            expected.push(wf.clone());
            let drift = workflow::check(root, &wf, &rendered)?;
            let (state, diff) = match drift {
                workflow::Drift::UpToDate if check => (GenerateState::UpToDate, None),
                workflow::Drift::Missing if check => (GenerateState::Missing, None),
                workflow::Drift::Stale { diff } if check => (GenerateState::Stale, Some(diff)),
                workflow::Drift::UpToDate => (GenerateState::Unchanged, None),
                workflow::Drift::Missing | workflow::Drift::Stale { .. } => {
                    workflow::write(root, &wf, &rendered)?;
                    (GenerateState::Written, None)
                }
            };
            if matches!(state, GenerateState::Missing | GenerateState::Stale) {
                drifted += 1;
                if !json {
                    match &diff {
                        Some(d) => err!("{d}"),
                        None => errln!("{} is missing", wf.display()),
                    }
                }
            } else if !check && !json {
                done_lines.push(format!("{:<9} {}", state.as_str(), wf.display()));
            }
            out.push(documents::GeneratedWorkflow {
                experiment: Some(p.name().to_string()),
                path: wf,
                state,
                diff,
            });
        }
    }
    if let Some(w) = actionlint_config(root, &labels, check, json)? {
        if matches!(w.state, GenerateState::Missing | GenerateState::Stale) {
            drifted += 1;
        } else if !check && !json {
            done_lines.push(format!("{:<9} {}", w.state.as_str(), w.path.display()));
        }
        out.push(w);
    }
    if names.is_empty() {
        let (orphans, orphans_drifted, orphans_done) =
            orphans(root, &expected, check, prune, json)?;
        out.extend(orphans);
        drifted += orphans_drifted;
        done_lines.extend(orphans_done);
    }
    for line in done_lines {
        outln!("{line}");
    }
    let doc = documents::Generate {
        check,
        ok: drifted == 0,
        workflows: out,
    };
    if json {
        documents::print(&doc);
    } else if check && drifted > 0 {
        errln!("{drifted} workflow(s) out of date: run `outrun generate` and commit the result");
    } else if check {
        outln!("{} workflow(s) up to date", doc.workflows.len());
    }
    Ok(if doc.ok { exit::OK } else { exit::FAILED })
}

/// The generated workflows in `.github/workflows` whose experiment is gone (not among
/// `expected`): each entry, how many count as drift (under `--check`), and the lines to print.
fn orphans(
    root: &Path,
    expected: &[PathBuf],
    check: bool,
    prune: bool,
    json: bool,
) -> Result<(Vec<documents::GeneratedWorkflow>, usize, Vec<String>)> {
    // A generated workflow whose experiment is gone would still run on GitHub: say so (a
    // failure under --check), or delete it with --prune.
    let (mut out, mut drifted, mut done_lines) = (Vec::new(), 0, Vec::new());
    if let Ok(entries) = std::fs::read_dir(root.join(".github/workflows")) {
        let mut orphans: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| names::experiment_of_generated(n).is_some())
            .map(|n| Path::new(".github/workflows").join(n))
            .filter(|rel| !expected.contains(rel))
            .collect();
        orphans.sort();
        for rel in orphans {
            let state = if prune {
                std::fs::remove_file(root.join(&rel))
                    .with_context(|| format!("removing {}", rel.display()))?;
                if !json {
                    done_lines.push(format!("{:<9} {}", "removed", rel.display()));
                }
                GenerateState::Removed
            } else {
                if check {
                    drifted += 1;
                }
                if !json {
                    errln!(
                        "{} has no experiment file any more: delete it, or run `outrun generate --prune`",
                        rel.display()
                    );
                }
                GenerateState::Orphaned
            };
            out.push(documents::GeneratedWorkflow {
                experiment: None,
                path: rel,
                state,
                diff: None,
            });
        }
    }
    Ok((out, drifted, done_lines))
}
