//! The server side of the web UI: the ports its server functions call, each a thin caller of the
//! domain layer and the store. Every call runs on the blocking pool (`app::ssr::run_blocking`).
mod files;
pub mod note;
mod tree;

use std::sync::Arc;

use leptos::prelude::provide_context;

use crate::db::{DbError, Document, InstanceId};
use crate::domain::DomainError;
use app::error::AppError;

pub use files::routes;

/// Every port, built once and provided to each request's Leptos context.
#[derive(Clone)]
pub struct Ports {
    tree: app::tree::api::ssr::Tree,
    notes: app::note::api::ssr::Notes,
}

impl Ports {
    pub fn new(document: Document, instance_id: InstanceId) -> Self {
        Ports {
            tree: app::tree::api::ssr::Tree(Arc::new(tree::DocumentTree { document: document.clone() })),
            notes: app::note::api::ssr::Notes(Arc::new(note::DocumentNotes { document, instance_id })),
        }
    }

    pub fn provide(&self) {
        provide_context(self.tree.clone());
        provide_context(self.notes.clone());
    }
}

/// A store failure as the page sees it: the details go to the log, never to the browser.
fn internal(e: DbError) -> AppError {
    tracing::error!("UI request failed in the store: {e}");
    AppError::Server("The server could not read or write the document; its log has the details.".into())
}

/// A refused or failed domain operation as the page sees it.
fn from_domain(e: DomainError) -> AppError {
    match e {
        DomainError::NotFound { kind, id } => AppError::NotFound(format!("{} '{id}' does not exist.", singular(kind))),
        DomainError::Invalid(message) => AppError::Invalid(message),
        DomainError::NotAllowed(message) | DomainError::Protected(message) => AppError::Forbidden(message),
        DomainError::Stale(message) => AppError::Stale(message),
        DomainError::Db(e) => internal(e),
    }
}

fn singular(table: &str) -> &str {
    match table {
        "notes" => "Note",
        "branches" => "Branch",
        "attributes" => "Attribute",
        "attachments" => "Attachment",
        other => other,
    }
}
