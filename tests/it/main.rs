//! outrun's one integration-test binary: the CLI, end to end, on throw-away projects.

// Tests and benchmarks stop at the first surprise (unwrap) and signal the processes they
// start (unsafe libc::kill); the library itself does neither. Their items are their own.
#![allow(clippy::unwrap_used, unsafe_code, unreachable_pub)]

mod act_support;
mod architecture;
mod cli;
mod common;
mod compare;
mod contract;
mod dataset;
mod dataset_history;
mod experiment_errors;
mod github;
mod hardening;
mod hostile;
mod install;
mod integrity;
mod limits;
mod local_run;
mod onboarding;
mod prism;
mod research;
mod schemas;
mod workflow;
