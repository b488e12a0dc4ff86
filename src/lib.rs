//! outrun: declared experiments → GitHub Actions workflows or local runs → a versioned dataset
//! → a report on the issue the work belongs to.
//!
//! The modules follow the data: [`spec`] (experiment files → cells) → [`workflow`] (cells →
//! workflow YAML) → [`backend`] (cells → cell output directories) → [`collect`] (outputs →
//! checked rows) → [`dataset`] (rows → `data/evaluation/NAME.csv`) → [`compare`] and
//! [`report`]. [`pipeline`] is the one collect path every backend ends in; [`names`] holds every
//! name outrun gives things; [`fsutil`] writes files atomically.

pub mod backend;
pub mod collect;
pub mod compare;
pub mod contract;
pub mod dataset;
pub mod fsutil;
pub mod github;
pub mod names;
pub mod pipeline;
pub mod report;
pub mod spec;
pub mod workflow;
