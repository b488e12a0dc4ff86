//! outrun: declared experiments → GitHub Actions workflows or local runs → a versioned dataset
//! → a report on the issue the work belongs to.
//!
//! The modules follow the data: [`experiment`] (experiment files → cells) → [`workflow`] (cells →
//! workflow YAML) → [`backend`] (cells → cell output directories) → [`outputs`] (cell outputs →
//! checked rows) → [`dataset`] (rows → `data/evaluation/NAME.csv`) → [`compare`] and
//! [`report`]. [`pipeline`] is the one collect path every backend ends in; [`names`] holds every
//! name outrun gives things; [`fsutil`] writes files atomically; [`github_api`] is the GitHub
//! REST client the GitHub backend ([`backend::github`]) talks through.

pub mod backend;
pub mod compare;
pub mod contract;
pub mod dataset;
pub mod experiment;
pub mod fsutil;
pub mod github_api;
pub mod init;
pub mod limits;
pub mod markdown;
pub mod names;
pub mod outputs;
pub mod pipeline;
pub mod report;
pub mod shown;
pub mod workflow;
