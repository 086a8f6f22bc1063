//! The pieces every MOBIUS tool shares, written once: the record types of docs/CONTRACT.md, the
//! JSON-lines reader and writer, exit codes, the common flags, environment-name validation,
//! the on-disk layout, crash-safe file writes, the per-environment lock, the hash-chained
//! deployment history, the safe opening of files by name (`fsafe`), and the few file-system
//! differences between Unix and Windows.

pub mod app_config;
pub mod args;
pub mod atomic;
pub mod backups;
pub mod cli;
pub mod deflate;
pub mod digest;
pub mod env;
pub mod exit;
pub mod fsafe;
pub mod helptext;
pub mod history;
pub mod jsonl;
pub mod layout;
pub mod lock;
pub mod platform;
pub mod progress;
pub mod records;
pub mod redact;
pub mod signal;
pub mod text;
pub mod time;
pub mod zipout;

pub use env::EnvName;
pub use exit::{Exit, ToolError};
pub use layout::Root;

/// The version every tool reports and writes into manifests and records.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
