//! The server side of the web UI: the ports its server functions call, each a thin caller of the
//! domain layer and the store. Every call runs on the blocking pool (`app::ssr::run_blocking`).
pub mod attributes;
mod files;
pub mod note;
pub(crate) mod setup;
pub mod sync_options;
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
    attributes: app::attributes::api::ssr::Attributes,
    sync_options: Option<app::options::api::ssr::SyncOptionsService>,
}

impl Ports {
    /// `instance_id` stamps the entity changes of the UI's writes.
    pub fn new(document: Document, instance_id: InstanceId) -> Self {
        Ports {
            tree: app::tree::api::ssr::Tree(Arc::new(tree::DocumentTree { document: document.clone(), instance_id: instance_id.clone() })),
            notes: app::note::api::ssr::Notes(Arc::new(note::DocumentNotes {
                document: document.clone(),
                instance_id: instance_id.clone(),
            })),
            attributes: app::attributes::api::ssr::Attributes(Arc::new(attributes::DocumentAttributes::new(
                document,
                instance_id,
            ))),
            sync_options: None,
        }
    }

    /// The sync options page's port (it needs `config.ini` and the sync engine's state).
    pub fn with_sync_options(mut self, port: sync_options::DocumentSyncOptions) -> Self {
        self.sync_options = Some(app::options::api::ssr::SyncOptionsService(Arc::new(port)));
        self
    }

    pub fn provide(&self) {
        provide_context(self.tree.clone());
        provide_context(self.notes.clone());
        provide_context(self.attributes.clone());
        if let Some(sync_options) = &self.sync_options {
            provide_context(sync_options.clone());
        }
    }
}

/// A store failure as the page sees it: the details go to the log, never to the browser.
fn internal(e: DbError) -> AppError {
    tracing::error!("UI request failed in the store: {e}");
    AppError::Server("The server could not read or write the document; its log has the details.".into())
}

/// What the page shows instead of a protected note's title (ciphertext until a protected session exists).
const PROTECTED_TITLE: &str = "[protected]";

/// A refusal of the domain layer as the page sees it, in the domain's own words
/// ([`DomainError::user_message`]); a store failure goes to the log.
fn domain_error(e: DomainError) -> AppError {
    let message = e.user_message();
    match e {
        DomainError::NotFound { .. } => AppError::NotFound(message),
        // A rule refusing the request (delete root, move into its own subtree) is bad input, not a
        // permission: 400, like every other refusal of what was asked.
        DomainError::Invalid(_) | DomainError::NotAllowed(_) => AppError::Invalid(message),
        DomainError::Protected(_) => AppError::Forbidden(message),
        DomainError::Stale(_) => AppError::Stale(message),
        DomainError::Db(e) => internal(e),
    }
}
