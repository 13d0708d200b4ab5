//! The pure core: records, their fields, parsing, rendering, merging and planning — no I/O, no clock.

pub mod adopt;
pub mod colour;
pub mod export;
pub mod feed;
pub mod fields;
pub mod identity;
pub mod merge;
pub mod notes;
pub mod parse;
pub mod plan;
pub mod prose;
pub mod records;
pub mod render;
pub mod requests;
pub mod runlog;
pub mod table_check;
pub mod wikitable;
pub mod wikitext;
