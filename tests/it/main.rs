//! outrun's one integration-test binary: the CLI, end to end, on throw-away projects.

mod act_support;
mod common;
mod contract;
mod dataset;
mod dataset_history;
mod github;
mod hardening;
mod local_run;
mod prism;
mod spec_errors;
mod workflow;
