//! goalsbot: keeps the Technology Goals pages of a MediaWiki in sync with a goals tracker.
//!
//! `core` is pure (no network, database, runtime or clock); `store` and
//! `wiki` are the edges; `ops` holds one module per command, joining them;
//! `app` dispatches the command line to `ops`.

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
pub mod wiki;
pub mod wiki_http;
