//! The server side of the web UI: the ports its server functions call, each a thin caller of the
//! domain layer and the store. Every call runs on the blocking pool (`app::ssr::run_blocking`).
pub mod attributes;
mod files;
pub mod live;
pub mod history;
pub mod note;
pub mod protected;
pub mod search;
pub mod syncui;
pub(crate) mod setup;
pub mod sync_options;
mod tree;

use std::sync::Arc;

use leptos::prelude::provide_context;

use crate::db::{ChangeSource, DbError, Document, InstanceId};
use crate::domain::DomainError;
use crate::protected::ProtectedSessions;
use app::error::AppError;


/// The UI's plain HTTP routes (images, pasted-image upload, revision downloads); the session gate
/// puts them behind a login.
pub fn routes(document: Document, instance_id: InstanceId, protected: ProtectedSessions) -> axum::Router {
    files::routes(document.clone(), instance_id, protected.clone()).merge(history::routes(document))
}

/// Every port, built once and provided to each request's Leptos context.
#[derive(Clone)]
pub struct Ports {
    tree: app::tree::api::ssr::Tree,
    notes: app::note::api::ssr::Notes,
    attributes: app::attributes::api::ssr::Attributes,
    search: app::search::api::ssr::Search,
    history: app::history::api::ssr::History,
    protected: app::protected::api::ssr::Protected,
    /// Set by [`Ports::with_sync`]; a router built without it answers the sync calls with a server error.
    sync: Option<app::sync::api::ssr::SyncApi>,
    sync_options: Option<app::options::api::ssr::SyncOptionsService>,
}

impl Ports {
    /// `instance_id` stamps the entity changes of the UI's writes; `protected` holds the logins'
    /// protected sessions (their keys show and save protected notes), `events` announces their starts.
    pub fn new(
        document: Document,
        instance_id: InstanceId,
        index: crate::search::SearchIndex,
        protected: ProtectedSessions,
        events: protected::ProtectedEvents,
    ) -> Self {
        Ports {
            protected: app::protected::api::ssr::Protected(Arc::new(protected::DocumentProtected {
                document: document.clone(),
                instance_id: instance_id.clone(),
                protected: protected.clone(),
                events,
            })),
            search: app::search::api::ssr::Search(Arc::new(search::DocumentSearch {
                document: document.clone(),
                instance_id: instance_id.clone(),
                index,
                protected: protected.clone(),
            })),
            tree: app::tree::api::ssr::Tree(Arc::new(tree::DocumentTree {
                document: document.clone(),
                instance_id: instance_id.clone(),
                protected: protected.clone(),
            })),
            notes: app::note::api::ssr::Notes(Arc::new(note::DocumentNotes {
                document: document.clone(),
                instance_id: instance_id.clone(),
                protected: protected.clone(),
            })),
            attributes: app::attributes::api::ssr::Attributes(Arc::new(attributes::DocumentAttributes::new(
                document.clone(),
                instance_id.clone(),
            ))),
            history: app::history::api::ssr::History(Arc::new(history::DocumentHistory { document, instance_id, protected })),
            sync: None,
            sync_options: None,
        }
    }

    /// Adds the sync indicator's port: the engine's shared status and, on a client, the engine itself.
    pub fn with_sync(mut self, api: &crate::sync::local_api::LocalApiState, instance_id: InstanceId) -> Self {
        self.sync = Some(app::sync::api::ssr::SyncApi(Arc::new(syncui::DocumentSync {
            document: api.document.clone(),
            instance_id,
            sync: api.sync.clone(),
            engine: api.engine.clone(),
        })));
        self
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
        provide_context(self.search.clone());
        provide_context(self.history.clone());
        provide_context(self.protected.clone());
        if let Some(sync) = &self.sync {
            provide_context(sync.clone());
        }
        if let Some(sync_options) = &self.sync_options {
            provide_context(sync_options.clone());
        }
    }
}

/// Who makes a UI write: this instance and the page that asked (its `trilium-component-id`, which the
/// live channel hands back so that page skips its own changes); `ui` for a caller without one.
fn ui_source(instance_id: &InstanceId) -> ChangeSource {
    ChangeSource::new(instance_id).with_component(app::ssr::component_id().unwrap_or_else(|| "ui".into()))
}

/// A store failure as the page sees it: the details go to the log, never to the browser.
fn internal(e: DbError) -> AppError {
    tracing::error!("UI request failed in the store: {e}");
    match e.storage_fault() {
        Some(fault) => AppError::Server(fault.message().into()),
        None => AppError::Server("The server could not read or write the document; its log has the details.".into()),
    }
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
        DomainError::Protected(_) | DomainError::ProtectedLocked { .. } => AppError::Forbidden(message),
        // Wrong password and the like are refusals of what was typed: bad input.
        DomainError::Password(_) => AppError::Invalid(message),
        DomainError::Undecryptable { .. } => {
            tracing::error!("{e}");
            AppError::Invalid(message)
        }
        DomainError::Stale(_) => AppError::Stale(message),
        DomainError::Db(e) => internal(e),
    }
}
