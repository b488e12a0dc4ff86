//! outrun's one integration-test binary: the CLI, end to end, on throw-away projects.

mod common;
mod dataset;
mod dataset_history;
mod github;
mod local_run;
mod prism;
mod spec_errors;
mod workflow;
