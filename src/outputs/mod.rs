//! Cell output directories → checked outcomes with their result rows.
//!
//! The same code reads a local run directory and a folder of unpacked GitHub artifacts: both
//! hold one directory per cell with a `cell.json` (artifacts add one level: artifact → cells).
//! Which cell a directory holds is the backend's call, from where it sits ([`Positioned`]);
//! its `cell.json` is only checked against that, never believed about it.
//! A cell whose results are missing, malformed or lack a key column is failed here, with the
//! reason, and contributes no rows; the other cells are unaffected.

pub mod unzip;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::contract::{CELL_JSON, CellRecord, CellStatus, ContractError, RunProvenance};
use crate::experiment::Plan;

/// One result row: column → value (text, as in the CSV dataset).
pub type Row = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] ContractError),
    #[error("no cell outputs (directories with a cell.json) under {}", .0.display())]
    Empty(PathBuf),
}

/// A cell as collected: its record, its rows (empty unless it succeeded), and the columns its
/// results declared, in their order.
#[derive(Debug, Clone)]
pub struct CellOutcome {
    pub record: CellRecord,
    pub dir: PathBuf,
    pub rows: Rows,
    pub columns: Vec<String>,
    /// Whether `record.duration_s` is only what the cell's own `cell.json` says (no job's
    /// times measured this cell alone): the report marks it so.
    pub duration_claimed: bool,
}

/// A cell's result rows in one buffer, fields in its `columns` order.
///
/// Not a map, nor even a record, per row: a run brings up to millions of rows, and a map per
/// row cost ~8 allocations and 5× the memory of the text (issue 8).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    text: String,
    /// The end of every field in `text`, `width` a row.
    ends: Vec<usize>,
    width: usize,
}

impl Rows {
    fn new(width: usize) -> Rows {
        Rows {
            width,
            ..Rows::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of all fields together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Row `row`'s field in column `col`.
    pub fn get(&self, row: usize, col: usize) -> Option<&str> {
        let (start, end) = self.span(row, col)?;
        Some(&self.text[start..end])
    }

    /// Where row `row`'s field in column `col` is in [`Rows::bytes`].
    pub fn span(&self, row: usize, col: usize) -> Option<(usize, usize)> {
        if col >= self.width {
            return None;
        }
        let i = row * self.width + col;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some((start, end))
    }

    /// The bytes of all fields together, in order.
    pub fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Appends a row of exactly `width` fields.
    fn push<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        for f in fields {
            self.text.push_str(f);
            self.ends.push(self.text.len());
        }
    }

    /// Rows of `width` fields each (a test's rows, built without a file).
    #[cfg(test)]
    pub(crate) fn from_fields(width: usize, rows: &[Vec<String>]) -> Rows {
        let mut out = Rows::new(width);
        for r in rows {
            out.push(r.iter().map(String::as_str));
        }
        out
    }

    /// The same rows with one more column holding `value` in every row.
    fn with_column(&self, value: &str) -> Rows {
        let mut out = Rows::new(self.width + 1);
        for r in 0..self.len() {
            out.push((0..self.width).filter_map(|c| self.get(r, c)));
            out.push([value]);
        }
        out
    }
}

impl CellOutcome {
    /// A cell that left no output to read: its record alone, no rows.
    pub fn without_output(record: CellRecord) -> CellOutcome {
        CellOutcome {
            record,
            dir: PathBuf::new(),
            rows: Rows::default(),
            columns: Vec::new(),
            duration_claimed: false,
        }
    }

    pub fn ok(&self) -> bool {
        self.record.status == CellStatus::Ok
    }

    /// Where `column` is in this cell's rows.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// A cell output folder and the cell it holds, decided by where the folder sits and never by
/// what is inside it: locally, the run folder's cell directory; on GitHub, artifact name → job
/// → the cells the plan gave that job → folder name (see `backend::github::fetch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positioned {
    pub cell: String,
    pub dir: PathBuf,
    /// The run attempt that left it: from the artifact's name and GitHub's jobs; 1 locally.
    pub attempt: u32,
}

/// Every cell output of `plan` under `dir` (depth 1 or 2), checked. A folder is a cell's
/// output by its name (see [`positioned`]).
pub fn read_outputs(dir: &Path, plan: &Plan) -> Result<Vec<CellOutcome>, OutputsError> {
    let out = read_cells(&positioned(&cell_dirs(dir)?, plan), plan);
    if out.is_empty() {
        return Err(OutputsError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

/// Folders with a `cell.json`, positioned by their names: a folder named for a cell of the plan
/// holds that cell (other folders are not this experiment's); its parent, when it is an
/// artifact of this experiment (`outrun-NAME-SHARD-aN`), gives the attempt, else it is 1.
///
/// A folder named by a cell's older 32-bit id (a run started before ids carried 64 bits) is
/// that cell's when exactly one cell of the plan had that id; it is positioned under the
/// cell's current id.
pub fn positioned(dirs: &[PathBuf], plan: &Plan) -> Vec<Positioned> {
    let mut legacy: Option<BTreeMap<String, Option<&str>>> = None;
    dirs.iter()
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?;
            let cell = match plan.cells.iter().find(|c| c.id == name) {
                Some(c) => c.id.as_str(),
                None => {
                    let by_old = legacy.get_or_insert_with(|| {
                        let mut m: BTreeMap<String, Option<&str>> = BTreeMap::new();
                        for c in &plan.cells {
                            m.entry(crate::experiment::legacy_cell_id(&c.params))
                                // Two cells that shared an older id: neither is taken by it.
                                .and_modify(|v| *v = None)
                                .or_insert(Some(c.id.as_str()));
                        }
                        m
                    });
                    (*by_old.get(name)?)?
                }
            };
            let attempt = dir
                .parent()
                .and_then(|p| p.file_name()?.to_str())
                .and_then(|a| crate::names::parse_artifact(plan.name(), a))
                .map_or(1, |(_, attempt)| attempt);
            Some(Positioned {
                cell: cell.to_string(),
                dir: dir.clone(),
                attempt,
            })
        })
        .collect()
}

/// The outcomes of the given cell outputs, checked, in plan order: one per cell of the plan
/// that has an output. The newest attempt's output counts; two in that attempt are refused, not
/// chosen between. An output whose `cell.json` names another cell, experiment or parameters
/// than its position is refused with the claim as the reason: a cell cannot take another's
/// place, nor leave its own empty.
pub fn read_cells(outputs: &[Positioned], plan: &Plan) -> Vec<CellOutcome> {
    read_cells_keeping(outputs, plan, true)
}

/// A run's outcomes, one per cell, in the plan's order: its outputs read back ([`read_cells`]),
/// stamped with what the run's side knows of their times, and in the places of the cells that
/// left no output, the records the backend made of them (`missing`, its own account of the
/// run; one whose cell has an output read, or is not the plan's, is not used). One pass over
/// the plan, as `read_cells` gives its outcomes in the plan's order already: nothing to sort.
pub fn of_run(
    plan: &Plan,
    positioned: &[Positioned],
    provenance: &RunProvenance,
    missing: Vec<CellRecord>,
) -> Vec<CellOutcome> {
    // Collected in reverse, so that of two records of one cell the backend's first is kept.
    let mut missing: HashMap<String, CellRecord> = missing
        .into_iter()
        .rev()
        .map(|r| (r.cell.clone(), r))
        .collect();
    let mut read = read_cells(positioned, plan).into_iter().peekable();
    let mut outcomes = Vec::with_capacity(plan.cells.len());
    for cell in &plan.cells {
        let Some(mut o) = read.next_if(|o| o.record.cell == cell.id) else {
            if let Some(rec) = missing.remove(&cell.id) {
                outcomes.push(CellOutcome::without_output(rec));
            }
            continue;
        };
        // What the run's side says about where and when each cell ran overrides the cell's
        // files.
        o.duration_claimed = provenance.stamp(&mut o.record);
        // A refused cell's own figures are not believed: what is known is its job's time.
        if o.record.status == CellStatus::Refused
            && let Some(j) = provenance.cells.get(&o.record.cell).and_then(|j| j.job_s)
        {
            o.record.duration_s = j;
            o.duration_claimed = false;
        }
        outcomes.push(o);
    }
    debug_assert!(
        read.next().is_none(),
        "read_cells gives the plan's cells, in its order"
    );
    // Cells that shared a job never claim more than the job's time between them.
    let mut claims: Vec<(&str, &mut f64)> = outcomes
        .iter_mut()
        .filter(|o| o.duration_claimed)
        .map(|o| (o.record.cell.as_str(), &mut o.record.duration_s))
        .collect();
    provenance.cap_shared(&mut claims);
    outcomes
}

/// Every cell output of `plan` under `dir`, checked as [`read_outputs`] checks it, without its
/// rows: a report needs the statuses, and a run's rows (millions) are read one cell at a time
/// and dropped, so memory follows the largest cell rather than the run.
pub fn read_statuses(dir: &Path, plan: &Plan) -> Result<Vec<CellOutcome>, OutputsError> {
    let out = read_cells_keeping(&positioned(&cell_dirs(dir)?, plan), plan, false);
    if out.is_empty() {
        return Err(OutputsError::Empty(dir.to_path_buf()));
    }
    Ok(out)
}

fn read_cells_keeping(outputs: &[Positioned], plan: &Plan, keep_rows: bool) -> Vec<CellOutcome> {
    let mut by_cell: BTreeMap<&str, Vec<&Positioned>> = BTreeMap::new();
    for o in outputs {
        by_cell.entry(o.cell.as_str()).or_default().push(o);
    }
    let mut out = Vec::new();
    for cell in &plan.cells {
        let Some(found) = by_cell.get(cell.id.as_str()) else {
            continue;
        };
        let newest = found.iter().map(|o| o.attempt).max().unwrap_or(0);
        let at: Vec<&Positioned> = found
            .iter()
            .copied()
            .filter(|o| o.attempt == newest)
            .collect();
        let taken = if let [one] = at[..] {
            read_one(plan, cell, one)
        } else {
            Err((
                CellStatus::Refused,
                format!(
                    "{} outputs in attempt {newest} ({}): none is taken",
                    at.len(),
                    at.iter()
                        .map(|o| o.dir.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        };
        let mut o = taken.unwrap_or_else(|(status, why)| not_taken(plan, cell, status, why));
        if !keep_rows {
            o.rows = Rows::default();
        }
        out.push(o);
    }
    out
}

/// One cell's output, its `cell.json` checked against its position, then its results; or why
/// it is not taken (the status that cell gets, and the reason).
fn read_one(
    plan: &Plan,
    cell: &crate::experiment::Cell,
    at: &Positioned,
) -> Result<CellOutcome, (CellStatus, String)> {
    let mut record = match CellRecord::read(&at.dir) {
        Ok(r) => r,
        // A cell.json cut short (a job killed while writing it) fails that cell only.
        Err(e) => return Err((CellStatus::Failed, e.to_string())),
    };
    let params: BTreeMap<String, String> = cell.params.iter().cloned().collect();
    // A record written before ids carried 64 bits names the cell by its older id: the same
    // cell (its parameters are checked below), known from here on by its current id.
    if record.cell != cell.id
        && at.cell == cell.id
        && record.cell == crate::experiment::legacy_cell_id(&cell.params)
    {
        record.cell = cell.id.clone();
    }
    let claim = if record.experiment != plan.name() {
        Some(format!("experiment {}", claimed(&record.experiment)))
    } else if record.cell != cell.id {
        Some(format!("cell {}", claimed(&record.cell)))
    } else if record.params != params {
        Some("other parameters than the plan gave this cell".to_string())
    } else {
        None
    };
    match claim {
        Some(c) => Err((CellStatus::Refused, format!("cell.json claims {c}"))),
        None => Ok(check(plan, at.dir.clone(), record)),
    }
}

/// A claimed value for a reason: quoted, and short (it is the cell's text, not outrun's).
fn claimed(value: &str) -> String {
    let short: String = value.chars().take(80).collect();
    let more = if short.len() < value.len() { "…" } else { "" };
    format!("`{}{more}`", short.replace('`', "'"))
}

fn outcome(record: CellRecord, dir: PathBuf) -> CellOutcome {
    CellOutcome {
        dir,
        ..CellOutcome::without_output(record)
    }
}

/// The outcome of a cell whose output was not taken (refused, or its `cell.json` unreadable),
/// with the reason.
fn not_taken(
    plan: &Plan,
    cell: &crate::experiment::Cell,
    status: CellStatus,
    why: String,
) -> CellOutcome {
    let record = CellRecord::missing(plan.name(), cell, status, why, &RunProvenance::default());
    CellOutcome::without_output(record)
}

/// The cell folders (holding a `cell.json`) under `dir`, at depth 1 or 2.
pub fn cell_dirs(dir: &Path) -> Result<Vec<PathBuf>, OutputsError> {
    let read = |d: &Path| -> Result<Vec<PathBuf>, OutputsError> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|source| OutputsError::Read {
                path: d.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok())
            // Links are not followed: an output directory is data, not a pointer elsewhere.
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for d in read(dir)? {
        if d.join(CELL_JSON).is_file() {
            out.push(d);
        } else {
            out.extend(
                read(&d)?
                    .into_iter()
                    .filter(|c| c.join(CELL_JSON).is_file()),
            );
        }
    }
    Ok(out)
}

/// Reads and checks the results of a cell that exited successfully.
fn check(plan: &Plan, dir: PathBuf, mut record: CellRecord) -> CellOutcome {
    let mut outcome = outcome(record.clone(), dir.clone());
    if record.status != CellStatus::Ok {
        return outcome;
    }
    let file = &plan.file.results.file;
    match parse_results_in(&dir, file, plan.file.results.max_size()) {
        Ok((columns, rows)) => match with_params(plan, &record, columns, rows) {
            Ok((columns, rows)) => {
                outcome.rows = rows;
                outcome.columns = columns;
            }
            Err(msg) => fail(&mut record, msg),
        },
        Err(msg) => fail(&mut record, msg),
    }
    outcome.record = record;
    outcome
}

fn fail(record: &mut CellRecord, msg: String) {
    record.status = CellStatus::Failed;
    record.error = Some(msg);
}

/// Adds the cell's parameters as columns the results do not have themselves (so key columns
/// may be parameters), then checks the key columns are present and unique.
fn with_params(
    plan: &Plan,
    record: &CellRecord,
    mut columns: Vec<String>,
    mut rows: Rows,
) -> Result<(Vec<String>, Rows), String> {
    // The dataset's provenance columns are outrun's: one from the results would be dropped
    // (or, named like one, taken for it).
    if let Some(c) = columns.iter().find(|c| is_reserved_column(c)) {
        return Err(format!(
            "{} has a column `{}`: names starting with `outrun_` are reserved for the dataset's provenance columns; rename it",
            plan.file.results.file,
            crate::shown::shown(c)
        ));
    }
    for (k, v) in &record.params {
        if !columns.contains(k) {
            columns.push(k.clone());
            rows = rows.with_column(v);
        }
    }
    let keys = &plan.file.results.keys;
    let at: Vec<Option<usize>> = keys
        .iter()
        .map(|k| columns.iter().position(|c| c == k))
        .collect();
    let missing: Vec<&str> = keys
        .iter()
        .zip(&at)
        .filter(|(_, i)| i.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} lacks the key column(s) {}",
            plan.file.results.file,
            missing.join(", ")
        ));
    }
    let at: Vec<usize> = at.into_iter().flatten().collect();
    // foldhash, not SipHash: this runs once per row (1 M rows a run); seeded per process.
    let mut seen =
        HashSet::with_capacity_and_hasher(rows.len(), foldhash::fast::RandomState::default());
    let cols = KeyCols {
        rows: &rows,
        at: &at,
    };
    for i in 0..rows.len() {
        let key = KeyOf {
            cols: &cols,
            row: i,
        };
        if key.fields().any(str::is_empty) {
            return Err(format!(
                "{} row {}: empty key column",
                plan.file.results.file,
                i + 1
            ));
        }
        if !seen.insert(key) {
            return Err(format!(
                "{} row {}: key ({}) appears twice",
                plan.file.results.file,
                i + 1,
                key.fields().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok((columns, rows))
}

/// A column name outrun keeps for itself: `outrun_…`, in any case.
pub(crate) fn is_reserved_column(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("outrun_"))
}

/// Where a cell's key fields are: shared by every [`KeyOf`], so the set holds two words a row.
struct KeyCols<'a> {
    rows: &'a Rows,
    at: &'a [usize],
}

/// A row's key fields, hashed and compared in place: no key is copied out per row. Small, as
/// a one-cell run puts a million of them in one set, where cache misses are its cost.
#[derive(Clone, Copy)]
struct KeyOf<'a> {
    cols: &'a KeyCols<'a>,
    row: usize,
}

impl<'a> KeyOf<'a> {
    fn fields(self) -> impl Iterator<Item = &'a str> {
        self.cols
            .at
            .iter()
            .map(move |&c| self.cols.rows.get(self.row, c).unwrap_or(""))
    }
}

impl std::hash::Hash for KeyOf<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for f in self.fields() {
            f.hash(h);
        }
    }
}

impl PartialEq for KeyOf<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.fields().eq(other.fields())
    }
}

impl Eq for KeyOf<'_> {}

/// Parses `results.csv` (header + rows) or `results.jsonl` (one flat object a line), of at
/// most `max_size` bytes (`results.max-size`): a larger file fails its cell before a byte of it
/// is read, and one that grows past the limit while it is read stops there — memory follows
/// the limit, never the file.
pub fn parse_results(
    path: &Path,
    name: &str,
    max_size: u64,
) -> Result<(Vec<String>, Rows), String> {
    // An output folder is data: a results "file" that is a link could point anywhere.
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        return Err(format!("{name} is not a regular file"));
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the command wrote no {name}"));
        }
        Err(e) => return Err(format!("cannot read {name}: {e}")),
    };
    parse_open(file, name, max_size)
}

/// [`parse_results`] of `name` (the experiment's `results.file`, a relative path) in the cell
/// folder `dir`, opened through a handle on that folder taken without following a link, and
/// each component of `name` likewise (see `fsutil::open_beneath`): a cell that replaced its
/// folder or any part of the path with a link has its results refused, never read from
/// elsewhere.
pub fn parse_results_in(
    dir: &Path,
    name: &str,
    max_size: u64,
) -> Result<(Vec<String>, Rows), String> {
    let opened = crate::fsutil::open_cell_dir(dir).and_then(|d| {
        crate::fsutil::open_beneath(std::os::fd::AsFd::as_fd(&d), Path::new(name), false)
    });
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the command wrote no {name}"));
        }
        Err(e)
            if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Err(format!(
                "{name} is not a regular file (a link on its way is not followed)"
            ));
        }
        Err(e) if e.to_string() == crate::fsutil::NOT_REGULAR => {
            return Err(format!("{name} is not a regular file"));
        }
        Err(e) => return Err(format!("cannot read {name}: {e}")),
    };
    parse_open(file, name, max_size)
}

/// [`parse_results`] of a file already opened (a regular file, checked by the caller).
pub(crate) fn parse_open(
    file: std::fs::File,
    name: &str,
    max_size: u64,
) -> Result<(Vec<String>, Rows), String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?
        .len();
    if len > max_size {
        return Err(too_large(name, Some(len), max_size));
    }
    let capped = Capped {
        inner: file,
        left: max_size,
        over: false,
    };
    let (columns, rows) = if name.ends_with(".jsonl") {
        parse_jsonl(capped, name, max_size)?
    } else {
        parse_csv(capped, name, len, max_size)?
    };
    if rows.is_empty() {
        return Err(format!("{name} has no rows"));
    }
    Ok((columns, rows))
}

fn too_large(name: &str, len: Option<u64>, max: u64) -> String {
    let is = match len {
        Some(n) => format!("is {n} bytes"),
        None => "grew while it was read".into(),
    };
    format!("{name} {is}: more than the {max} bytes a cell's results may have (results.max-size)")
}

/// A reader that ends with an error (and `over` set) at the first byte past `left`.
struct Capped {
    inner: std::fs::File,
    left: u64,
    over: bool,
}

impl std::io::Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.over = true;
            return Err(std::io::Error::other("past the size limit"));
        }
        let cap = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Streams the file into [`Rows`]: no allocation per row.
fn too_many_columns(name: &str, n: usize) -> Result<(), String> {
    let max = crate::contract::MAX_RESULT_COLUMNS;
    if n > max {
        // A JSONL file is refused at the first key past the limit, before it is read whole.
        let count = if name.ends_with(".jsonl") {
            format!("more than {max}")
        } else {
            n.to_string()
        };
        return Err(format!(
            "{name} has {count} columns; at most {max} are merged"
        ));
    }
    Ok(())
}

fn parse_csv(
    file: Capped,
    name: &str,
    len: u64,
    max_size: u64,
) -> Result<(Vec<String>, Rows), String> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let over = |r: &csv::Reader<Capped>, e: csv::Error| {
        if r.get_ref().over {
            too_large(name, None, max_size)
        } else {
            format!("{name}: {e}")
        }
    };
    let header: Vec<String> = match r.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(over(&r, e)),
    }
    .iter()
    .map(|h| h.trim().to_string())
    .collect();
    too_many_columns(name, header.len())?;
    if header.iter().all(|h| h.is_empty()) {
        return Err(format!("{name} has no header row"));
    }
    let mut seen = HashSet::new();
    for h in &header {
        if h.is_empty() || !seen.insert(h) {
            return Err(format!(
                "{name}: header has an empty or repeated column `{h}`"
            ));
        }
    }
    let mut rows = Rows::new(header.len());
    // The text is at most the file: reserved once, not grown by doubling (a one-cell run's
    // million rows were copied ~20 times over, and each growth faults in fresh pages). The
    // file is within the size limit (checked before), which bounds the reservation.
    let len = usize::try_from(len.min(max_size)).unwrap_or(0);
    rows.text.reserve(len);
    let mut rec = csv::ByteRecord::new();
    loop {
        match r.read_byte_record(&mut rec) {
            Ok(true) => {
                // One check of the whole record (its fields without delimiters), then of each
                // field's end: a field may not end inside a character the next one finishes.
                let line = || rec.position().map_or(0, |p| p.line());
                let text = std::str::from_utf8(rec.as_slice())
                    .map_err(|e| format!("{name} line {}: not UTF-8 ({e})", line()))?;
                let mut end = 0;
                for f in &rec {
                    end += f.len();
                    if !text.is_char_boundary(end) {
                        return Err(format!("{name} line {}: not UTF-8", line()));
                    }
                }
                if rows.ends.is_empty() {
                    // The field ends, from the first row's length (a delimiter a field and a
                    // newline): an estimate, grown as usual if the rows get shorter.
                    let per_row = rec.as_slice().len() + rec.len();
                    rows.ends.reserve(len / per_row.max(1) * rec.len());
                }
                let mut start = 0;
                rows.push(rec.iter().map(|f| {
                    let s = &text[start..start + f.len()];
                    start += f.len();
                    s
                }));
            }
            Ok(false) => break,
            Err(e) => return Err(over(&r, e)),
        }
    }
    Ok((header, rows))
}

fn parse_jsonl(file: Capped, name: &str, max_size: u64) -> Result<(Vec<String>, Rows), String> {
    use std::io::BufRead as _;
    let mut columns: Vec<String> = Vec::new();
    // Beside the list, so a line of many keys is not searched key by key.
    let mut seen: HashSet<String> = HashSet::new();
    let mut maps: Vec<Row> = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    let mut buf = String::new();
    for i in 0.. {
        buf.clear();
        match reader.read_line(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) if reader.get_ref().over => return Err(too_large(name, None, max_size)),
            Err(e) => return Err(format!("{name} line {}: {e}", i + 1)),
        }
        let mut line = buf.strip_suffix('\n').unwrap_or(&buf);
        line = line.strip_suffix('\r').unwrap_or(line);
        // A byte-order mark starts the file, not the first object (as for a CSV file).
        if i == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{name} line {}: {e}", i + 1))?;
        let serde_json::Value::Object(obj) = value else {
            return Err(format!("{name} line {}: expected a JSON object", i + 1));
        };
        let mut row = Row::new();
        for (k, v) in obj {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => return Err(format!("{name} line {}: `{k}` is not a scalar", i + 1)),
            };
            if seen.insert(k.clone()) {
                columns.push(k.clone());
                too_many_columns(name, columns.len())?;
            }
            row.insert(k, text);
        }
        maps.push(row);
    }
    // Objects may name different keys: a key a line lacks is an empty field.
    let mut rows = Rows::new(columns.len());
    for m in &maps {
        rows.push(
            columns
                .iter()
                .map(|c| m.get(c).map(String::as_str).unwrap_or("")),
        );
    }
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], name: &str) -> Result<(Vec<String>, Rows), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        parse_results(&path, name, 1 << 30)
    }

    /// A sparse 100 GB results file (a header, a row, then holes) fails at once by its size:
    /// nothing reserved by it, nothing read (issue 21 item 7: this aborted the whole merge).
    #[test]
    fn a_results_file_over_the_limit_fails_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "mode,v\nsparse,1\n").unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(100 << 30).unwrap();
        let err = parse_results(&path, "results.csv", 1 << 30).unwrap_err();
        assert_eq!(
            err,
            "results.csv is 107374182400 bytes: more than the 1073741824 bytes a cell's results may have (results.max-size)"
        );
        // At the limit exactly, the file is read.
        let (_, rows) = parse(b"a,b\n1,2\n", "results.csv").unwrap();
        assert_eq!(rows.len(), 1);
        let err = parse_results(&dir.path().join("small.csv"), "small.csv", 8);
        assert!(err.is_err());
        std::fs::write(dir.path().join("small.csv"), "a,b\n1,2\n").unwrap();
        assert!(parse_results(&dir.path().join("small.csv"), "small.csv", 8).is_ok());
        let err = parse_results(&dir.path().join("small.csv"), "small.csv", 7).unwrap_err();
        assert!(err.contains("is 8 bytes: more than the 7 bytes"), "{err}");
    }

    /// A file that grows while it is read stops at the limit: the reader never returns a byte
    /// past it, and says so.
    #[test]
    fn the_reader_stops_at_the_limit_whatever_the_file_says_its_size_is() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z");
        std::fs::write(&path, vec![b'0'; 10_000]).unwrap();
        let mut capped = Capped {
            inner: std::fs::File::open(&path).unwrap(),
            left: 4096,
            over: false,
        };
        let mut all = Vec::new();
        let err = capped.read_to_end(&mut all).unwrap_err();
        assert_eq!(all.len(), 4096);
        assert!(capped.over, "{err}");
        // Through the CSV parser: one unending header line, cut at the limit.
        let capped = Capped {
            inner: std::fs::File::open(&path).unwrap(),
            left: 4096,
            over: false,
        };
        let err = parse_csv(capped, "results.csv", 0, 4096).unwrap_err();
        assert!(err.contains("grew while it was read"), "{err}");
        let capped = Capped {
            inner: std::fs::File::open(&path).unwrap(),
            left: 4096,
            over: false,
        };
        let err = parse_jsonl(capped, "results.jsonl", 4096).unwrap_err();
        assert!(err.contains("grew while it was read"), "{err}");
        // A file exactly at the limit is not "over".
        let capped = Capped {
            inner: std::fs::File::open(&path).unwrap(),
            left: 10_000,
            over: false,
        };
        let mut all = Vec::new();
        let mut c = capped;
        c.read_to_end(&mut all).unwrap();
        assert_eq!((all.len(), c.over), (10_000, false));
    }

    #[test]
    fn a_jsonl_file_with_a_byte_order_mark_is_read_like_a_csv_one() {
        let (cols, rows) = parse(b"\xEF\xBB\xBF{\"n\": 1, \"v\": 2}\n", "results.jsonl").unwrap();
        assert_eq!(cols, ["n", "v"]);
        assert_eq!(rows.get(0, 0), Some("1"));
        let (cols, _) = parse(b"\xEF\xBB\xBFn,v\n1,2\n", "results.csv").unwrap();
        assert_eq!(cols, ["n", "v"]);
        // Only at the start: a mark inside is an error, as JSON says.
        assert!(parse(b"{\"n\": 1}\n\xEF\xBB\xBF{\"n\": 2}\n", "results.jsonl").is_err());
    }

    #[test]
    fn reserved_column_names_are_recognised_in_any_case() {
        for c in ["outrun_cell", "OUTRUN_x", "Outrun_", "outrun_run_id"] {
            assert!(is_reserved_column(c), "{c}");
        }
        for c in ["outrun", "outrunx", "my_outrun_cell", "ou", "é"] {
            assert!(!is_reserved_column(c), "{c}");
        }
    }

    #[test]
    fn csv_rows_keep_their_fields_quotes_and_text() {
        let (cols, rows) = parse(
            "layer,note,value\nconv1,\"a, b\",1.5\nfc,\"é \"\"q\"\"\",\n".as_bytes(),
            "results.csv",
        )
        .unwrap();
        assert_eq!(cols, ["layer", "note", "value"]);
        assert_eq!(rows.len(), 2);
        let row = |r| (0..3).map(|c| rows.get(r, c).unwrap()).collect::<Vec<_>>();
        assert_eq!(row(0), ["conv1", "a, b", "1.5"]);
        assert_eq!(row(1), ["fc", "é \"q\"", ""]);
        assert_eq!(rows.get(0, 3), None);
        assert_eq!(rows.get(2, 0), None);
    }

    #[test]
    fn a_character_split_by_a_delimiter_is_not_utf8() {
        // "é" is C3 A9: split by a comma, the record's fields joined are valid UTF-8, but
        // neither field is. This must be an error, not a panic or a merged row.
        let err = parse(b"a,b\n\xC3,\xA9\n", "results.csv").unwrap_err();
        assert!(err.contains("line 2") && err.contains("not UTF-8"), "{err}");
        let err = parse(b"a,b\nx,\xFF\n", "results.csv").unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn a_results_file_wider_than_the_limit_is_refused_with_the_count() {
        let max = crate::contract::MAX_RESULT_COLUMNS;
        let header = |n: usize| {
            (0..n)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let row = |n: usize| vec!["1"; n].join(",");
        let at_limit = format!("{}\n{}\n", header(max), row(max));
        let (cols, rows) = parse(at_limit.as_bytes(), "results.csv").unwrap();
        assert_eq!((cols.len(), rows.len()), (max, 1));
        let over = format!("{}\n{}\n", header(max + 1), row(max + 1));
        let err = parse(over.as_bytes(), "results.csv").unwrap_err();
        assert_eq!(
            err,
            format!(
                "results.csv has {} columns; at most {max} are merged",
                max + 1
            )
        );
        let line: serde_json::Map<String, serde_json::Value> =
            (0..=max).map(|i| (format!("c{i}"), 1.into())).collect();
        let err = parse(
            serde_json::to_string(&line).unwrap().as_bytes(),
            "results.jsonl",
        )
        .unwrap_err();
        assert!(err.contains(&format!("more than {max} columns")), "{err}");
    }

    #[test]
    fn jsonl_rows_align_on_the_union_of_keys() {
        let (cols, rows) = parse(
            b"{\"a\": 1, \"b\": \"x\"}\n\n{\"b\": \"y\", \"c\": true}\n",
            "results.jsonl",
        )
        .unwrap();
        assert_eq!(cols, ["a", "b", "c"]);
        let row = |r| (0..3).map(|c| rows.get(r, c).unwrap()).collect::<Vec<_>>();
        assert_eq!(row(0), ["1", "x", ""]);
        assert_eq!(row(1), ["", "y", "true"]);
    }

    #[test]
    fn a_parameter_column_is_added_to_every_row() {
        let (_, rows) = parse(b"a,b\n1,2\n3,4\n", "results.csv").unwrap();
        let wider = rows.with_column("p");
        assert_eq!(wider.len(), 2);
        let row = |r| (0..3).map(|c| wider.get(r, c).unwrap()).collect::<Vec<_>>();
        assert_eq!(row(0), ["1", "2", "p"]);
        assert_eq!(row(1), ["3", "4", "p"]);
    }

    #[test]
    fn statuses_are_checked_as_for_a_merge_and_no_rows_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let yaml = "name: st\nmatrix:\n  n: [1, 2]\ncommand: 'true'\ntimeout: 20s\n\
                    results:\n  keys: [n, i]\n";
        let plan = crate::experiment::parse(
            root.path(),
            Path::new("experiments/st.yaml"),
            yaml.to_string(),
        )
        .unwrap();
        let run = root.path().join("run");
        // Cell n=1 is good; n=2 writes one key twice, which fails it whether rows are kept or not.
        for (cell, rows) in plan.cells.iter().zip(["1,1,a\n1,2,b\n", "2,1,x\n2,1,y\n"]) {
            let dir = run.join(&cell.id);
            std::fs::create_dir_all(&dir).unwrap();
            let mut rec = CellRecord::missing(
                plan.name(),
                cell,
                CellStatus::Ok,
                String::new(),
                &crate::contract::RunProvenance::default(),
            );
            rec.error = None;
            rec.exit_code = Some(0);
            rec.run_id = "7".into();
            rec.attempt = 1;
            rec.write(&dir).unwrap();
            std::fs::write(dir.join("results.csv"), format!("n,i,v\n{rows}")).unwrap();
        }
        let full = read_outputs(&run, &plan).unwrap();
        let statuses = read_statuses(&run, &plan).unwrap();
        let records = |v: &[CellOutcome]| v.iter().map(|o| o.record.clone()).collect::<Vec<_>>();
        assert_eq!(records(&statuses), records(&full));
        assert_eq!(
            statuses.iter().map(|o| o.record.status).collect::<Vec<_>>(),
            [CellStatus::Ok, CellStatus::Failed]
        );
        assert_eq!(full[0].rows.len(), 2);
        assert!(
            statuses
                .iter()
                .all(|o| o.rows.is_empty() && o.rows.text_len() == 0)
        );
    }

    /// A run's outcomes come in the plan's order in one pass: the cells read from their
    /// outputs (stamped with the run's attempt), and in the places of those that left none the
    /// backend's records of them; a record for a cell whose output was read, or for a cell the
    /// plan does not have, is not used.
    #[test]
    fn of_run_puts_read_and_missing_cells_in_plan_order() {
        let root = tempfile::tempdir().unwrap();
        let yaml = "name: po\nmatrix:\n  n: [1, 2, 3, 4]\ncommand: 'true'\ntimeout: 20s\n\
                    results:\n  keys: [n]\n";
        let plan = crate::experiment::parse(
            root.path(),
            Path::new("experiments/po.yaml"),
            yaml.to_string(),
        )
        .unwrap();
        let prov = RunProvenance {
            run_id: "9".into(),
            attempt: 2,
            ..RunProvenance::default()
        };
        let missing = |cell: &crate::experiment::Cell, why: &str| {
            CellRecord::missing(plan.name(), cell, CellStatus::Failed, why.into(), &prov)
        };
        // Cells 2 and 4 left outputs; the backend has records of 1, 2 and 3.
        let mut positioned = Vec::new();
        for cell in [&plan.cells[3], &plan.cells[1]] {
            let dir = root.path().join("run").join(&cell.id);
            std::fs::create_dir_all(&dir).unwrap();
            let mut rec = missing(cell, "");
            (rec.status, rec.error, rec.exit_code) = (CellStatus::Ok, None, Some(0));
            rec.write(&dir).unwrap();
            let n = &cell.params[0].1;
            std::fs::write(dir.join("results.csv"), format!("n,v\n{n},1\n")).unwrap();
            positioned.push(Positioned {
                cell: cell.id.clone(),
                dir,
                attempt: 1,
            });
        }
        let mut stranger = missing(&plan.cells[0], "not the plan's");
        stranger.cell = "elsewhere".into();
        let records = vec![
            missing(&plan.cells[2], "job cancelled"),
            missing(&plan.cells[1], "overruled by its output"),
            stranger,
            missing(&plan.cells[0], "no output uploaded"),
        ];
        let out = of_run(&plan, &positioned, &prov, records);
        let seen: Vec<(&str, CellStatus, Option<&str>)> = out
            .iter()
            .map(|o| {
                let r = &o.record;
                (r.cell.as_str(), r.status, r.error.as_deref())
            })
            .collect();
        let id = |i: usize| plan.cells[i].id.as_str();
        assert_eq!(
            seen,
            [
                (id(0), CellStatus::Failed, Some("no output uploaded")),
                (id(1), CellStatus::Ok, None),
                (id(2), CellStatus::Failed, Some("job cancelled")),
                (id(3), CellStatus::Ok, None),
            ]
        );
        assert!(
            out.iter()
                .all(|o| o.record.run_id == "9" && o.record.attempt == 2)
        );
        assert_eq!((out[1].rows.len(), out[3].rows.len()), (1, 1));
    }
}
