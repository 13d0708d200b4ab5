//! One module per command: each joins the pure core to the store and the wiki.

pub mod doctor;
pub mod pull;
pub mod push;
pub mod runs;
pub mod sync;
pub mod tracker;
pub mod watch;
