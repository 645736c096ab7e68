//! A note's labels and relations: owned ones as editable chips, inherited ones apart.
pub mod api;
mod editor;
mod panel;

pub use panel::{load_attributes, AttributePanel, LoadedAttributes};
