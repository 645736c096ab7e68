//! The note pane.
pub mod api;
#[cfg(feature = "hydrate")]
mod editing;
mod view;

pub use view::{linked_note_id, NoteView, SaveStatus};
