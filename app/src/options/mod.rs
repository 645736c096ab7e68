//! The options pages. So far: sync (`/options/sync`), Trilium's sync options with "test sync".
pub mod api;
mod sync;

pub use sync::SyncOptionsPage;
