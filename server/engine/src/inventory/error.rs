//! `InventoryError`, the one error type of `inventory`: a [`Diagnostic`] plus the text it points
//! into, so it renders on its own. Must not: decide what is an error (the readers do).

use std::sync::Arc;

use crate::diagnostic::Diagnostic;

/// Everything that can go wrong loading an inventory or building a connection target. Always
/// a [`Diagnostic`]: even an unreadable file is reported against its name.
#[derive(Debug, thiserror::Error)]
#[error("{diagnostic}")]
pub struct InventoryError {
    diagnostic: Box<Diagnostic>,
    /// The text of `diagnostic.file`, when it was read, so the error renders on its own.
    source_text: Option<Arc<str>>,
}

impl InventoryError {
    pub fn new(diagnostic: Diagnostic) -> Self {
        InventoryError {
            diagnostic: Box::new(diagnostic),
            source_text: None,
        }
    }

    pub(crate) fn with_source(mut self, text: Arc<str>) -> Self {
        self.source_text = Some(text);
        self
    }

    pub fn diagnostic(&self) -> &Diagnostic {
        &self.diagnostic
    }

    /// The full rustc-like rendering, with the offending line when the file was read.
    pub fn render(&self) -> String {
        self.diagnostic
            .render(self.source_text.as_deref().unwrap_or(""))
    }
}

impl From<Diagnostic> for InventoryError {
    fn from(diagnostic: Diagnostic) -> Self {
        InventoryError::new(diagnostic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Span;

    #[test]
    fn display_is_one_line_with_location() {
        let d = Diagnostic::error("inv", Some(Span::new(3, 7, 1)), "bad");
        assert_eq!(InventoryError::from(d).to_string(), "inv:3:7: error: bad");
    }
}
