//! The HTTP surface: the server-rendered UI, its server functions and static assets, behind the
//! one gate ([`crate::auth::gate`]) that every request passes.
use std::path::Path;

use axum::extract::FromRef;
use axum::{middleware, routing::get, Json, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::auth::{AuthState, Session};
use crate::db::Document;
use crate::sync::{hub::HubState, local_api::LocalApiState, setup::SetupState};

/// Name of the wasm-bindgen output in `<site>/pkg/` (`canopy.js`, `canopy_bg.wasm`, `canopy.css`).
pub const OUTPUT_NAME: &str = "canopy";

/// Everything the routes need; each handler takes the part it uses (`State<HubState>`, ...).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub document: Document,
    pub hub: HubState,
    pub local_api: LocalApiState,
    pub setup: SetupState,
    pub auth: AuthState,
    pub live: crate::ui::live::LiveState,
    pub search: crate::search::SearchIndex,
    /// `config.ini`'s `[Sync]` (with the environment): the options page shows where it wins.
    pub sync_config: crate::config::SyncConfig,
    /// Unlocked protected sessions (the data key per browser session); the same as `auth.protected`.
    pub protected: crate::protected::ProtectedSessions,
    /// Starts, retargets and stops the sync client when the options page saves its settings.
    pub sync_engine: crate::sync::engine::SyncEngine,
}

/// The Leptos options for a built front end in `site_root`.
pub fn leptos_options(site_root: &Path) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .build()
}

/// server_fn answers 500 for every error of a server function, among them a call whose arguments do
/// not decode, which never reaches the function (which sets its own status): the status the error
/// stands for is set here.
async fn server_fn_error_status(request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let server_fn = request.uri().path().starts_with("/ui/");
    let response = next.run(request).await;
    if !server_fn || response.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // An error answer is a short JSON message.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        parts.status = axum::http::StatusCode::from_u16(error.status()).unwrap_or(parts.status);
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let ports = crate::ui::Ports::new(
        state.document.clone(),
        state.hub.instance_id.clone(),
        state.search.clone(),
        state.live.protected.clone(),
        state.live.protected_events.clone(),
    )
        .with_sync(&state.local_api, state.hub.instance_id.clone())
        .with_sync_options(crate::ui::sync_options::DocumentSyncOptions {
            document: state.document.clone(),
            instance_id: state.hub.instance_id.clone(),
            config: state.sync_config.clone(),
            sync: state.local_api.sync.clone(),
            engine: state.sync_engine.clone(),
        });
    let shell_options = state.leptos_options.clone();
    let app = Router::new()
        .route("/api/health-check", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        // Login, password and logout forms are small: nobody sends megabytes before logging in.
        .merge(crate::auth::routes().layer(axum::extract::DefaultBodyLimit::max(crate::auth::MAX_FORM_BYTES)))
        .merge(crate::sync::local_api::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                ports.provide();
                // The gate put the session into the request; the shell renders its CSRF token.
                let session = use_context::<axum::http::request::Parts>().and_then(|parts| parts.extensions.get::<Session>().cloned());
                if let Some(session) = session {
                    // The protected session belongs to the login: ports find its key by this.
                    provide_context(app::ssr::SessionKey(session.id_hash().to_owned()));
                    provide_context(app::csrf::CsrfToken(session.csrf_token));
                }
                // Which page calls: its writes carry the id, so the live channel can tell it its own.
                let component = use_context::<axum::http::request::Parts>().and_then(|parts| {
                    parts.headers.get(app::live::COMPONENT_HEADER).and_then(|v| v.to_str().ok()).and_then(app::ssr::ComponentId::parse)
                });
                if let Some(component) = component {
                    provide_context(component);
                }
                let attended = use_context::<axum::http::request::Parts>().and_then(|parts| {
                    parts.headers.get(app::live::ATTENDED_HEADER).and_then(|v| v.to_str().ok()).map(app::ssr::Attended::parse)
                });
                if let Some(attended) = attended {
                    provide_context(attended);
                }
            },
            move || app::shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .layer(middleware::from_fn(server_fn_error_status))
        // A note's text is one server-function body: allow what ETAPI allows, not axum's 2 MB.
        .layer(axum::extract::DefaultBodyLimit::max(crate::etapi::MAX_BODY_BYTES))
        .with_state(state.clone());
    // ETAPI, sync and setup keep routers of their own, with their own credentials.
    let etapi = crate::etapi::router(state.document.clone(), state.hub.instance_id.clone(), state.auth.login_limiter.clone(), state.search.clone());
    Router::new()
        .nest("/etapi", etapi)
        .merge(crate::sync::hub::router(state.hub.clone()))
        .merge(crate::sync::setup::router(state.setup.clone()))
        .merge(crate::ui::setup::routes(state.setup.clone()))
        .merge(crate::ui::routes(state.document.clone(), state.hub.instance_id.clone(), state.live.protected.clone()))
        .merge(crate::ui::live::routes(state.live.clone()))
        .merge(app)
        .layer(middleware::from_fn_with_state(state.auth.clone(), crate::auth::gate))
}
