//! Integration tests, in one binary: they run against a real MediaWiki started by the tests.

mod parse_golden;
mod pull;
mod smoke;
mod store;
mod support;
