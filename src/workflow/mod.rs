//! Experiment → `.github/workflows/outrun-NAME.yml`, rendered from minijinja templates.
//!
//! The templates ship inside the binary (an installed `outrun` works in any repository); a
//! `workflow-templates/` folder in the project overrides them file by file. As in cargo-dist,
//! delimiters are `{{{ }}}` / `{{% %}}` so GitHub's `${{ }}` stays literal, undefined variables
//! are errors, and the context is a typed struct so the output is byte-for-byte stable.

use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::experiment::Plan;

pub mod actionlint;
pub mod install;
pub mod pack;
pub mod yaml;

pub(crate) const TEMPLATE_DIR: &str = "workflow-templates";
pub(crate) const WORKFLOW_TEMPLATE: &str = "experiment.yml.j2";
pub(crate) const CELL_SCRIPT: &str = "outrun_cell.py";

const EMBEDDED: &[(&str, &str)] = &[
    (
        WORKFLOW_TEMPLATE,
        include_str!("../../workflow-templates/experiment.yml.j2"),
    ),
    (
        CELL_SCRIPT,
        include_str!("../../workflow-templates/outrun_cell.py"),
    ),
];

/// Actions are pinned to full commit SHAs (a tag can be moved); the comment keeps the version
/// readable for people and for Dependabot.
pub const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
pub const SETUP_PYTHON: &str =
    "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0";
pub const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2";
pub const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0";
pub const CACHE: &str = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3";

pub use crate::contract::MAX_JOBS;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("cannot read template {}: {source}", path.display())]
    ReadTemplate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {name}: {source}")]
    Render {
        name: String,
        source: minijinja::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::fsutil::FsError),
    #[error(
        "the cells file of `{name}` would be over {} ({} after {done} of {cells} cells), the most outrun writes (GitHub refuses files over 100 MB); use fewer cells or shorter parameter values, or run it with `outrun run {name} --local`",
        mb(crate::limits::MAX_CELLS_FILE_BYTES),
        mb(*at_least)
    )]
    CellsFileTooLarge {
        name: String,
        at_least: usize,
        done: usize,
        cells: usize,
    },
}

/// Bytes in MB (10^6), one decimal: as GitHub states its limits.
fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub use crate::names::workflow_path;

/// The pinned actions, written as they are (constants, with their ` # vX` comment).
#[derive(Serialize)]
struct Actions {
    checkout: minijinja::Value,
    setup_python: minijinja::Value,
    upload_artifact: minijinja::Value,
    download_artifact: minijinja::Value,
    cache: minijinja::Value,
}

#[derive(Serialize)]
struct Context<'a> {
    version: &'static str,
    name: &'a str,
    source: String,
    description_lines: Vec<String>,
    issue: String,
    cell_count: usize,
    labels: serde_json::Value,
    container: Option<&'a str>,
    python: Option<&'a str>,
    setup_steps: &'a [String],
    setup_cache: Option<&'a crate::experiment::SetupCache>,
    job_timeout_minutes: u64,
    /// Waves all the cells need (the `wave` input's range).
    waves: usize,
    cells_file: String,
    script: String,
    actions: Actions,
    artifact_prefix: String,
    /// How the status and final jobs get outrun (see `install`).
    install: install::Install,
    land_artifact: bool,
    dataset: String,
    ledger: String,
}

/// What the cell wrapper reads from the cells file (`OUTRUN_CELLS_FILE`).
#[derive(Serialize)]
struct CellConfig<'a> {
    experiment: &'a str,
    command: &'a str,
    timeout_s: u64,
    kill_grace_s: u64,
    max_jobs: usize,
    max_cells_per_job: usize,
    results_file: &'a str,
    /// The key columns, for the job summary's results checks (the same as the merge's).
    results_keys: &'a [String],
    /// Columns a results file may have (`contract::MAX_RESULT_COLUMNS`), for the same checks.
    max_result_columns: usize,
    /// Bytes a results file may have (`results.max-size`), for the same checks.
    results_max_size: u64,
    cells: Vec<CellEntry<'a>>,
}

#[derive(Serialize)]
struct CellEntry<'a> {
    id: &'a str,
    params: &'a [(String, String)],
}

/// JSON text with every non-ASCII character written as `\uXXXX` (a UTF-16 pair beyond the BMP,
/// as JSON spells it). Only valid inside JSON strings, which is the only place JSON text has
/// non-ASCII.
fn ascii_only(json: &str) -> String {
    if json.is_ascii() {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The cells file's JSON text, one cell a line (a maintainer can read it, and a diff shows which
/// cells changed), printable ASCII only (non-ASCII as JSON `\u` escapes), and never `${`: a `{`
/// right after `$` is written `\u007b`, so the text holds no `${{` that GitHub would evaluate
/// should it ever be pasted into YAML, at a cost of five bytes where a value holds `${` (not
/// six for every `$`). Stops with `Err((bytes so far, cells done))` once the text is over
/// `limit` bytes, so a huge experiment costs no more than the limit.
fn expression_free_json(config: &CellConfig, limit: usize) -> Result<String, (usize, usize)> {
    let j = |v: &dyn erased::Ser| ascii_only(&v.json()).replace("${", "$\\u007b");
    let mut out = format!(
        "{{\n  \"experiment\": {},\n  \"command\": {},\n  \"timeout_s\": {},\n  \"kill_grace_s\": {},\n  \"max_jobs\": {},\n  \"max_cells_per_job\": {},\n  \"results_file\": {},\n  \"results_keys\": {},\n  \"max_result_columns\": {},\n  \"results_max_size\": {},\n  \"cells\": [\n",
        j(&config.experiment),
        j(&config.command),
        config.timeout_s,
        config.kill_grace_s,
        config.max_jobs,
        config.max_cells_per_job,
        j(&config.results_file),
        j(&config.results_keys),
        config.max_result_columns,
        config.results_max_size
    );
    for (i, c) in config.cells.iter().enumerate() {
        if out.len() > limit {
            return Err((out.len(), i));
        }
        let sep = if i + 1 < config.cells.len() { "," } else { "" };
        out.push_str(&format!("    {}{sep}\n", j(c)));
    }
    out.push_str("  ]\n}\n");
    if out.len() > limit {
        return Err((out.len(), config.cells.len()));
    }
    Ok(out)
}

mod erased {
    /// Lets one closure serialise values of different types.
    pub(super) trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("config serialises")
        }
    }
}

fn load_template(root: &Path, name: &str) -> Result<String, WorkflowError> {
    let local = root.join(TEMPLATE_DIR).join(name);
    match std::fs::read_to_string(&local) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EMBEDDED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string())
            .unwrap_or_default()),
        Err(source) => Err(WorkflowError::ReadTemplate {
            path: local,
            source,
        }),
    }
}

/// The most cells one of `plan`'s jobs may run within its runner's job limit.
pub fn max_cells_per_job(plan: &Plan) -> usize {
    pack::max_cells_per_job(plan.timeout, plan.job_limit)
}

/// How all of `plan`'s cells are packed into jobs and runs (waves).
pub fn packing(plan: &Plan) -> pack::Packing {
    pack::pack(plan.cells.len(), max_cells_per_job(plan))
}

fn dur(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs() / 60 * 60)).to_string()
}

/// What `outrun validate` warns about an experiment that does not fit GitHub's limits as it is:
/// with the numbers, and what to change. It still runs (its jobs are capped, its runs split).
pub fn limit_warnings(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let (t, limit) = (plan.timeout, plan.job_limit);
    let hosted = pack::is_hosted(&plan.file.runner.labels);
    let runners = plan.file.runner.labels.join(", ");
    if t + pack::JOB_OVERHEAD > limit {
        out.push(format!(
            "a cell's timeout ({}) and {} for checkout, setup and upload exceed the {} a job may run on {runners}: the job stops at {} whatever the cell's timeout; lower `timeout` to at most {}{}",
            dur(t),
            dur(pack::JOB_OVERHEAD),
            dur(limit),
            dur(limit),
            dur(limit.saturating_sub(pack::JOB_OVERHEAD)),
            if hosted {
                ", or run on self-hosted runners with `runner.job-timeout` (up to 5 days)".to_string()
            } else if limit < pack::SELF_HOSTED_JOB_LIMIT {
                ", or raise `runner.job-timeout` (up to 5d)".to_string()
            } else {
                String::new()
            }
        ));
    }
    match cells_file_size(plan) {
        None => out.push(format!(
            "its cells file would be over {}, the most outrun writes (GitHub refuses files over 100 MB): `outrun generate` refuses it; use fewer cells or shorter parameter values, or run it with `outrun run {} --local`",
            mb(crate::limits::MAX_CELLS_FILE_BYTES),
            plan.name()
        )),
        Some(n) if n >= crate::limits::CELLS_FILE_WARN_BYTES => out.push(format!(
            "its cells file is {} of the {} outrun writes at most (GitHub refuses files over 100 MB): a few more cells or longer values and `outrun generate` refuses it",
            mb(n),
            mb(crate::limits::MAX_CELLS_FILE_BYTES)
        )),
        Some(_) => {}
    }
    let p = packing(plan);
    if p.waves > 1 {
        let n = plan.cells.len();
        let per = max_cells_per_job(plan);
        let needed = n.div_ceil(MAX_JOBS);
        let mut fixes = vec![format!("at most {} cells", MAX_JOBS * per)];
        let room = limit.saturating_sub(pack::JOB_OVERHEAD) / needed as u32;
        if room.as_secs() >= 60 {
            fixes.push(format!("a `timeout` of at most {}", dur(room)));
        }
        let job = t * needed as u32 + pack::JOB_OVERHEAD;
        if !hosted && job <= pack::SELF_HOSTED_JOB_LIMIT && job > limit {
            fixes.push(format!(
                "`runner.job-timeout: {}`",
                dur(job + std::time::Duration::from_secs(59))
            ));
        }
        out.push(format!(
            "{n} cells of up to {} each fit {per} to a job within the {} job limit on {runners}: {} jobs, more than the {MAX_JOBS} one run may hold, so `outrun dispatch` starts {} runs (waves), whose rows merge into the one dataset; to fit one run: {}",
            dur(t),
            dur(limit),
            p.jobs,
            p.waves,
            fixes.join(", or ")
        ));
    }
    out
}

/// One matrix job of a run: its name (the cell's id when it runs one cell, else `shard-NNN`,
/// numbered over all waves) and the cells it runs, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub name: String,
    pub cells: Vec<String>,
}

/// Which cells each job runs, for `selected` cells of `plan`: the jobs of every wave, as
/// `outrun_cell.py` packs them ([`pack::shards`], the one place that decides it). The final job
/// decides which cells an artifact may hold from its job's name through this.
pub fn jobs<'a>(plan: &Plan, selected: impl IntoIterator<Item = &'a str>) -> Vec<Shard> {
    let ids: Vec<&str> = selected.into_iter().collect();
    pack::shards(&ids, max_cells_per_job(plan))
        .into_iter()
        .map(|s| Shard {
            name: s.name,
            cells: ids[s.cells].iter().map(|c| c.to_string()).collect(),
        })
        .collect()
}

/// The cells file for `plan` (`.github/workflows/outrun-NAME.cells.json`): what every job of
/// the workflow reads its cells and command from, in the checkout. Refused beyond
/// [`crate::limits::MAX_CELLS_FILE_BYTES`].
pub fn render_cells(plan: &Plan) -> Result<String, WorkflowError> {
    cells_text(plan, crate::limits::MAX_CELLS_FILE_BYTES).map_err(|(at_least, done)| {
        WorkflowError::CellsFileTooLarge {
            name: plan.name().to_string(),
            at_least,
            done,
            cells: plan.cells.len(),
        }
    })
}

/// The cells file's size in bytes, or `None` when it is over the limit (`generate` refuses it).
pub fn cells_file_size(plan: &Plan) -> Option<usize> {
    cells_text(plan, crate::limits::MAX_CELLS_FILE_BYTES)
        .ok()
        .map(|t| t.len())
}

fn cells_text(plan: &Plan, limit: usize) -> Result<String, (usize, usize)> {
    let f = &plan.file;
    expression_free_json(
        &CellConfig {
            experiment: &f.name,
            command: &f.command,
            timeout_s: plan.timeout.as_secs(),
            kill_grace_s: crate::contract::KILL_GRACE_S,
            max_jobs: MAX_JOBS,
            max_cells_per_job: max_cells_per_job(plan),
            results_file: &f.results.file,
            results_keys: &f.results.keys,
            max_result_columns: crate::contract::MAX_RESULT_COLUMNS,
            results_max_size: f.results.max_size(),
            cells: plan
                .cells
                .iter()
                .map(|c| CellEntry {
                    id: &c.id,
                    params: &c.params,
                })
                .collect(),
        },
        limit,
    )
}

/// Every file `generate` writes for `plan`, with its contents: the workflow and its cells file.
pub fn render_all(root: &Path, plan: &Plan) -> Result<Vec<(PathBuf, String)>, WorkflowError> {
    Ok(vec![
        (workflow_path(plan.name()), render(root, plan)?),
        (crate::names::cells_path(plan.name()), render_cells(plan)?),
    ])
}

/// Renders the workflow for `plan`, using templates from `root/workflow-templates/` where present.
pub fn render(root: &Path, plan: &Plan) -> Result<String, WorkflowError> {
    let f = &plan.file;
    let template = load_template(root, WORKFLOW_TEMPLATE)?;
    let script = load_template(root, CELL_SCRIPT)?;
    let packing = packing(plan);
    // The wrapper enforces each cell's timeout; the job's limit is a backstop that leaves room
    // for checkout, setup and upload, and never exceeds what the runner allows.
    let job_timeout_minutes =
        pack::job_timeout_minutes(packing.cells_per_job, plan.timeout, plan.job_limit);
    let version = env!("CARGO_PKG_VERSION");
    let install = install::decide(root, version, f.github.install.as_deref());
    let labels = if f.runner.labels.len() == 1 {
        serde_json::Value::String(f.runner.labels[0].clone())
    } else {
        serde_json::json!(f.runner.labels)
    };
    let ctx = Context {
        version,
        name: &f.name,
        source: plan.path.display().to_string(),
        description_lines: f.description.lines().map(str::to_string).collect(),
        issue: f.issue.map(|i| i.to_string()).unwrap_or_default(),
        cell_count: plan.cells.len(),
        labels,
        container: f.runner.container.as_deref(),
        python: f.setup.python.as_deref(),
        setup_steps: &f.setup.steps,
        setup_cache: f.setup.cache.as_ref(),
        job_timeout_minutes,
        waves: packing.waves,
        cells_file: format!(".github/workflows/{}", crate::names::cells_file(&f.name)),
        script,
        actions: {
            let pinned = |a: &str| minijinja::Value::from_safe_string(a.to_string());
            Actions {
                checkout: pinned(CHECKOUT),
                setup_python: pinned(SETUP_PYTHON),
                upload_artifact: pinned(UPLOAD_ARTIFACT),
                download_artifact: pinned(DOWNLOAD_ARTIFACT),
                cache: pinned(CACHE),
            }
        },
        artifact_prefix: crate::names::artifact_prefix(&f.name),
        install,
        land_artifact: f.github.land == crate::experiment::Land::Artifact,
        dataset: plan.dataset_path().display().to_string(),
        ledger: crate::names::ledger_path(&plan.dataset_path())
            .display()
            .to_string(),
    };
    let mut env = environment();
    let render_err = |source| WorkflowError::Render {
        name: WORKFLOW_TEMPLATE.into(),
        source,
    };
    env.add_template_owned(WORKFLOW_TEMPLATE, template)
        .map_err(render_err)?;
    let out = env
        .get_template(WORKFLOW_TEMPLATE)
        .and_then(|t| t.render(&ctx))
        .map_err(render_err)?;
    Ok(out)
}

/// The template environment: the workflow delimiters, strict undefined values, and every
/// value written through the YAML writer.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .block_delimiters("{{%", "%}}")
            .variable_delimiters("{{{", "}}}")
            .comment_delimiters("{{#", "#}}")
            .build()
            .expect("delimiters are valid"),
    );
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // Every value goes through the one YAML writer (`yaml`, `yaml_block`, `comment`), or is
    // a number or plain word: the formatter refuses anything else.
    env.set_formatter(yaml::gate);
    env.add_filter(
        "yaml_block",
        |v: String, indent: usize| -> Result<minijinja::Value, minijinja::Error> {
            yaml::block(&v, indent)
                .map(minijinja::Value::from_safe_string)
                .map_err(yaml::template_error)
        },
    );
    env.add_filter("comment", |v: String| {
        minijinja::Value::from_safe_string(yaml::comment(&v))
    });
    env.add_filter(
        "yaml",
        |v: minijinja::Value| -> Result<minijinja::Value, minijinja::Error> {
            use minijinja::value::ValueKind;
            let written = match v.kind() {
                ValueKind::String => yaml::scalar(v.as_str().unwrap_or_default()),
                ValueKind::Number => Ok(v.to_string()),
                ValueKind::Seq => {
                    let items: Vec<minijinja::Value> = v.try_iter()?.collect();
                    let strings: Option<Vec<&str>> = items.iter().map(|i| i.as_str()).collect();
                    match strings {
                        Some(s) => yaml::sequence(s),
                        None => Err(yaml::Refused::NotPlain(v.to_string())),
                    }
                }
                _ => Err(yaml::Refused::NotPlain(v.to_string())),
            };
            written
                .map(minijinja::Value::from_safe_string)
                .map_err(yaml::template_error)
        },
    );
    env
}

/// The result of comparing a rendered workflow with the file on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    UpToDate,
    Missing,
    Stale { diff: String },
}

/// Compares `rendered` with what is committed at `path`.
pub fn check(root: &Path, path: &Path, rendered: &str) -> Result<Drift, WorkflowError> {
    match std::fs::read_to_string(root.join(path)) {
        Ok(on_disk) if on_disk == rendered => Ok(Drift::UpToDate),
        Ok(on_disk) => {
            let diff = similar::TextDiff::from_lines(on_disk.as_str(), rendered)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("{} (committed)", path.display()),
                    &format!("{} (generated)", path.display()),
                )
                .to_string();
            Ok(Drift::Stale { diff })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Drift::Missing),
        Err(source) => Err(WorkflowError::ReadTemplate {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `rendered` to `root/path` atomically (a reader never sees half a workflow), with the
/// mode a plain write would give it.
pub fn write(root: &Path, path: &Path, rendered: &str) -> Result<(), WorkflowError> {
    Ok(crate::fsutil::write_atomic(
        &root.join(path),
        rendered.as_bytes(),
    )?)
}

#[cfg(test)]
mod injection_tests;
