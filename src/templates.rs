//! Reads the configured template directory (`pages.templates_dir`): the file-reading edge of [`crate::core::render`].

use std::path::Path;

use crate::core::render::{RenderError, Renderer};

impl Renderer {
    /// The renderer with the built-in templates, overridden by the files of
    /// `dir` that bear a template's name (e.g. `status_table.wiki.j2`).
    /// A `*.wiki.j2` file in `dir` that is no known template is an error,
    /// so a misspelt override is not silently ignored.
    pub fn with_dir(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut overrides = Vec::new();
        if let Some(dir) = dir {
            let read_err = |path: &Path| {
                let path = path.to_path_buf();
                move |source| RenderError::Read { path, source }
            };
            for entry in std::fs::read_dir(dir).map_err(read_err(dir))? {
                let path = entry.map_err(read_err(dir))?.path();
                let is_template = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.ends_with(".wiki.j2"));
                if !is_template {
                    continue;
                }
                let src = std::fs::read_to_string(&path).map_err(read_err(&path))?;
                overrides.push((path, src));
            }
        }
        Renderer::with_sources(overrides)
    }
}
