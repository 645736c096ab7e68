//! The HTTP surface: the server-rendered UI, its server functions and static assets.
use std::path::Path;
use std::sync::Arc;

use axum::{routing::get, Json, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::db::Document;
use crate::login_limit::LoginLimiter;
use crate::sync::{hub::HubState, local_api::LocalApiState, setup::SetupState};

/// Name of the wasm-bindgen output in `<site>/pkg/` (`canopy.js`, `canopy_bg.wasm`, `canopy.css`).
pub const OUTPUT_NAME: &str = "canopy";

pub fn router(
    site_root: &Path,
    document: Document,
    hub: HubState,
    local_api: LocalApiState,
    setup: SetupState,
    login_limiter: Arc<LoginLimiter>,
) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .build();
    let routes = generate_route_list(app::App);
    let ports = crate::ui::Ports::new(document.clone(), hub.instance_id.clone());
    let shell_options = leptos_options.clone();
    let ui = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            move || ports.provide(),
            move || app::shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler(app::shell))
        .with_state(leptos_options);
    let images = crate::ui::routes(document.clone(), hub.instance_id.clone());
    let etapi = crate::etapi::router(document, hub.instance_id.clone(), login_limiter);
    Router::new()
        .route("/api/health-check", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .nest("/etapi", etapi)
        .merge(crate::sync::hub::router(hub))
        .merge(crate::sync::local_api::router(local_api))
        .merge(crate::sync::setup::router(setup))
        .merge(images)
        .merge(ui)
}
