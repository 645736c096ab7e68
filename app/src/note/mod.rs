//! The note pane.
pub mod api;
mod view;

pub use view::NoteView;
