//! goalsbot: keeps the Technology Goals pages of a MediaWiki in sync with a goals tracker.

pub mod export;
pub mod fields;
pub mod records;
pub mod store;
