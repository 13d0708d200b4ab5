//! goalsbot: keeps the Technology Goals pages of a MediaWiki in sync with a goals tracker.

pub mod parse;
pub mod records;
