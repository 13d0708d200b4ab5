//! Unit tests of the quarter page parser, one per variation in `pages.md`.
