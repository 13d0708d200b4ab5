//! Error kinds that decide the exit code (`docs/cli.md`): the rest is `anyhow`.

use std::fmt;

/// A usage or configuration error (exit code 2); the message names the flag, key or variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    /// A usage error with a message that says what to do.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done.
    Ok = 0,
    /// Failed; nothing half-written.
    Failed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Done, but something needs a person.
    NeedsPerson = 3,
    /// Not run: an edit someone asked for (`set`, `import`, `resolve`,
    /// `new-quarter`) met another run holding the lease after the wait;
    /// nothing was done, and the same command can simply be run again.
    Busy = 4,
    /// Stopped by Ctrl-C or SIGTERM between two saves (128 + SIGINT's 2,
    /// as shells report it); what was saved is recorded.
    Interrupted = 130,
}

impl ExitCode {
    /// The exit code for an error: 2 when a [`UsageError`] is anywhere in its
    /// chain, or a store newer than this build (which it leaves untouched), else 1.
    pub fn for_error(err: &anyhow::Error) -> ExitCode {
        let too_new = |e: &(dyn std::error::Error + 'static)| {
            matches!(
                e.downcast_ref::<crate::store::StoreError>(),
                Some(crate::store::StoreError::SchemaTooNew { .. })
            )
        };
        if err
            .chain()
            .any(|e| e.downcast_ref::<UsageError>().is_some() || too_new(e))
        {
            ExitCode::Usage
        } else {
            ExitCode::Failed
        }
    }
}
