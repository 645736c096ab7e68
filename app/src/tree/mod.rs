//! The note tree.
mod actions;
pub mod api;
mod icons;
mod overlays;
mod store;
mod view;

pub use store::provide_tree;
pub use view::{NewNoteButton, NoteTree};
