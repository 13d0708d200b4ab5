//! goalsbot: keeps the Technology Goals pages of a MediaWiki in sync with a goals tracker.

pub mod app;
pub mod cli;
pub mod command;
pub mod config;
pub mod doctor;
pub mod error;
pub mod export;
pub mod fault;
pub mod fields;
pub mod merge;
pub mod parse;
pub mod pull;
pub mod push;
pub mod records;
pub mod render;
pub mod runlog;
pub mod status;
pub mod store;
pub mod sync;
pub mod tracker;
pub mod watch;
pub mod wiki;
pub mod wiki_http;
