//! Files outrun writes in a user's repository: atomically, durably, with the mode a plain write
//! would have left, under a lock where several writers may meet.

use std::fs::File;
use std::io::Write as _;
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

/// Writes `path` through `fill` atomically: a temporary file in the same folder, fsync, rename
/// over, fsync the folder. A reader (or a kill at any moment) sees the old file or the new one.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), FsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
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
    // The last moment to stop: after the rename the new file is in place. Dropping `tmp`
    // removes the temporary file.
    if stop_requested() {
        return Err(err(path)(stopped()));
    }
    tmp.persist(path).map_err(|e| err(path)(e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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

    /// The process umask, read from a file created with 0666.
    fn unsafe_free_umask() -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("probe");
        std::fs::write(&p, b"").unwrap();
        !std::fs::metadata(&p).unwrap().permissions().mode() & 0o666
    }
}
