//! goalsbot: keeps the Technology Goals pages of a MediaWiki in sync with a goals tracker.
//!
//! `core` is pure (no network, database, runtime or clock); `store` and
//! `wiki` are the edges; `ops` holds one module per command, joining them;
//! `app` dispatches the command line to `ops`.

// No function over 100 lines in what ships (`clippy.toml` sets the threshold;
// CI's clippy runs with `-D warnings`). Tests may be longer: a scenario reads
// best whole.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod error;
pub mod fault;
pub mod interrupt;
pub mod ops;
pub mod store;
pub mod templates;
pub mod web;
pub mod wiki;
pub mod wiki_http;
