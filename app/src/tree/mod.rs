//! The note tree.
mod actions;
pub mod api;
mod icons;
mod overlays;
mod store;
mod view;

pub use store::provide_tree;

/// Reloads every level the page's tree has loaded, when called (the live channel, after it missed
/// changes); taken from the page's tree, so call this where the layout provided it.
pub fn loaded_levels_reloader() -> impl Fn() + Copy + 'static {
    let tree = store::use_tree();
    move || leptos::task::spawn_local(async move { tree.reload_loaded().await })
}
pub use view::{NewNoteButton, NoteTree};

/// Reloads everything the tree shows, keeping the open note's path open (the protected session
/// started or ended: any row may show another title).
pub fn everything_reloader() -> impl Fn() + Copy + 'static {
    let tree = store::use_tree();
    move || leptos::task::spawn_local(async move { tree.reload_everything().await })
}
