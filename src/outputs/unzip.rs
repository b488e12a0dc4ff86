//! Safe extraction of a downloaded GitHub artifact zip into a fresh directory.
//!
//! An artifact is written by whatever ran in the workflow, so its zip is treated as hostile:
//! - every entry name is checked (no absolute paths, drive prefixes, `..`, backslashes or NUL)
//!   and only regular files and directories are extracted (no symlinks, devices, FIFOs);
//! - the number of entries, each file's size and the total size are limited, on the sizes the
//!   archive declares (to refuse early) *and* on the bytes actually decompressed (a zip bomb
//!   lies about its sizes), streaming through a fixed buffer so no entry is held in memory;
//! - a name that appears twice, or a file that is also a directory, is refused rather than
//!   letting the second entry overwrite the first;
//! - files are created 0644 and directories 0755 whatever modes the zip records;
//! - everything is extracted into a temporary directory beside `dest`, which is renamed to
//!   `dest` only once every entry succeeded: on any refusal `dest` does not exist.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zip::ZipArchive;
use zip::result::ZipError;

/// Bounds on what one artifact may unpack to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes over all files.
    pub max_total_bytes: u64,
    /// Entries (files and directories) in the archive.
    pub max_files: usize,
    /// Decompressed bytes of any one file.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    /// A cell's outputs are result rows, logs and small side files: 1 GiB unpacked per artifact
    /// (512 MiB per file) is generous for that, and small enough that a hostile or runaway
    /// artifact cannot fill a laptop's disk; 20 000 entries is far more than one directory per
    /// cell needs, and bounds the inodes (and time) an archive of empty files could cost.
    fn default() -> Self {
        Limits {
            max_total_bytes: 1 << 30,
            max_files: 20_000,
            max_file_bytes: 512 << 20,
        }
    }
}

/// What [`extract`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extracted {
    /// Regular files written (directories are not counted).
    pub files: usize,
    /// Decompressed bytes written.
    pub bytes: u64,
}

/// Why an artifact was not extracted. Entry names are shown quoted and escaped, as the
/// archive spells them.
#[derive(Debug, thiserror::Error)]
pub enum UnzipError {
    #[error("cannot extract {} into {}: the destination already exists", zip.display(), dest.display())]
    DestExists { zip: PathBuf, dest: PathBuf },
    #[error("cannot read {} as a zip archive: {source}", zip.display())]
    Archive { zip: PathBuf, source: ZipError },
    #[error("{}: entry {entry:?} is refused: {reason}", zip.display())]
    UnsafeName {
        zip: PathBuf,
        entry: String,
        reason: &'static str,
    },
    #[error("{}: entry {entry:?} is {kind}; only regular files and directories are extracted", zip.display())]
    NotRegular {
        zip: PathBuf,
        entry: String,
        kind: &'static str,
    },
    #[error("{}: entry {entry:?} is encrypted", zip.display())]
    Encrypted { zip: PathBuf, entry: String },
    #[error("{}: entry {entry:?} is listed twice (also as {first:?}); one copy would overwrite the other", zip.display())]
    Duplicate {
        zip: PathBuf,
        entry: String,
        first: String,
    },
    #[error("{}: entry {entry:?} needs {conflict:?} to be both a file and a directory", zip.display())]
    FileDirConflict {
        zip: PathBuf,
        entry: String,
        conflict: String,
    },
    #[error("{} has {count} entries, more than the limit of {limit} (max_files)", zip.display())]
    TooManyFiles {
        zip: PathBuf,
        count: usize,
        limit: usize,
    },
    #[error("{}: entry {entry:?} {how} the limit of {limit} bytes for one file (max_file_bytes)", zip.display())]
    FileTooLarge {
        zip: PathBuf,
        entry: String,
        how: &'static str,
        limit: u64,
    },
    #[error("{}: entry {entry:?} {how} the limit of {limit} bytes for the whole artifact (max_total_bytes)", zip.display())]
    TotalTooLarge {
        zip: PathBuf,
        entry: String,
        how: &'static str,
        limit: u64,
    },
    #[error("{}: cannot open entry {entry:?}: {source}", zip.display())]
    Entry {
        zip: PathBuf,
        entry: String,
        source: ZipError,
    },
    #[error("{}: cannot decompress entry {entry:?}: {source}", zip.display())]
    Read {
        zip: PathBuf,
        entry: String,
        source: io::Error,
    },
    #[error("{}: cannot write entry {entry:?} to {}: {source}", zip.display(), path.display())]
    Write {
        zip: PathBuf,
        entry: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot extract {}: cannot {action} {}: {source}", zip.display(), path.display())]
    Io {
        zip: PathBuf,
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// `how` for the size errors: what told us the entry is too large.
const DECLARED: &str = "declares a size over";
const DECOMPRESSED: &str = "decompresses to more than";

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

#[cfg_attr(not(unix), allow(dead_code))]
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Copy buffer: the most of an entry ever in memory.
const CHUNK: usize = 64 * 1024;

/// An entry checked by the first pass, before anything is written.
struct Planned {
    /// The name as the archive spells it, for messages.
    name: String,
    /// Normal components only, relative to the extraction root.
    parts: Vec<String>,
    is_dir: bool,
}

/// Extracts the zip at `zip_path` into `dest`, which must not exist (its parent is created
/// if needed). On error nothing remains at `dest` and nothing was written outside it.
pub fn extract(zip_path: &Path, dest: &Path, limits: &Limits) -> Result<Extracted, UnzipError> {
    let zip = zip_path.to_path_buf();
    let io_err = |action: &'static str, path: &Path| {
        let zip = zip.clone();
        let path = path.to_path_buf();
        move |source| UnzipError::Io {
            zip,
            action,
            path,
            source,
        }
    };
    if dest.symlink_metadata().is_ok() {
        return Err(UnzipError::DestExists {
            zip: zip.clone(),
            dest: dest.to_path_buf(),
        });
    }
    let file = File::open(zip_path).map_err(io_err("open", zip_path))?;
    let mut archive =
        ZipArchive::new(io::BufReader::new(file)).map_err(|source| UnzipError::Archive {
            zip: zip.clone(),
            source,
        })?;

    // Pass 1: names, kinds and declared sizes, before anything touches the disk.
    let plan = check_entries(&zip, &mut archive, limits)?;

    // Pass 2: extract into a temporary directory beside `dest` (so the final rename stays on
    // one file system); it is removed when dropped, i.e. on every early return below.
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".outrun-unzip-")
        .tempdir_in(parent)
        .map_err(io_err("create a temporary directory in", parent))?;
    let root = tmp.path();
    set_mode(root, DIR_MODE).map_err(io_err("set the mode of", root))?;

    let done = extract_planned(&zip, &mut archive, &plan, root, limits)?;

    // Only now does `dest` appear, complete. `keep` first so a failed rename can clean up.
    move_into_place(zip, tmp, dest)?;
    Ok(done)
}

/// Pass 2 proper: every planned entry, in order, under `root`, within the limits on the
/// bytes actually decompressed.
fn extract_planned<R: Read + io::Seek>(
    zip: &Path,
    archive: &mut ZipArchive<R>,
    plan: &[Planned],
    root: &Path,
    limits: &Limits,
) -> Result<Extracted, UnzipError> {
    let mut buf = vec![0u8; CHUNK];
    let mut done = Extracted { files: 0, bytes: 0 };
    for (index, entry) in plan.iter().enumerate() {
        if entry.is_dir {
            make_dirs(root, &entry.parts).map_err(|(path, source)| UnzipError::Write {
                zip: zip.to_path_buf(),
                entry: entry.name.clone(),
                path,
                source,
            })?;
            continue;
        }
        let (dirs, _) = entry.parts.split_at(entry.parts.len() - 1);
        make_dirs(root, dirs).map_err(|(path, source)| UnzipError::Write {
            zip: zip.to_path_buf(),
            entry: entry.name.clone(),
            path,
            source,
        })?;
        let path = entry
            .parts
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c));
        let write_err = |source| UnzipError::Write {
            zip: zip.to_path_buf(),
            entry: entry.name.clone(),
            path: path.clone(),
            source,
        };
        let mut reader = archive
            .by_index(index)
            .map_err(|source| UnzipError::Entry {
                zip: zip.to_path_buf(),
                entry: entry.name.clone(),
                source,
            })?;
        let mut out = create_file(&path).map_err(write_err)?;
        let budget = Budget {
            file: limits.max_file_bytes,
            total: limits.max_total_bytes.saturating_sub(done.bytes),
        };
        let n = copy_limited(&mut reader, &mut out, budget, &mut buf).map_err(|e| match e {
            CopyError::FileLimit => UnzipError::FileTooLarge {
                zip: zip.to_path_buf(),
                entry: entry.name.clone(),
                how: DECOMPRESSED,
                limit: limits.max_file_bytes,
            },
            CopyError::TotalLimit => UnzipError::TotalTooLarge {
                zip: zip.to_path_buf(),
                entry: entry.name.clone(),
                how: DECOMPRESSED,
                limit: limits.max_total_bytes,
            },
            CopyError::Read(source) => UnzipError::Read {
                zip: zip.to_path_buf(),
                entry: entry.name.clone(),
                source,
            },
            CopyError::Write(source) => write_err(source),
        })?;
        out.flush().map_err(write_err)?;
        done.files += 1;
        done.bytes += n;
    }

    Ok(done)
}

/// Renames the finished temporary directory to `dest`, never over an existing one; on
/// failure the temporary directory is removed.
fn move_into_place(zip: PathBuf, tmp: tempfile::TempDir, dest: &Path) -> Result<(), UnzipError> {
    let kept = tmp.keep();
    if let Err(source) = rename_noreplace(&kept, dest) {
        let _ = fs::remove_dir_all(&kept);
        if source.kind() == io::ErrorKind::AlreadyExists {
            return Err(UnzipError::DestExists {
                zip,
                dest: dest.to_path_buf(),
            });
        }
        return Err(UnzipError::Io {
            zip,
            action: "move the extracted files to",
            path: dest.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// The first pass: every entry's name, kind and declared size, and the entry count.
fn check_entries<R: Read + io::Seek>(
    zip: &Path,
    archive: &mut ZipArchive<R>,
    limits: &Limits,
) -> Result<Vec<Planned>, UnzipError> {
    check_archive(zip, archive, limits)?;
    let mut plan = Vec::with_capacity(archive.len());
    let mut claims = PathClaims::default();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|source| UnzipError::Archive {
                zip: zip.to_path_buf(),
                source,
            })?;
        let planned = check_entry(zip, &entry)?;
        if !planned.is_dir {
            check_declared_size(
                zip,
                &planned.name,
                entry.size(),
                &mut declared_total,
                limits,
            )?;
        }
        claims.claim(zip, &planned)?;
        plan.push(planned);
    }
    Ok(plan)
}

/// Checks on the archive as a whole: no repeated raw name, not too many entries.
fn check_archive<R: Read + io::Seek>(
    zip: &Path,
    archive: &ZipArchive<R>,
    limits: &Limits,
) -> Result<(), UnzipError> {
    // The zip crate keeps one entry per raw name, silently: a repeated name would be extracted
    // from whichever copy it kept. Refuse it, naming it.
    if archive.has_duplicate_names() {
        let entry = repeated_raw_name(zip, archive.central_directory_start())
            .unwrap_or_else(|| "?".to_string());
        return Err(UnzipError::Duplicate {
            zip: zip.to_path_buf(),
            entry: entry.clone(),
            first: entry,
        });
    }
    if archive.len() > limits.max_files {
        return Err(UnzipError::TooManyFiles {
            zip: zip.to_path_buf(),
            count: archive.len(),
            limit: limits.max_files,
        });
    }
    Ok(())
}

/// One entry's name (decodable, safe), kind (a directory or a regular file) and encryption.
fn check_entry(zip: &Path, entry: &zip::read::ZipFileEntry<'_>) -> Result<Planned, UnzipError> {
    let name = match entry.name() {
        Ok(n) => n.into_owned(),
        Err(_) => {
            let entry = String::from_utf8_lossy(entry.name_raw()).into_owned();
            return Err(UnzipError::UnsafeName {
                zip: zip.to_path_buf(),
                entry,
                reason: "its name cannot be decoded",
            });
        }
    };
    let unsafe_name = |reason| UnzipError::UnsafeName {
        zip: zip.to_path_buf(),
        entry: name.clone(),
        reason,
    };
    let parts = check_name(&name).map_err(unsafe_name)?;
    // The zip crate's own check must agree (it also knows Windows-specific tricks).
    match entry.enclosed_name() {
        Some(p) if p.components().count() == parts.len() => {}
        _ => return Err(unsafe_name("it does not stay inside the destination")),
    }
    let kind = entry.unix_mode().map(|m| m & S_IFMT).unwrap_or(0);
    let is_dir = match kind {
        S_IFDIR => true,
        // No type recorded, or a regular file: a trailing `/` marks a directory (DOS
        // attributes of directory entries often lack the directory bit).
        0 | S_IFREG => name.ends_with('/'),
        S_IFLNK => {
            return Err(UnzipError::NotRegular {
                zip: zip.to_path_buf(),
                entry: name,
                kind: "a symbolic link",
            });
        }
        _ => {
            return Err(UnzipError::NotRegular {
                zip: zip.to_path_buf(),
                entry: name,
                kind: "a special file (device, FIFO or socket)",
            });
        }
    };
    if entry.encrypted() {
        return Err(UnzipError::Encrypted {
            zip: zip.to_path_buf(),
            entry: name,
        });
    }
    Ok(Planned {
        name,
        parts,
        is_dir,
    })
}

/// A file's declared size against the per-file limit, and the running declared total
/// (`declared_total`, updated) against the total limit.
fn check_declared_size(
    zip: &Path,
    name: &str,
    size: u64,
    declared_total: &mut u64,
    limits: &Limits,
) -> Result<(), UnzipError> {
    if size > limits.max_file_bytes {
        return Err(UnzipError::FileTooLarge {
            zip: zip.to_path_buf(),
            entry: name.to_string(),
            how: DECLARED,
            limit: limits.max_file_bytes,
        });
    }
    *declared_total = declared_total.saturating_add(size);
    if *declared_total > limits.max_total_bytes {
        return Err(UnzipError::TotalTooLarge {
            zip: zip.to_path_buf(),
            entry: name.to_string(),
            how: DECLARED,
            limit: limits.max_total_bytes,
        });
    }
    Ok(())
}

/// The paths the entries checked so far claim, to refuse a duplicate or a file/directory clash.
#[derive(Default)]
struct PathClaims {
    /// Normalised path → (the entry that named it, is it a file).
    seen: HashMap<String, (String, bool)>,
    /// Paths that some entry needs to be a directory (its own path if a directory, its parents).
    dirs_needed: HashMap<String, String>,
}

impl PathClaims {
    /// Claims `entry`'s path (and its parents as directories), or refuses it.
    fn claim(&mut self, zip: &Path, entry: &Planned) -> Result<(), UnzipError> {
        let (name, parts, is_dir) = (&entry.name, &entry.parts, entry.is_dir);
        let key = parts.join("/");
        if let Some((first, _)) = self.seen.get(&key) {
            return Err(UnzipError::Duplicate {
                zip: zip.to_path_buf(),
                entry: name.clone(),
                first: first.clone(),
            });
        }
        // A file where another entry needs a directory, or the reverse.
        let parents = (1..parts.len()).map(|i| parts[..i].join("/"));
        for p in parents.chain(is_dir.then(|| key.clone())) {
            if let Some((_, true)) = self.seen.get(&p) {
                return Err(UnzipError::FileDirConflict {
                    zip: zip.to_path_buf(),
                    entry: name.clone(),
                    conflict: p,
                });
            }
            self.dirs_needed.entry(p).or_insert_with(|| name.clone());
        }
        if !is_dir && self.dirs_needed.contains_key(&key) {
            return Err(UnzipError::FileDirConflict {
                zip: zip.to_path_buf(),
                entry: name.clone(),
                conflict: key,
            });
        }
        self.seen.insert(key, (name.clone(), !is_dir));
        Ok(())
    }
}

/// The first entry name the central directory (at `dir_start`) lists twice, read straight from
/// its file headers (only used to name the culprit once the zip crate found one).
fn repeated_raw_name(zip: &Path, dir_start: u64) -> Option<String> {
    let mut r = io::BufReader::new(File::open(zip).ok()?);
    io::Seek::seek(&mut r, io::SeekFrom::Start(dir_start)).ok()?;
    let mut seen = std::collections::HashSet::new();
    let mut header = [0u8; 46];
    loop {
        r.read_exact(&mut header).ok()?;
        if header[..4] != *b"PK\x01\x02" {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as usize;
        let mut name = vec![0u8; u16_at(28)];
        r.read_exact(&mut name).ok()?;
        io::Seek::seek_relative(&mut r, (u16_at(30) + u16_at(32)) as i64).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
}

/// An entry name → its normal components, or why it is refused. Stricter than
/// `enclosed_name`: no `..` at all (even `a/../b`), no absolute path of any flavour, no
/// backslash (a separator on Windows, so `..\x` would be traversal there).
fn check_name(name: &str) -> Result<Vec<String>, &'static str> {
    if name.is_empty() {
        return Err("it has an empty name");
    }
    if name.contains('\0') {
        return Err("its name contains a NUL byte");
    }
    if name.contains('\\') {
        return Err("its name contains a backslash");
    }
    if name.starts_with('/') {
        return Err("it is an absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("it starts with a drive letter");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("it has a `..` component"),
            p => parts.push(p.to_string()),
        }
    }
    if parts.is_empty() {
        return Err("it names no file");
    }
    Ok(parts)
}

/// What may still be decompressed: for this file, and for the artifact after earlier files.
#[derive(Debug, Clone, Copy)]
struct Budget {
    file: u64,
    total: u64,
}

#[derive(Debug)]
enum CopyError {
    FileLimit,
    TotalLimit,
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` into `to` through `buf`, counting the bytes actually read, and stops (before
/// writing them) as soon as they exceed either budget — the declared size is never trusted.
fn copy_limited(
    from: &mut impl Read,
    to: &mut impl Write,
    budget: Budget,
    buf: &mut [u8],
) -> Result<u64, CopyError> {
    let mut copied: u64 = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        copied += n as u64;
        if copied > budget.file {
            return Err(CopyError::FileLimit);
        }
        if copied > budget.total {
            return Err(CopyError::TotalLimit);
        }
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

/// Creates `root/parts…` one level at a time, each new directory 0755. An existing path must
/// be a real directory (never followed through a link).
fn make_dirs(root: &Path, parts: &[String]) -> Result<(), (PathBuf, io::Error)> {
    let mut path = root.to_path_buf();
    for part in parts {
        path.push(part);
        match fs::create_dir(&path) {
            Ok(()) => set_mode(&path, DIR_MODE).map_err(|e| (path.clone(), e))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(&path).map_err(|e| (path.clone(), e))?;
                if !meta.is_dir() {
                    return Err((
                        path,
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "a file is in the way of a directory",
                        ),
                    ));
                }
            }
            Err(e) => return Err((path, e)),
        }
    }
    Ok(())
}

/// Renames `from` to `to`, failing with `AlreadyExists` if `to` exists: a plain `rename` would
/// silently replace an empty directory created at `to` since [`extract`] checked it.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        #[allow(unsafe_code)] // renameat2(2): the one way to rename without replacing
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // A kernel or file system without the flag: fall back to check-then-rename.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    if to.symlink_metadata().is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "destination exists",
        ));
    }
    fs::rename(from, to)
}

/// A new file (never an existing one), mode 0644 whatever the umask.
fn create_file(path: &Path) -> io::Result<File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, FILE_MODE);
    let file = opts.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(FILE_MODE))?;
    Ok(file)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use zip::CompressionMethod;
    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// `root/zips/` holds the archives, `root/work/` is the parent of every `dest`: after a
    /// refusal the whole of `root` must look as it did before.
    struct Sandbox {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Sandbox {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_path_buf();
            fs::create_dir(root.join("zips")).unwrap();
            fs::create_dir(root.join("work")).unwrap();
            Sandbox { _tmp: tmp, root }
        }
        fn zip(&self, name: &str, build: impl FnOnce(&mut ZipWriter<File>)) -> PathBuf {
            let path = self.root.join("zips").join(name);
            let mut w = ZipWriter::new(File::create(&path).unwrap());
            build(&mut w);
            w.finish().unwrap();
            path
        }
        fn dest(&self) -> PathBuf {
            self.root.join("work").join("artifact")
        }
        /// Every path under `root`, relative, links not followed.
        fn tree(&self) -> BTreeSet<String> {
            fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
                for e in fs::read_dir(dir).unwrap() {
                    let p = e.unwrap().path();
                    out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                    if fs::symlink_metadata(&p).unwrap().is_dir() {
                        walk(base, &p, out);
                    }
                }
            }
            let mut out = BTreeSet::new();
            walk(&self.root, &self.root, &mut out);
            out
        }
        /// Extracts `zip` expecting a refusal; checks nothing changed under `root` (no
        /// `dest`, no temporary directory, nothing beside it) and returns the message.
        fn refused(&self, zip: &Path, limits: &Limits) -> (UnzipError, String) {
            let before = self.tree();
            let err = extract(zip, &self.dest(), limits).expect_err("extraction should be refused");
            let msg = err.to_string();
            assert!(!self.dest().exists(), "dest left behind after: {msg}");
            assert_eq!(self.tree(), before, "files written after: {msg}");
            assert!(
                msg.contains(&zip.display().to_string()),
                "message does not name the zip: {msg}"
            );
            (err, msg)
        }
    }

    fn opts() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    fn add(w: &mut ZipWriter<File>, name: &str, data: &[u8]) {
        w.start_file(name, opts()).unwrap();
        w.write_all(data).unwrap();
    }

    /// Replaces every occurrence of `from` by `to` (same length) in the archive bytes, i.e. in
    /// both the local header and the central directory.
    fn patch_name(zip: &Path, from: &str, to: &str) {
        assert_eq!(from.len(), to.len());
        let mut bytes = fs::read(zip).unwrap();
        let mut hits = 0;
        for i in 0..=bytes.len() - from.len() {
            if &bytes[i..i + from.len()] == from.as_bytes() {
                bytes[i..i + from.len()].copy_from_slice(to.as_bytes());
                hits += 1;
            }
        }
        assert_eq!(
            hits, 2,
            "{from} should appear in the local header and the central directory"
        );
        fs::write(zip, bytes).unwrap();
    }

    /// Sets the declared uncompressed size of the only entry, in its local header and in the
    /// central directory.
    fn patch_declared_size(zip: &Path, size: u32) {
        let mut bytes = fs::read(zip).unwrap();
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        bytes[22..26].copy_from_slice(&size.to_le_bytes());
        let cd = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
        fs::write(zip, bytes).unwrap();
    }

    #[cfg(target_os = "linux")]
    fn peak_rss_kib() -> u64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn unzip_normal_artifact_byte_exact_with_fixed_modes() {
        let sb = Sandbox::new();
        let json = br#"{"cell":"cellA","status":"ok"}"#.to_vec();
        let csv = b"k,v\n1,2.5\n2,3.5\n".to_vec();
        let log: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let zip = sb.zip("normal.zip", |w| {
            add(w, "cellA/cell.json", &json);
            w.start_file(
                "cellA/results.csv",
                opts().compression_method(CompressionMethod::Stored),
            )
            .unwrap();
            w.write_all(&csv).unwrap();
            w.add_directory("cellA/logs/", opts().unix_permissions(0o777))
                .unwrap();
            // Setuid and executable bits in the archive must not survive.
            w.start_file("cellA/logs/deep/run.log", opts().unix_permissions(0o4755))
                .unwrap();
            w.write_all(&log).unwrap();
            w.add_directory("cellB/", opts()).unwrap();
        });
        let dest = sb.dest();
        let got = extract(&zip, &dest, &Limits::default()).unwrap();
        assert_eq!(
            got,
            Extracted {
                files: 3,
                bytes: (json.len() + csv.len() + log.len()) as u64
            }
        );
        assert_eq!(fs::read(dest.join("cellA/cell.json")).unwrap(), json);
        assert_eq!(fs::read(dest.join("cellA/results.csv")).unwrap(), csv);
        assert_eq!(fs::read(dest.join("cellA/logs/deep/run.log")).unwrap(), log);
        assert!(dest.join("cellB").is_dir());
        // Only the artifact itself is left in the parent: the temporary directory is gone.
        assert_eq!(fs::read_dir(sb.root.join("work")).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &str| {
                fs::symlink_metadata(dest.join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777
            };
            assert_eq!(mode(""), 0o755);
            for d in ["cellA", "cellA/logs", "cellA/logs/deep", "cellB"] {
                assert_eq!(mode(d), 0o755, "{d}");
            }
            for f in [
                "cellA/cell.json",
                "cellA/results.csv",
                "cellA/logs/deep/run.log",
            ] {
                assert_eq!(mode(f), 0o644, "{f}");
            }
        }
    }

    #[test]
    fn unzip_directory_only_entry() {
        let sb = Sandbox::new();
        let zip = sb.zip("dir.zip", |w| w.add_directory("emptydir/", opts()).unwrap());
        let got = extract(&zip, &sb.dest(), &Limits::default()).unwrap();
        assert_eq!(got, Extracted { files: 0, bytes: 0 });
        assert!(sb.dest().join("emptydir").is_dir());
        assert_eq!(fs::read_dir(sb.dest().join("emptydir")).unwrap().count(), 0);
    }

    #[test]
    fn unzip_empty_archive_gives_empty_dest() {
        let sb = Sandbox::new();
        let zip = sb.zip("empty.zip", |_| {});
        assert_eq!(
            extract(&zip, &sb.dest(), &Limits::default()).unwrap(),
            Extracted { files: 0, bytes: 0 }
        );
        assert!(sb.dest().is_dir());
    }

    #[test]
    fn unzip_refuses_existing_dest_and_leaves_it_alone() {
        let sb = Sandbox::new();
        let zip = sb.zip("ok.zip", |w| add(w, "a.txt", b"new"));
        fs::create_dir(sb.dest()).unwrap();
        fs::write(sb.dest().join("a.txt"), b"old").unwrap();
        let err = extract(&zip, &sb.dest(), &Limits::default()).unwrap_err();
        assert!(matches!(err, UnzipError::DestExists { .. }), "{err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read(sb.dest().join("a.txt")).unwrap(), b"old");
    }

    #[test]
    fn unzip_refuses_traversal_and_absolute_names() {
        let sb = Sandbox::new();
        // An absolute name pointing into the sandbox, so "nothing outside dest" is checked.
        let abs_inside = sb.root.join("work").join("evil_abs").display().to_string();
        let names = [
            "../evil",
            "a/../../evil",
            "a/../b",
            "/abs",
            abs_inside.as_str(),
            "C:\\x",
            "C:/x",
            "c:evil",
            "\\\\server\\share\\x",
            "a\\..\\..\\evil",
            "..\\evil",
            "a/\0b",
            "./",
        ];
        for (i, name) in names.iter().enumerate() {
            let zip = sb.zip(&format!("bad{i}.zip"), |w| {
                add(w, "fine/ok.txt", b"ok");
                add(w, name, b"pwned");
            });
            let (err, msg) = sb.refused(&zip, &Limits::default());
            assert!(
                matches!(err, UnzipError::UnsafeName { .. }),
                "{name:?}: {msg}"
            );
            assert!(
                msg.contains(&format!("{name:?}")),
                "message does not name the entry {name:?}: {msg}"
            );
        }
        assert!(!Path::new("/abs").exists());
    }

    #[test]
    fn unzip_refuses_symlink_entry() {
        let sb = Sandbox::new();
        let zip = sb.zip("link.zip", |w| {
            add(w, "cellA/cell.json", b"{}");
            w.add_symlink("cellA/passwd", "/etc/passwd", opts())
                .unwrap();
            add(w, "cellA/zz.txt", b"after");
        });
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(matches!(err, UnzipError::NotRegular { .. }), "{msg}");
        assert!(
            msg.contains("\"cellA/passwd\"") && msg.contains("symbolic link"),
            "{msg}"
        );
    }

    #[test]
    fn unzip_refuses_special_file_entry() {
        let sb = Sandbox::new();
        // The writer keeps only permission bits, so the FIFO type (0o010000) is patched into
        // the central directory's external attributes (Unix mode in the high 16 bits).
        let zip = sb.zip("fifo.zip", |w| add(w, "cellA/fifo", b""));
        let mut bytes = fs::read(&zip).unwrap();
        let cd = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 5] = 3; // made by: Unix
        bytes[cd + 38..cd + 42].copy_from_slice(&(0o010_644u32 << 16).to_le_bytes());
        fs::write(&zip, bytes).unwrap();
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(matches!(err, UnzipError::NotRegular { .. }), "{msg}");
        assert!(
            msg.contains("\"cellA/fifo\"") && msg.contains("special file"),
            "{msg}"
        );
    }

    #[test]
    fn unzip_refuses_duplicate_names() {
        let sb = Sandbox::new();
        let zip = sb.zip("dup.zip", |w| {
            add(w, "cellA/a.csv", b"first");
            add(w, "cellA/b.csv", b"second");
        });
        patch_name(&zip, "cellA/b.csv", "cellA/a.csv");
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(matches!(err, UnzipError::Duplicate { .. }), "{msg}");
        assert!(msg.contains("\"cellA/a.csv\""), "{msg}");

        // The same path spelt differently is still a duplicate.
        let zip = sb.zip("dup2.zip", |w| {
            add(w, "cellA/a.csv", b"first");
            add(w, "cellA/./a.csv", b"second");
        });
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(matches!(err, UnzipError::Duplicate { .. }), "{msg}");
        assert!(msg.contains("\"cellA/./a.csv\""), "{msg}");
    }

    #[test]
    fn unzip_refuses_file_that_is_also_a_directory() {
        let sb = Sandbox::new();
        let zip = sb.zip("conflict1.zip", |w| {
            add(w, "a", b"file");
            add(w, "a/b", b"under it");
        });
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(
            matches!(err, UnzipError::FileDirConflict { .. }) && msg.contains("\"a/b\""),
            "{msg}"
        );
        let zip = sb.zip("conflict2.zip", |w| {
            add(w, "a/b", b"under it");
            add(w, "a", b"file");
        });
        let (err, msg) = sb.refused(&zip, &Limits::default());
        assert!(
            matches!(err, UnzipError::FileDirConflict { .. }) && msg.contains("\"a\""),
            "{msg}"
        );
    }

    #[test]
    fn unzip_refuses_zip_bomb_quickly_without_buffering() {
        let sb = Sandbox::new();
        let chunk = vec![0u8; MIB as usize];
        let zip = sb.zip("bomb.zip", |w| {
            w.start_file("cellA/zeros.bin", opts()).unwrap();
            for _ in 0..64 {
                w.write_all(&chunk).unwrap();
            }
        });
        drop(chunk);
        let compressed = fs::metadata(&zip).unwrap().len();
        assert!(compressed < 256 * 1024, "bomb is {compressed} bytes");
        let limits = Limits {
            max_total_bytes: MIB,
            ..Limits::default()
        };

        // Honest sizes: refused from the declared size, before reading anything.
        #[cfg(target_os = "linux")]
        let rss = peak_rss_kib();
        let start = Instant::now();
        let (err, msg) = sb.refused(&zip, &limits);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            matches!(err, UnzipError::TotalTooLarge { how: DECLARED, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("max_total_bytes") && msg.contains("\"cellA/zeros.bin\""),
            "{msg}"
        );

        // Lying sizes (declares 100 bytes): refused while decompressing, after ~1 MiB at most.
        patch_declared_size(&zip, 100);
        let limits = Limits {
            max_total_bytes: MIB,
            max_file_bytes: MIB,
            ..Limits::default()
        };
        let start = Instant::now();
        let (err, msg) = sb.refused(&zip, &limits);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        // The zip crate notices the lie itself once past 100 bytes; our counter is the
        // backstop (see `unzip_copy_limited_counts_real_bytes`).
        assert!(
            matches!(
                err,
                UnzipError::Read { .. }
                    | UnzipError::TotalTooLarge {
                        how: DECOMPRESSED,
                        ..
                    }
                    | UnzipError::FileTooLarge {
                        how: DECOMPRESSED,
                        ..
                    }
            ),
            "{msg}"
        );
        assert!(msg.contains("\"cellA/zeros.bin\""), "{msg}");
        #[cfg(target_os = "linux")]
        {
            let grew = peak_rss_kib().saturating_sub(rss);
            assert!(
                grew < 16 * 1024,
                "peak RSS grew by {grew} KiB while refusing the bomb"
            );
        }
    }

    #[test]
    fn unzip_refuses_lying_declared_size() {
        let sb = Sandbox::new();
        let data = vec![b'x'; 100_000];
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let zip = sb.zip(&format!("lie-{method:?}.zip"), |w| {
                w.start_file("cellA/results.csv", opts().compression_method(method))
                    .unwrap();
                w.write_all(&data).unwrap();
            });
            patch_declared_size(&zip, 10);
            // The zip crate stops reading past the declared size (or fails the CRC): an error
            // naming the entry, and nothing left behind.
            for limits in [
                Limits::default(),
                Limits {
                    max_file_bytes: 1000,
                    max_total_bytes: 1000,
                    ..Limits::default()
                },
            ] {
                let (err, msg) = sb.refused(&zip, &limits);
                assert!(
                    matches!(
                        err,
                        UnzipError::Read { .. }
                            | UnzipError::FileTooLarge {
                                how: DECOMPRESSED,
                                ..
                            }
                    ),
                    "{method:?}: {msg}"
                );
                assert!(msg.contains("\"cellA/results.csv\""), "{msg}");
            }
        }
    }

    #[test]
    fn unzip_refuses_declared_file_over_per_file_limit() {
        let sb = Sandbox::new();
        let zip = sb.zip("big.zip", |w| {
            add(w, "small.txt", b"ok");
            add(w, "big.bin", &vec![7u8; 2 * MIB as usize]);
        });
        let (err, msg) = sb.refused(
            &zip,
            &Limits {
                max_file_bytes: MIB,
                ..Limits::default()
            },
        );
        assert!(
            matches!(err, UnzipError::FileTooLarge { how: DECLARED, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("max_file_bytes") && msg.contains("\"big.bin\""),
            "{msg}"
        );
    }

    #[test]
    fn unzip_refuses_total_over_limit_across_files() {
        let sb = Sandbox::new();
        let zip = sb.zip("many-mid.zip", |w| {
            for i in 0..3 {
                add(w, &format!("f{i}.bin"), &vec![1u8; 400 * 1024]);
            }
        });
        let (err, msg) = sb.refused(
            &zip,
            &Limits {
                max_total_bytes: MIB,
                ..Limits::default()
            },
        );
        assert!(matches!(err, UnzipError::TotalTooLarge { .. }), "{msg}");
        assert!(
            msg.contains("max_total_bytes") && msg.contains("\"f2.bin\""),
            "{msg}"
        );
    }

    #[test]
    fn unzip_refuses_too_many_files() {
        let sb = Sandbox::new();
        let zip = sb.zip("many.zip", |w| {
            for i in 0..5 {
                add(w, &format!("cell{i}/cell.json"), b"{}");
            }
        });
        let (err, msg) = sb.refused(
            &zip,
            &Limits {
                max_files: 4,
                ..Limits::default()
            },
        );
        assert!(
            matches!(
                err,
                UnzipError::TooManyFiles {
                    count: 5,
                    limit: 4,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains("max_files"), "{msg}");
        // Exactly at the limit is fine.
        let got = extract(
            &zip,
            &sb.dest(),
            &Limits {
                max_files: 5,
                ..Limits::default()
            },
        )
        .unwrap();
        assert_eq!(got.files, 5);
    }

    #[test]
    fn unzip_refuses_garbage_archive() {
        let sb = Sandbox::new();
        let zip = sb.root.join("zips").join("garbage.zip");
        fs::write(&zip, b"this is not a zip").unwrap();
        let (err, _) = sb.refused(&zip, &Limits::default());
        assert!(matches!(err, UnzipError::Archive { .. }), "{err}");
    }

    #[test]
    fn unzip_copy_limited_counts_real_bytes() {
        // A reader that yields 64 MiB whatever anything declares: the copy stops just past
        // the budget, with only the fixed buffer in memory, and writes nothing beyond it.
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::new();
        let mut src = io::repeat(0).take(64 * MIB);
        let err = copy_limited(
            &mut src,
            &mut out,
            Budget {
                file: 2 * MIB,
                total: MIB,
            },
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(err, CopyError::TotalLimit), "{err:?}");
        assert!(out.len() as u64 <= MIB, "wrote {} bytes", out.len());
        let mut src = io::repeat(0).take(64 * MIB);
        let err = copy_limited(
            &mut src,
            &mut io::sink(),
            Budget {
                file: MIB,
                total: 8 * MIB,
            },
            &mut buf,
        )
        .unwrap_err();
        assert!(matches!(err, CopyError::FileLimit), "{err:?}");
        // At the limit exactly is fine.
        let mut src = io::repeat(1).take(MIB);
        assert_eq!(
            copy_limited(
                &mut src,
                &mut io::sink(),
                Budget {
                    file: MIB,
                    total: MIB
                },
                &mut buf
            )
            .unwrap(),
            MIB
        );
    }

    #[test]
    fn unzip_rename_never_replaces_an_existing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, to) = (tmp.path().join("from"), tmp.path().join("to"));
        fs::create_dir(&from).unwrap();
        fs::create_dir(&to).unwrap(); // empty: plain rename(2) would replace it
        assert_eq!(
            rename_noreplace(&from, &to).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(from.is_dir());
        fs::remove_dir(&to).unwrap();
        rename_noreplace(&from, &to).unwrap();
        assert!(to.is_dir() && !from.exists());
    }

    #[test]
    fn unzip_check_name_cases() {
        assert_eq!(check_name("a/./b//c").unwrap(), ["a", "b", "c"]);
        assert_eq!(check_name("cellA/").unwrap(), ["cellA"]);
        for bad in ["", "/", ".", "..", "a/..", "/a", "C:x", "a\\b", "a\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
