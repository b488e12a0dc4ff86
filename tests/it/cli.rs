//! The command line itself: which options each command shows, shell completions, man pages.

use crate::common::{self, Project};

/// The commands that talk to GitHub; only they show (and take) `-R` and `--api-url`.
const GITHUB_COMMANDS: [&str; 7] = [
    "dispatch", "status", "watch", "collect", "announce", "rerun", "sync",
];
const LOCAL_COMMANDS: [&str; 9] = [
    "list",
    "plan",
    "validate",
    "generate",
    "run",
    "merge",
    "report",
    "completions",
    "man",
];

/// Every option and argument in a command's help has a description, and the GitHub options
/// appear exactly on the commands that use them.
#[test]
fn github_options_show_only_where_they_matter_and_everything_is_described() {
    let p = Project::new();
    let (code, top, err) = common::run(p.cmd().arg("--help"));
    assert_eq!(code, 0, "{err}");
    assert!(!top.contains("--api-url") && !top.contains("-R,"), "{top}");
    for cmd in GITHUB_COMMANDS.iter().chain(&LOCAL_COMMANDS) {
        let (code, out, err) = common::run(p.cmd().args([cmd, "--help"]));
        assert_eq!(code, 0, "{cmd}: {err}");
        let github = GITHUB_COMMANDS.contains(cmd);
        assert_eq!(
            out.contains("-R, --repo <OWNER/REPO>"),
            github,
            "{cmd}:\n{out}"
        );
        assert_eq!(out.contains("--api-url <URL>"), github, "{cmd}:\n{out}");
        for section in ["Arguments:\n", "Options:\n"] {
            let Some(body) = out.split(section).nth(1) else {
                continue;
            };
            // An entry is a line starting with two spaces and a name; its description follows
            // on the same line after two spaces, or on the next, more indented, line.
            let lines: Vec<&str> = body.lines().take_while(|l| !l.trim().is_empty()).collect();
            for (i, line) in lines.iter().enumerate() {
                let entry = line.starts_with("  ") && !line.starts_with("        ");
                if !entry {
                    continue;
                }
                let inline = line
                    .trim_start()
                    .split_once("  ")
                    .is_some_and(|(_, d)| !d.trim().is_empty());
                let below = lines.get(i + 1).is_some_and(|n| n.starts_with("        "));
                assert!(inline || below, "{cmd}: undescribed: {line}\n{out}");
            }
        }
    }
}

/// `-R` before the subcommand still works for the GitHub commands (scripts wrote it there), and
/// is a usage error for a command that does not talk to GitHub.
#[test]
fn github_options_before_the_command_are_accepted_only_for_github_commands() {
    let p = Project::new();
    p.experiment("tiny", &common::tiny_experiment("tiny", common::WRITE_ROW));
    let (code, _, err) = common::run(p.cmd().args(["-R", "octo/lab", "list"]));
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("-R and --api-url are for the commands"),
        "{err}"
    );
    let (code, _, err) = common::run(p.cmd().args(["list", "-R", "octo/lab"]));
    assert_eq!(code, 64, "{err}");
    // Without a token the GitHub command gets as far as asking for one: the option was taken.
    for args in [
        &["-R", "octo/lab", "status", "1"][..],
        &["status", "1", "-R", "octo/lab"][..],
    ] {
        let (code, _, err) = common::run(
            p.cmd()
                .env("HOME", p.root())
                .env("PATH", "/usr/bin:/bin")
                .args(args),
        );
        assert_eq!(code, 4, "{args:?}: {err}");
        assert!(err.contains("no GitHub token"), "{args:?}: {err}");
    }
}

#[test]
fn completion_scripts_name_every_command() {
    let p = Project::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = common::run(p.cmd().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        for cmd in GITHUB_COMMANDS.iter().chain(&LOCAL_COMMANDS) {
            assert!(out.contains(cmd), "{shell}: no `{cmd}` in\n{out}");
        }
    }
    let (code, _, _) = common::run(p.cmd().args(["completions", "tcsh"]));
    assert_eq!(code, 64);
}

/// The man page is roff with the usual sections; groff reads it without a warning. With
/// `--out`, one page per command.
#[test]
fn man_pages_are_roff_with_name_and_synopsis() {
    let p = Project::new();
    let (code, page, err) = common::run(p.cmd().arg("man"));
    assert_eq!(code, 0, "{err}");
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    for section in [
        ".TH outrun 1",
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no {section} in\n{page}");
    }
    if common::have("groff") {
        let mut child = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.trim().is_empty(),
            "{warnings}"
        );
    }
    let dir = p.root().join("man");
    let (code, out, err) = common::run(p.cmd().args(["man", "--out"]).arg(&dir));
    assert_eq!(code, 0, "{err}");
    for cmd in GITHUB_COMMANDS.iter().chain(&LOCAL_COMMANDS) {
        let page = dir.join(format!("outrun-{cmd}.1"));
        assert!(out.contains(&page.display().to_string()), "{out}");
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            text.contains(".SH NAME") && text.contains(".SH SYNOPSIS"),
            "{text}"
        );
    }
    assert!(dir.join("outrun.1").is_file());
}

/// A reader that stops early (`outrun plan X | head -1`) ends outrun quietly, as it ends any
/// Unix tool: no "Broken pipe" panic on stderr.
#[test]
fn a_closed_stdout_ends_outrun_quietly() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    let p = crate::common::Project::new();
    let grid = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    // 10,000 cells: the plan is far more than a pipe's 64 KiB buffer.
    p.experiment(
        "big",
        &format!(
            "name: big\nmatrix:\n  a: [{}]\n  b: [{}]\ncommand: 'true'\ntimeout: 20s\nresults:\n  keys: [a, b]\n",
            grid(200),
            grid(50)
        ),
    );
    let mut child = p
        .cmd()
        .args(["plan", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The reader is gone: outrun's next writes find the pipe closed.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt as _;
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
}
