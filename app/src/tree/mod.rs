//! The note tree.
pub mod api;
mod view;

pub use view::NoteTree;
