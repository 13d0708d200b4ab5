//! Integration tests, in one binary: they run against a real MediaWiki started by the tests.

mod mariadb_harness;
mod smoke;
mod support;
