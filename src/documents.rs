//! Every `--json` document outrun prints, one `Serialize` type per schema (README "`--json`
//! output" lists them). The human output is rendered from the same values (`human`), so the two
//! cannot drift apart; nothing reads its own JSON back.
//!
//! Version 1 of every schema: fields may be added, never renamed, retyped or removed. States
//! are enums; GitHub's run status and conclusion keep any value GitHub adds later (their
//! `Unknown` variant). `outrun.report/v1` is the library's [`outrun::report::Report`], which the
//! workflow's final job writes too.

use std::path::{Path, PathBuf};

use serde::Serialize;

use outrun::backend::github::{Collected, DispatchRecord, Landed, SyncItem};
use outrun::contract::CellStatus;
use outrun::dataset::MergeSummary;
use outrun::github_api::{Job, Run, Stats};
use outrun::report::Report;

/// A document with its `schema` name.
pub(crate) trait Schema: Serialize {
    const NAME: &'static str;
}

/// `{"schema": NAME, …the document's fields}`.
#[derive(Serialize)]
struct Tagged<'a, T> {
    schema: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// The document, pretty-printed (as every `--json` output is), with a final newline.
pub(crate) fn to_json<T: Schema>(doc: &T) -> String {
    let tagged = Tagged {
        schema: T::NAME,
        body: doc,
    };
    serde_json::to_string_pretty(&tagged).expect("outrun's documents serialise") + "\n"
}

pub(crate) fn print<T: Schema>(doc: &T) {
    out!("{}", to_json(doc));
}

macro_rules! schema {
    ($($t:ident $(<$l:lifetime>)? = $name:literal;)*) => {
        $(impl$(<$l>)? Schema for $t $(<$l>)? {
            const NAME: &'static str = $name;
        })*
    };
}

schema! {
    List = "outrun.list/v1";
    PlanDoc = "outrun.plan/v1";
    Validate = "outrun.validate/v1";
    Generate = "outrun.generate/v1";
    Init = "outrun.init/v1";
    RunDoc<'a> = "outrun.run/v1";
    MergeDoc<'a> = "outrun.merge/v1";
    ErrorDoc = "outrun.error/v1";
    DispatchDoc<'a> = "outrun.dispatch/v1";
    WatchDoc<'a> = "outrun.watch/v1";
    CollectDoc<'a> = "outrun.collect/v1";
    SyncDoc<'a> = "outrun.sync/v1";
    StatusDoc<'a> = "outrun.status/v1";
    RerunDoc<'a> = "outrun.rerun/v1";
    AnnounceDoc<'a> = "outrun.announce/v1";
    CompareDoc<'a> = "outrun.compare/v1";
}

// ---- list ----

/// `outrun.list/v1`
#[derive(Debug, Serialize)]
pub(crate) struct List {
    pub experiments: Vec<ListEntry>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ListEntry {
    Valid {
        name: String,
        path: PathBuf,
        /// Always true here; the field says which of the two shapes this is.
        valid: bool,
        /// The description's first line.
        description: String,
        cells: usize,
        issue: Option<u64>,
        workflow: PathBuf,
        dataset: PathBuf,
    },
    Invalid {
        name: Option<String>,
        path: PathBuf,
        /// Always false here.
        valid: bool,
        error: String,
    },
}

impl List {
    pub(crate) fn human(&self) {
        if self.experiments.is_empty() {
            outln!("no experiments: add one as experiments/NAME.yaml (see README.md)");
        }
        for e in &self.experiments {
            match e {
                ListEntry::Valid {
                    name,
                    description,
                    cells,
                    ..
                } => outln!("{name:<32} {cells:>5} cells  {description}"),
                ListEntry::Invalid { name, .. } => outln!(
                    "{:<32}  invalid  (outrun validate shows why)",
                    name.as_deref().unwrap_or("")
                ),
            }
        }
    }
}

// ---- plan ----

/// `outrun.plan/v1`
#[derive(Debug, Serialize)]
pub(crate) struct PlanDoc {
    pub experiment: String,
    pub path: PathBuf,
    pub description: String,
    pub command: String,
    pub timeout_s: u64,
    pub dataset: PathBuf,
    pub workflow: PlanWorkflow,
    /// The selected cells (all of them without `--cells`).
    pub cells: Vec<PlanCell>,
    /// How many cells the experiment has in all.
    pub cells_total: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct PlanWorkflow {
    pub path: PathBuf,
    pub state: WorkflowState,
    pub jobs: usize,
    pub cells_per_job: usize,
    pub runs_on: Vec<String>,
    /// The runs (waves of at most 256 jobs) that `outrun dispatch` starts for all the cells.
    pub waves: usize,
    /// The job's `timeout-minutes`, within the runner's limit.
    pub job_timeout_minutes: u64,
}

/// Whether the committed workflow matches what `outrun generate` would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum WorkflowState {
    #[serde(rename = "up to date")]
    UpToDate,
    #[serde(rename = "not generated yet")]
    Missing,
    #[serde(rename = "stale")]
    Stale,
}

impl WorkflowState {
    fn as_str(self) -> &'static str {
        match self {
            WorkflowState::UpToDate => "up to date",
            WorkflowState::Missing => "not generated yet",
            WorkflowState::Stale => "stale",
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct PlanCell {
    pub id: String,
    /// Parameter name → value, in the experiment's order.
    pub params: Params,
}

/// Parameters as a JSON object that keeps their declared order.
#[derive(Debug)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Serialize for Params {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl PlanDoc {
    pub(crate) fn human(&self, param_names: &[String]) {
        outln!("experiment  {} ({})", self.experiment, self.path.display());
        for l in self.description.trim().lines() {
            outln!("            {l}");
        }
        outln!("command     {}", self.command.trim());
        outln!(
            "timeout     {} per cell",
            humantime::format_duration(std::time::Duration::from_secs(self.timeout_s))
        );
        outln!("dataset     {}", self.dataset.display());
        let w = &self.workflow;
        outln!(
            "workflow    {} ({}; {} jobs of {} cell(s) on {}, {} min each at most{})",
            w.path.display(),
            w.state.as_str(),
            w.jobs,
            w.cells_per_job,
            w.runs_on.join(", "),
            w.job_timeout_minutes,
            if w.waves > 1 {
                format!("; {} runs (waves) of at most 256 jobs", w.waves)
            } else {
                String::new()
            }
        );
        outln!("cells       {} of {}\n", self.cells.len(), self.cells_total);
        // One column per parameter, each as wide as its widest value (in characters), so the
        // table lines up whatever the values are.
        let rows: Vec<Vec<String>> = self
            .cells
            .iter()
            .map(|c| {
                std::iter::once(c.id.clone())
                    .chain(param_names.iter().map(|n| {
                        c.params
                            .0
                            .iter()
                            .find(|(k, _)| k == n)
                            .map_or("-", |(_, v)| v.as_str())
                            .escape_debug()
                            .to_string()
                    }))
                    .collect()
            })
            .collect();
        let header: Vec<String> = std::iter::once("id".to_string())
            .chain(param_names.iter().cloned())
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &[String]| {
            r.iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        outln!("{}", line(&header));
        for r in &rows {
            outln!("{}", line(r));
        }
    }
}

// ---- validate ----

/// `outrun.validate/v1`
#[derive(Debug, Serialize)]
pub(crate) struct Validate {
    pub ok: bool,
    pub files: Vec<ValidatedFile>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ValidatedFile {
    pub path: PathBuf,
    pub ok: bool,
    /// The file's cells, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    pub problems: Vec<Problem>,
    /// What does not fit GitHub's limits as it is (it still runs: its jobs are capped at the
    /// runner's limit, its runs split into waves), with what to change.
    pub warnings: Vec<String>,
}

/// One problem of an experiment file; a problem of the file as a whole has no position.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    /// The positioned problems of an invalid experiment file.
    pub(crate) fn of_file(f: &outrun::experiment::InvalidFile) -> Vec<Problem> {
        f.problems
            .iter()
            .map(|p| Problem {
                file: f.path.clone(),
                line: Some(p.pos.line),
                column: Some(p.pos.column),
                message: p.message.clone(),
                help: p.help.clone(),
            })
            .collect()
    }

    pub(crate) fn whole_file(file: PathBuf, message: String) -> Problem {
        Problem {
            file,
            line: None,
            column: None,
            message,
            help: None,
        }
    }
}

impl Validate {
    pub(crate) fn human(&self) {
        let bad = self.files.iter().filter(|f| !f.ok).count();
        outln!(
            "{} experiment file(s) checked: {} valid, {bad} invalid",
            self.files.len(),
            self.files.len() - bad,
        );
    }
}

// ---- init ----

/// `outrun.init/v1`
#[derive(Debug, Serialize)]
pub(crate) struct Init {
    /// False when a file init would create already exists: then nothing was written.
    pub ok: bool,
    /// The files that stopped it.
    pub existing: Vec<PathBuf>,
    /// The files written, the workflow and its cells file last.
    pub created: Vec<PathBuf>,
    /// Lines added to `.gitignore`.
    pub gitignore_added: Vec<String>,
    /// The commands to run next: locally, commit, dispatch.
    pub next: Vec<String>,
}

// ---- generate ----

/// `outrun.generate/v1`
#[derive(Debug, Serialize)]
pub(crate) struct Generate {
    pub check: bool,
    pub ok: bool,
    pub workflows: Vec<GeneratedWorkflow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GeneratedWorkflow {
    /// None for a workflow whose experiment file is gone.
    pub experiment: Option<String>,
    pub path: PathBuf,
    pub state: GenerateState,
    /// With `--check`, for a stale workflow: what `outrun generate` would change.
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GenerateState {
    Written,
    Unchanged,
    UpToDate,
    Missing,
    Stale,
    /// A generated workflow with no experiment file any more.
    Orphaned,
    /// An orphaned workflow deleted by `--prune`.
    Removed,
}

impl GenerateState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GenerateState::Written => "written",
            GenerateState::Unchanged => "unchanged",
            GenerateState::UpToDate => "up_to_date",
            GenerateState::Missing => "missing",
            GenerateState::Stale => "stale",
            GenerateState::Orphaned => "orphaned",
            GenerateState::Removed => "removed",
        }
    }
}

// ---- run, merge ----

/// `outrun.run/v1`
#[derive(Debug, Serialize)]
pub(crate) struct RunDoc<'a> {
    pub run_id: &'a str,
    pub run_dir: &'a std::path::Path,
    pub interrupted: bool,
    pub merge: Option<&'a MergeSummary>,
    pub report: Option<&'a Report>,
}

/// `outrun.merge/v1`: a merge of cell outputs, or `--migrate`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum MergeDoc<'a> {
    Merged {
        from: &'a std::path::Path,
        summary: &'a MergeSummary,
        cells: Vec<MergedCell<'a>>,
    },
    Migrated {
        /// Always true here.
        migrate: bool,
        summary: &'a MergeSummary,
    },
}

#[derive(Debug, Serialize)]
pub(crate) struct MergedCell<'a> {
    pub id: &'a str,
    pub status: CellStatus,
    pub error: Option<&'a str>,
}

// ---- error ----

/// `outrun.compare/v1`: where the outputs went and the comparison itself.
#[derive(Debug, Serialize)]
pub(crate) struct CompareDoc<'a> {
    pub out: &'a Path,
    pub files: &'a [PathBuf],
    pub comparison: &'a outrun::compare::cross::CrossComparison,
}

/// `outrun.error/v1`, printed instead of a command's document when it fails.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorDoc {
    pub error: String,
    /// An invalid experiment file's positioned problems; empty for other errors.
    pub problems: Vec<Problem>,
}

// ---- GitHub ----

/// `outrun.dispatch/v1`; with `--wait`, when the run is still going at the timeout, `state`
/// says so (a run that ended prints `outrun.collect/v1` instead).
#[derive(Debug, Serialize)]
pub(crate) struct DispatchDoc<'a> {
    pub record: &'a DispatchRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// When the cells need several runs (more than 256 jobs): every wave's record, the first
    /// being `record`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<&'a DispatchRecord>,
}

/// Whether a run has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunState {
    Completed,
    Running,
}

/// `outrun.watch/v1`
#[derive(Debug, Serialize)]
pub(crate) struct WatchDoc<'a> {
    pub state: RunState,
    pub run: &'a Run,
    pub requests: Stats,
}

/// `outrun.collect/v1`: what was collected (and landed, with `--land`), or that the run is
/// still going.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum CollectDoc<'a> {
    Collected {
        collected: &'a Collected,
        landed: Option<&'a Landed>,
        report: Option<&'a Report>,
    },
    Running {
        /// Always `running` here.
        state: RunState,
        run: &'a Run,
    },
}

/// `outrun.sync/v1`
#[derive(Debug, Serialize)]
pub(crate) struct SyncDoc<'a> {
    pub runs: &'a [SyncItem],
    /// Runs collected already whose rows wait on a landing branch (and its pull request).
    pub held: &'a [outrun::backend::github::Held],
    pub requests: Stats,
}

/// `outrun.status/v1`: one run with its jobs, or the recent runs of the experiments.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum StatusDoc<'a> {
    Run { run: &'a Run, jobs: &'a [Job] },
    Runs { runs: &'a [StatusRun] },
}

#[derive(Debug, Serialize)]
pub(crate) struct StatusRun {
    pub experiment: String,
    pub run: Run,
    pub collected: bool,
}

/// `outrun.rerun/v1`
#[derive(Debug, Serialize)]
pub(crate) struct RerunDoc<'a> {
    pub experiment: &'a str,
    pub run_id: u64,
    pub attempt: u32,
    pub html_url: &'a str,
}

/// `outrun.announce/v1`
#[derive(Debug, Serialize)]
pub(crate) struct AnnounceDoc<'a> {
    pub experiment: &'a str,
    pub run_id: u64,
    pub issue: u64,
    /// None when the comment already shows a newer run and was left alone.
    pub comment_url: Option<&'a str>,
    /// Why the comment was left alone, e.g. "a newer run's comment is there: RUN".
    pub comment_skipped: Option<&'a str>,
}
