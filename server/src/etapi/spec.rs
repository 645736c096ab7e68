//! `GET /etapi.openapi.yaml`: Canopy's own OpenAPI description of the routes it serves
//! (no token needed, plain text so it shows in a browser, like Trilium's).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::EtapiState;

pub const OPENAPI_YAML: &str = include_str!("etapi.openapi.yaml");

pub fn routes() -> Router<EtapiState> {
    Router::new().route("/etapi.openapi.yaml", get(spec))
}

async fn spec() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], OPENAPI_YAML)
}
