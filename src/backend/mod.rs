//! Where cells run. Both backends leave the same thing behind: one directory per cell holding
//! `cell.json`, the logs and the results file (see `crate::contract`), and both end in the one
//! collect path, `crate::pipeline::finish`.

pub mod github;
pub mod local;
