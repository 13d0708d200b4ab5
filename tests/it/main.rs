//! Integration tests, one binary: each module tests one part against real files.

mod store;
