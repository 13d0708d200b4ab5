//! Integration tests, in one binary: they run against a real MediaWiki (and MariaDB) started by the tests.

mod accuracy;
mod adopt_roundtrip;
mod bot_flag;
mod db_lost;
mod deploy;
mod faults;
mod json_output;
mod lease;
mod live;
mod mariadb_harness;
mod migrate_race;
mod note_markup;
mod notices;
mod onwiki_resolve;
mod parse_golden;
mod prose;
mod prose_roundtrip;
mod pull;
mod push;
mod render_roundtrip;
mod replay;
mod roll_over;
mod session;
#[path = "../simulation/mod.rs"]
mod simulation;
mod smoke;
mod staff_constructs;
mod staff_tables;
mod store;
mod structure;
mod support;
mod sync;
mod table_conformance;
mod tracker;
mod trust;
mod watch;
