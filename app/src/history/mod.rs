//! History: a note's revisions (list, preview, diff, restore, delete, download) and the document's
//! Recent changes with undelete.
pub mod api;
mod recent;
mod revisions;

pub use recent::{RecentChangesButton, RecentChangesPage};
pub use revisions::{load_revisions, LoadedRevisions, RevisionsButton, RevisionsPanel};
