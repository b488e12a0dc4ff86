//! outrun's one integration-test binary: the CLI, end to end, on throw-away projects.

mod common;
mod dataset;
mod local_run;
mod spec_errors;
mod workflow;
