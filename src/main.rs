//! The `outrun` binary: parse the command line, call the library, choose the exit status.

// `println!` and friends panic (exit 101) when the stream cannot be written: `outrun list >
// /dev/full`, a closed stderr. These write the same text, and such an error ends the program
// with a message and exit status 1. Everything outrun keeps is written atomically before it
// prints, so ending here loses nothing.
macro_rules! out {
    ($($t:tt)*) => { $crate::write_or_exit(false, format_args!($($t)*)) };
}
macro_rules! outln {
    () => { out!("\n") };
    ($($t:tt)*) => { $crate::write_or_exit(false, format_args!("{}\n", format_args!($($t)*))) };
}
macro_rules! err {
    ($($t:tt)*) => { $crate::write_or_exit(true, format_args!($($t)*)) };
}
macro_rules! errln {
    () => { err!("\n") };
    ($($t:tt)*) => { $crate::write_or_exit(true, format_args!("{}\n", format_args!($($t)*))) };
}

mod cli;
mod commands;
mod documents;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser as _;

/// Exit statuses, documented in README.md and `outrun --help`; stable for scripts and agents.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    /// Ctrl-C, or a cancelled run.
    pub const INTERRUPTED: u8 = 2;
    /// `watch --timeout` (or `dispatch --wait --timeout`) ended with the run still going.
    pub const STILL_RUNNING: u8 = 3;
    pub const AUTH: u8 = 4;
    /// `run --local` and `merge` finished their work (every cell ran, the dataset was merged)
    /// but some of what they print was lost: stdout or stderr failed (a pipe whose reader went
    /// away: `outrun run NAME --local 2>&1 | head -n 1`). Only where the status would otherwise
    /// be 0: a failure's own status (1, 2) says more.
    pub const OUTPUT_LOST: u8 = 5;
    pub const USAGE: u8 = 64;
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(exit::USAGE);
            }
            // `--help`, `--version`, `help`: their text is the output, so a closed or full
            // stdout is a failure, as for every other command.
            if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
                write_or_exit(false, format_args!(""));
            }
            let printed = e.print().and_then(|()| {
                use std::io::Write as _;
                std::io::stdout().flush()
            });
            if let Err(err) = printed {
                errln!("error: cannot write to standard output: {err}");
                return ExitCode::from(exit::FAILED);
            }
            return ExitCode::from(exit::OK);
        }
    };
    let json = cli.json;
    let root = match find_root(cli.root.as_deref()) {
        Ok(r) => r,
        Err(e) => return ExitCode::from(report_error(json, e)),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let code = match rt.block_on(commands::run_command(&root, cli)) {
        Ok(code) => code,
        Err(e) => report_error(json, e),
    };
    if code == exit::OK && OUTPUT_LOST.load(Ordering::SeqCst) {
        return ExitCode::from(exit::OUTPUT_LOST);
    }
    ExitCode::from(code)
}

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the commands that must finish what they started whatever happens to their output
/// (`run --local`, `merge`): a write to a closed stdout or stderr is dropped, not fatal.
static KEEP_GOING: AtomicBool = AtomicBool::new(false);

/// Some output was dropped under [`KEEP_GOING`]: the exit status says so ([`exit::OUTPUT_LOST`]).
static OUTPUT_LOST: AtomicBool = AtomicBool::new(false);

/// From here on, a closed stdout or stderr no longer stops the command: what cannot be
/// written is dropped, the command finishes (its cells, its merge) and exits
/// [`exit::OUTPUT_LOST`]. SIGPIPE is ignored, so a write to a pipe whose reader left fails
/// with EPIPE instead of killing outrun between two cells (the cells' commands still start
/// with the default action: the standard library resets it in every child).
#[allow(unsafe_code)] // signal(2): see the SAFETY note
pub(crate) fn keep_going_on_lost_output() {
    KEEP_GOING.store(true, Ordering::SeqCst);
    // SAFETY: SIG_IGN is a valid action for SIGPIPE; no handler of outrun's is replaced, and
    // the disposition is process-wide, so the threads already running share it.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// `outrun plan X | head` should stop quietly when `head` has read enough, as Unix tools do:
/// Rust ignores SIGPIPE, so a write to the closed pipe would panic in `println!` instead. With
/// the default action back, that write ends the process (status 141 in a shell). Sockets are
/// unaffected (the standard library sends with MSG_NOSIGNAL), children get the default anyway,
/// and outrun writes to no child's stdin; every file it keeps is written atomically.
#[allow(unsafe_code)] // signal(2): see the SAFETY note
fn restore_sigpipe() {
    // SAFETY: called first in main, before any thread is spawned; SIG_DFL is a valid action
    // for SIGPIPE and no handler of outrun's is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Errors go to stderr, rendered by miette (with the file's text and the problem underlined
/// for experiment files); with `--json` they are also one JSON object on stdout. The error's
/// variant chooses the exit status.
fn report_error(json: bool, e: commands::CliError) -> u8 {
    if json {
        documents::print(&documents::ErrorDoc {
            error: message(&e),
            problems: e.problems(),
        });
    }
    let code = e.exit_code();
    match e {
        commands::CliError::Experiment(spec) => errln!("{:?}", miette::Report::new(spec)),
        // A comparison file's problems are shown in its text, like an experiment file's.
        commands::CliError::Compare(c @ outrun::compare::CompareError::Invalid(_)) => {
            errln!("{:?}", miette::Report::new(c))
        }
        // Error messages quote values from results (a clashing key, a malformed line): shown
        // with their control characters escaped, on one line.
        e => errln!("error: {}", outrun::shown::shown(&message(&e))),
    }
    code
}

/// The error and its causes on one line, each cause only once: most of outrun's errors already
/// name their cause in their own message, which `{:#}` would then print a second time.
fn message(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        next = cause.source();
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// The given root, or the nearest folder upwards that holds `experiments/` (else the current one).
fn find_root(given: Option<&Path>) -> Result<PathBuf, commands::CliError> {
    if let Some(r) = given {
        if !r.is_dir() {
            return Err(anyhow::anyhow!("--root {}: not a directory", r.display()).into());
        }
        return Ok(r.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(anyhow::Error::from)?;
    Ok(cwd
        .ancestors()
        .find(|d| d.join(outrun::experiment::EXPERIMENTS_DIR).is_dir())
        .unwrap_or(&cwd)
        .to_path_buf())
}

/// Forces (`1`) or forbids (`0`) the terminal rendering of reports on stdout; by default a
/// terminal gets it and a pipe or file the Markdown.
pub const TERMINAL_ENV: &str = "OUTRUN_TERMINAL";

/// Whether stdout gets the terminal rendering of a report, and if so whether in colour:
/// colour only on a terminal (or with `CLICOLOR_FORCE`), never with `NO_COLOR` set.
pub fn terminal_report() -> Option<bool> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
    let tty = std::io::stdout().is_terminal();
    let terminal = match std::env::var(TERMINAL_ENV).as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => tty,
    };
    // NO_COLOR (no-color.org): any value but the empty string turns colour off.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    terminal.then(|| !no_color && (tty || set("CLICOLOR_FORCE")))
}

/// Whether outrun started with its standard output closed (`outrun list >&-`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records, before Rust's runtime starts, whether stdout was closed (`outrun list >&-`): the
/// runtime then opens /dev/null in its place (so no file outrun opens takes its number), and
/// every write would "succeed". With this, the first write to stdout fails instead (exit 1).
#[allow(unsafe_code)] // a constructor in .init_array / __mod_init_func: see the SAFETY note
#[used]
#[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array"))]
#[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__mod_init_func"))]
static DETECT_CLOSED_STDOUT: extern "C" fn() = {
    extern "C" fn detect() {
        // SAFETY: F_GETFD only queries descriptor 1; it runs once, single-threaded, before
        // main, and touches nothing but an atomic.
        #[allow(unsafe_code)]
        let closed = unsafe { libc::fcntl(1, libc::F_GETFD) } == -1;
        STDOUT_CLOSED.store(closed, std::sync::atomic::Ordering::Relaxed);
    }
    detect
};

/// Writes to stdout (or stderr) and flushes; a failed write ends the program with exit status 1
/// and, where stderr still works, says why. Never a panic.
pub(crate) fn write_or_exit(to_stderr: bool, args: std::fmt::Arguments) {
    use std::io::Write as _;
    let result = if !to_stderr && STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        // Closed before outrun started: the runtime's /dev/null in its place would swallow the
        // text, so the write fails here, like one to a pipe whose reader left.
        Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "it is closed",
        ))
    } else if to_stderr {
        let mut e = std::io::stderr().lock();
        e.write_fmt(args).and_then(|()| e.flush())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_fmt(args).and_then(|()| o.flush())
    };
    if let Err(e) = result {
        if KEEP_GOING.load(Ordering::SeqCst) {
            // Said once, on stderr, when it is stdout that failed (a failed stderr has nowhere
            // to say it); the exit status says it either way.
            if !OUTPUT_LOST.swap(true, Ordering::SeqCst) && !to_stderr {
                let _ = writeln!(
                    std::io::stderr(),
                    "outrun: cannot write to standard output: {e}; going on without it"
                );
            }
            return;
        }
        let stream = if to_stderr {
            "standard error"
        } else {
            "standard output"
        };
        let _ = writeln!(std::io::stderr(), "error: cannot write to {stream}: {e}");
        std::process::exit(i32::from(exit::FAILED));
    }
}

/// Progress goes to stderr, as a live bar only when stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
