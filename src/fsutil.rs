//! Files outrun writes in a user's repository: atomically, durably, with the mode a plain write
//! would have left, under a lock where several writers may meet.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Prefix and suffix of the temporary files [`write_atomic`] leaves only if it is killed.
pub(crate) const TMP_PREFIX: &str = ".outrun-";
pub(crate) const TMP_SUFFIX: &str = ".tmp";

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FsError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

pub(crate) fn err(path: &Path) -> impl Fn(std::io::Error) -> FsError + '_ {
    move |source| FsError {
        path: path.to_path_buf(),
        source,
    }
}

/// The mode a plain write would leave: the file's own, or 0666 less the umask for a new file
/// (a temporary file's 0600 would make a committed dataset or workflow differ in mode from
/// what git checks out for everyone else).
fn plain_file_mode(path: &Path) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o666))
}

/// Set by the CLI when SIGINT or SIGTERM arrives while a file is being written: the write
/// stops, its temporary file is removed and the old file stays (see [`write_atomic_with`]).
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks every atomic write in progress, and every later one, to stop before its rename.
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`request_stop`] was called.
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

fn stopped() -> std::io::Error {
    std::io::Error::other("stopped by a signal before the rename: the file was not changed")
}

/// A writer that fails once a stop is requested, so a long write ends early.
struct Stoppable<W>(W);

impl<W: std::io::Write> std::io::Write for Stoppable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if stop_requested() {
            return Err(stopped());
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A file written and synced under a temporary name beside its target, not yet in place:
/// [`Staged::commit`] renames it over the target, [`Pair::commit`] renames several together.
/// Dropped, it removes its temporary file and the target stays as it was.
pub(crate) struct Staged {
    target: PathBuf,
    tmp: tempfile::TempPath,
}

impl Staged {
    /// Renames the file over its target (unless a stop was requested: then the target stays
    /// as it was) and syncs the folder.
    pub(crate) fn commit(self) -> Result<(), FsError> {
        // The last moment to stop: after the rename the new file is in place. Dropping `tmp`
        // removes the temporary file.
        if stop_requested() {
            return Err(err(&self.target)(stopped()));
        }
        let Staged { target, tmp } = self;
        tmp.persist(&target).map_err(|e| err(&target)(e.error))?;
        sync_dir(parent_of(&target));
        Ok(())
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes the new content of `path` through `fill` into a temporary file in the same folder
/// and syncs it; nothing is renamed yet (see [`Staged`]).
pub(crate) fn stage_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<Staged, FsError> {
    let dir = parent_of(path);
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
        .permissions(plain_file_mode(path))
        .tempfile_in(dir)
        .map_err(err(dir))?;
    {
        let mut w = std::io::BufWriter::new(Stoppable(tmp.as_file_mut()));
        fill(&mut w).map_err(err(path))?;
        w.flush().map_err(err(path))?;
    }
    tmp.as_file().sync_all().map_err(err(path))?;
    Ok(Staged {
        target: path.to_path_buf(),
        tmp: tmp.into_temp_path(),
    })
}

/// Writes `path` through `fill` atomically: a temporary file in the same folder, fsync, rename
/// over, fsync the folder. A reader (or a kill at any moment) sees the old file or the new one.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), FsError> {
    stage_with(path, fill)?.commit()
}

/// Files of one folder that are replaced together — both or neither, whatever stops the
/// process (a signal, `kill -9`, a power cut) — through a roll-forward journal:
///
/// 1. every new file is written and synced under a temporary name ([`stage_with`]);
/// 2. the journal (`journal`, in the same folder) is written atomically, naming each temporary
///    file and its target: from this moment the change is decided;
/// 3. each temporary file is renamed over its target, the folder synced;
/// 4. the journal is removed.
///
/// A stop before 2 leaves every old file (the temporary ones are removed); after 2 the renames
/// go on. A process killed between 2 and 4 leaves the journal: [`roll_forward`] (which the
/// next writer runs under its lock, and every reader before it reads) finishes the renames.
pub(crate) struct Pair {
    journal: PathBuf,
    staged: Vec<Staged>,
}

impl Pair {
    pub(crate) fn new(journal: PathBuf) -> Pair {
        Pair {
            journal,
            staged: Vec::new(),
        }
    }

    /// Adds a staged file; its target must be in the journal's folder.
    pub(crate) fn add(&mut self, staged: Staged) {
        debug_assert_eq!(parent_of(&staged.target), parent_of(&self.journal));
        self.staged.push(staged);
    }

    /// Puts every staged file in place together (see [`Pair`]); one alone needs no journal.
    pub(crate) fn commit(mut self) -> Result<(), FsError> {
        if self.staged.len() <= 1 {
            return match self.staged.pop() {
                Some(s) => s.commit(),
                None => Ok(()),
            };
        }
        // A stop before the journal: nothing changes (dropping `self.staged` removes the
        // temporary files), and the error names the first file, not the journal.
        if stop_requested() {
            return Err(err(&self.staged[0].target)(stopped()));
        }
        let mut text = String::new();
        for s in &self.staged {
            let (Some(tmp), Some(target)) = (
                s.tmp.file_name().and_then(|n| n.to_str()),
                s.target.file_name().and_then(|n| n.to_str()),
            ) else {
                return Err(err(&s.target)(std::io::Error::other(
                    "a file name that is not UTF-8 cannot be journaled",
                )));
            };
            text.push_str(&format!("{tmp}\t{target}\n"));
        }
        // The commit point: `write_atomic` stops before its rename if a stop was requested,
        // and then dropping `self.staged` removes every temporary file — nothing changed.
        write_atomic(&self.journal, text.as_bytes())?;
        // Decided: from here on nothing stops the renames. The temporary files must outlive a
        // failure below (the journal names them), so they are no longer removed on drop.
        let moves: Vec<(PathBuf, PathBuf)> = std::mem::take(&mut self.staged)
            .into_iter()
            .map(|s| {
                let tmp = s.tmp.to_path_buf();
                if let Err(e) = s.tmp.keep() {
                    // Kept all the same: forgetting the handle never removes the file.
                    std::mem::forget(e.path);
                }
                (tmp, s.target)
            })
            .collect();
        for (tmp, target) in &moves {
            rename_if_there(tmp, target)?;
        }
        sync_dir(parent_of(&self.journal));
        std::fs::remove_file(&self.journal).map_err(err(&self.journal))?;
        sync_dir(parent_of(&self.journal));
        Ok(())
    }
}

/// Renames `tmp` over `target`; a `tmp` already gone was renamed by someone finishing the same
/// journal (a reader's [`roll_forward`]).
fn rename_if_there(tmp: &Path, target: &Path) -> Result<(), FsError> {
    match std::fs::rename(tmp, target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(err(target)),
    }
}

/// Finishes the replacement a [`Pair`] journal at `journal` records, if there is one: renames
/// every temporary file it names that is still there over its target. `allowed` says which
/// target names may appear (anything else makes the journal an error, and nothing is renamed).
/// With `remove` (the caller holds the writers' lock) the journal is removed afterwards;
/// without it (a reader) the renames alone are done — they are idempotent, and only a lock
/// holder may remove a journal a new writer could be about to write again. Returns whether
/// a journal was found.
pub(crate) fn roll_forward(
    journal: &Path,
    allowed: impl Fn(&str) -> bool,
    remove: bool,
) -> Result<bool, FsError> {
    let text = match std::fs::read_to_string(journal) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(err(journal)(e)),
    };
    let dir = parent_of(journal);
    let plain = |n: &str| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
    let mut moves = Vec::new();
    for line in text.lines() {
        let ok = line.split_once('\t').filter(|(tmp, target)| {
            plain(tmp)
                && tmp.starts_with(TMP_PREFIX)
                && tmp.ends_with(TMP_SUFFIX)
                && plain(target)
                && allowed(target)
        });
        let Some((tmp, target)) = ok else {
            return Err(err(journal)(std::io::Error::other(format!(
                "not a journal outrun wrote (line `{}`): check the files beside it, then remove it",
                line.escape_debug()
            ))));
        };
        moves.push((dir.join(tmp), dir.join(target)));
    }
    for (tmp, target) in &moves {
        rename_if_there(tmp, target)?;
    }
    sync_dir(dir);
    if remove {
        std::fs::remove_file(journal).map_err(err(journal))?;
        sync_dir(dir);
    }
    Ok(true)
}

/// [`write_atomic_with`] for bytes in memory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// An exclusive lock on `path` (created if missing), held until the returned file is dropped;
/// the kernel releases it if the process dies.
pub fn lock(path: &Path) -> Result<File, FsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err(dir))?;
    }
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(err(path))?;
    f.lock().map_err(err(path))?;
    Ok(f)
}

/// `.outrun/` under `root`, created with a `.gitignore` that ignores all of it (as cargo does
/// in `target/`): local runs, downloads, dispatch records and locks never show up as untracked
/// files in a user's repository.
pub(crate) fn state_dir(root: &Path) -> Result<PathBuf, FsError> {
    let dir = root.join(crate::names::STATE_DIR);
    std::fs::create_dir_all(&dir).map_err(err(&dir))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        write_atomic(&ignore, b"# outrun's scratch (local runs, downloads, dispatch records, locks): never committed.\n*\n")?;
    }
    Ok(dir)
}

/// Removes the temporary files of writers that died (killed mid-write) from `dir`: ours, and
/// older than `age` — a live writer's is seconds old, and writers of one file hold its lock.
pub(crate) fn remove_stale_temps(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) {
            continue;
        }
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a >= age);
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What [`open_beneath`] says of a FIFO, a device or a folder where a file should be.
pub(crate) const NOT_REGULAR: &str = "not a regular file";

/// A cell's output folder, opened without following a link in its last component: the cell's
/// command owns that folder and may have replaced it with a link to anywhere (`rm -rf
/// "$OUTRUN_OUT"; ln -s DIR "$OUTRUN_OUT"`). Its parent (the run's folder, or an artifact's,
/// which outrun made) is opened as it is. A link or anything but a directory fails (ELOOP,
/// ENOTDIR): the cell's files are then read and written through nothing.
pub(crate) fn open_cell_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a cell folder",
        ));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let base: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(parent)?
        .into();
    openat(
        base.as_fd(),
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )
}

/// Opens `rel` (relative, plain components) beneath the folder `dir`, following no link on the
/// way: each folder with `O_DIRECTORY | O_NOFOLLOW`, the file with `O_NOFOLLOW | O_NONBLOCK` (a
/// FIFO cannot block the open), and only a regular file with one name is taken (a hard link to
/// a file elsewhere is refused before anything is written to it). `write`: created if missing
/// (mode 0666 less the umask), emptied, for writing; else for reading.
pub(crate) fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, write: bool) -> std::io::Result<File> {
    use std::path::Component;
    let invalid =
        |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string());
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(invalid(
                "only plain names are opened beneath a cell's folder",
            )),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, folders)) = parts.split_last() else {
        return Err(invalid("no file name"));
    };
    let mut held: Option<OwnedFd> = None;
    for f in folders {
        let at = held.as_ref().map_or(dir, |h| h.as_fd());
        held = Some(openat(
            at,
            f,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        )?);
    }
    let at = held.as_ref().map_or(dir, |h| h.as_fd());
    let mode = if write {
        libc::O_WRONLY | libc::O_CREAT
    } else {
        libc::O_RDONLY
    };
    let file = File::from(openat(
        at,
        last,
        mode | libc::O_NOFOLLOW | libc::O_NONBLOCK,
    )?);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(NOT_REGULAR));
    }
    if write {
        use std::os::unix::fs::MetadataExt as _;
        if meta.nlink() > 1 {
            return Err(std::io::Error::other(
                "the file has other names (a hard link): not written",
            ));
        }
        file.set_len(0)?;
    }
    Ok(file)
}

/// openat(2) with `O_CLOEXEC`, mode 0666 for a file it creates.
#[allow(unsafe_code)] // openat(2): see the SAFETY note
fn openat(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    flags: libc::c_int,
) -> std::io::Result<OwnedFd> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _};
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(name.as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL in a name"))?;
    // SAFETY: `dir` is an open descriptor for the call's duration and `c` a NUL-terminated
    // string that outlives it; the mode argument is read only with O_CREAT.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            0o666 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat(2) returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn new_files_get_the_umask_mode_and_existing_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.txt");
        write_atomic(&p, b"one").unwrap();
        let umask = unsafe_free_umask();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o666 & !umask
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Nothing is left behind.
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    /// A writer killed after its journal and its first rename: a reader's roll-forward
    /// finishes the pair (and leaves the journal), the lock holder's removes the journal.
    #[test]
    fn a_journal_finishes_an_interrupted_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("d.csv"), dir.path().join("d.runs.csv"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&b, "old b").unwrap();
        let sa = stage_with(&a, |w| w.write_all(b"new a")).unwrap();
        let sb = stage_with(&b, |w| w.write_all(b"new b")).unwrap();
        // What `Pair::commit` does up to a kill after the first rename.
        let journal = dir.path().join(".outrun-d.pair");
        let text = format!(
            "{}\t{}\n{}\t{}\n",
            sa.tmp.file_name().unwrap().to_str().unwrap(),
            "d.csv",
            sb.tmp.file_name().unwrap().to_str().unwrap(),
            "d.runs.csv"
        );
        write_atomic(&journal, text.as_bytes()).unwrap();
        let (ta, tb) = (sa.tmp.keep().unwrap(), sb.tmp.keep().unwrap());
        std::fs::rename(&ta, &a).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"old b");

        let allowed = |t: &str| t == "d.csv" || t == "d.runs.csv";
        assert!(roll_forward(&journal, allowed, false).unwrap());
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        assert!(!tb.exists() && journal.exists());
        assert!(roll_forward(&journal, allowed, true).unwrap());
        assert!(!journal.exists());
        assert!(!roll_forward(&journal, allowed, true).unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 2);

        // A journal naming a file outside the pair is refused, and nothing is renamed.
        std::fs::write(&journal, ".outrun-x.tmp\t../../etc/passwd\n").unwrap();
        assert!(roll_forward(&journal, allowed, true).is_err());
        std::fs::write(&journal, ".outrun-x.tmp\tother.csv\n").unwrap();
        assert!(roll_forward(&journal, allowed, true).is_err());
    }

    /// A pair committed whole: both files new, no journal, no temporary file left.
    #[test]
    fn a_pair_commits_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("d.csv"), dir.path().join("d.runs.csv"));
        std::fs::write(&a, "old a").unwrap();
        let mut pair = Pair::new(dir.path().join(".outrun-d.pair"));
        pair.add(stage_with(&a, |w| w.write_all(b"new a")).unwrap());
        pair.add(stage_with(&b, |w| w.write_all(b"new b")).unwrap());
        pair.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    /// The process umask, read from a file created with 0666.
    fn unsafe_free_umask() -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("probe");
        std::fs::write(&p, b"").unwrap();
        !std::fs::metadata(&p).unwrap().permissions().mode() & 0o666
    }
}
