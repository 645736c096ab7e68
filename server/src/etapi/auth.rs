//! Tokens: `POST /auth/login` (password → new `etapi_tokens` row, synced like any entity),
//! `POST /auth/logout` (marks the presented token deleted), and the check every other
//! route runs.
//!
//! A token is `<etapiTokenId>_<secret>`; the row stores `base64(sha256(secret))`. The
//! `Authorization` header carries the token as is, or as HTTP basic auth with user
//! `etapi` and the token as password. A bare secret without id (older Trilium tokens)
//! is checked against every live token.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::error::{EtapiError, EtapiResult};
use super::validate::parse_object;
use super::wire::LoginResponse;
use super::{EtapiState, RawBody};
use crate::auth::client_ip::ClientIp;
use crate::db::password;
use crate::login_limit;
use crate::entities::{self, EtapiToken};
use crate::hashing;

pub fn public_routes() -> Router<EtapiState> {
    Router::new().route("/auth/login", post(login))
}

pub fn routes() -> Router<EtapiState> {
    Router::new().route("/auth/logout", post(logout))
}

/// A parsed `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedToken {
    pub etapi_token_id: Option<String>,
    pub secret: String,
}

/// Trilium's `parseAuthToken`.
pub fn parse_auth_header(auth: &str) -> Option<ParsedToken> {
    if auth.is_empty() {
        return None;
    }
    let owned;
    let mut token = auth;
    if let Some(encoded) = auth.strip_prefix("Basic ") {
        let decoded = B64.decode(encoded.trim()).ok()?;
        owned = String::from_utf8_lossy(&decoded).into_owned();
        let parts: Vec<&str> = owned.split(':').collect();
        if parts.len() != 2 || parts[0] != "etapi" {
            return None;
        }
        token = parts[1];
    }
    let chunks: Vec<&str> = token.split('_').collect();
    match chunks.as_slice() {
        [secret] => Some(ParsedToken { etapi_token_id: None, secret: (*secret).to_owned() }),
        [id, secret] => Some(ParsedToken { etapi_token_id: Some((*id).to_owned()), secret: (*secret).to_owned() }),
        _ => None,
    }
}

pub fn token_hash(secret: &str) -> String {
    B64.encode(Sha256::digest(secret.as_bytes()))
}

/// The live token row the header authenticates, if any.
pub fn authenticate(conn: &Connection, auth: &str) -> EtapiResult<Option<EtapiToken>> {
    let Some(parsed) = parse_auth_header(auth) else { return Ok(None) };
    let hash = token_hash(&parsed.secret);
    let candidates: Vec<EtapiToken> = match &parsed.etapi_token_id {
        Some(id) => entities::load::<EtapiToken>(conn, id)?.into_iter().collect(),
        None => EtapiToken::live(conn)?,
    };
    Ok(candidates.into_iter().find(|t| !t.is_deleted && t.token_hash == hash))
}

fn auth_header(headers: &HeaderMap) -> &str {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Route layer: 401 `NOT_AUTHENTICATED` unless the header carries a live token.
pub async fn require_token(State(state): State<EtapiState>, req: Request, next: Next) -> Response {
    let auth = auth_header(req.headers()).to_owned();
    match state.read(move |conn| authenticate(conn, &auth)).await {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => EtapiError::not_authenticated().into_response(),
        Err(e) => e.into_response(),
    }
}

async fn login(
    State(state): State<EtapiState>,
    ClientIp(client): ClientIp,
    RawBody(body): RawBody,
) -> EtapiResult<Response> {
    if !state.login_limiter.allows(&client) {
        return Ok((StatusCode::TOO_MANY_REQUESTS, login_limit::MESSAGE).into_response());
    }
    let body = parse_object(&body)?;
    let password = body.get("password").and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let token_name = match body.get("tokenName").and_then(|v| v.as_str()) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => "ETAPI login".to_owned(),
    };
    // scrypt takes a while: keep it off the async workers.
    let verified =
        !password.is_empty() && state.read(move |conn| Ok(password::verify_password(conn, &password)?)).await?;
    if !verified {
        state.login_limiter.record_failure(&client);
        tracing::warn!("wrong password on ETAPI login from {client}");
        return Err(EtapiError::new(StatusCode::UNAUTHORIZED, "WRONG_PASSWORD", "Wrong password."));
    }
    let auth_token = state.write(move |tx| {
        let secret = hashing::random_secure_token(32);
        let now = tx.utc_now();
        let token = EtapiToken {
            etapi_token_id: hashing::new_entity_id(),
            name: token_name,
            token_hash: token_hash(&secret),
            utc_date_created: now.clone(),
            utc_date_modified: now,
            is_deleted: false,
        };
        entities::save(tx, &token)?;
        Ok(format!("{}_{}", token.etapi_token_id, secret))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(LoginResponse { auth_token })).into_response())
}

async fn logout(State(state): State<EtapiState>, headers: HeaderMap) -> EtapiResult<StatusCode> {
    let parsed = parse_auth_header(auth_header(&headers));
    let Some(id) = parsed.and_then(|p| p.etapi_token_id) else {
        return Err(EtapiError::generic("Cannot logout this token."));
    };
    state.write(move |tx| {
        let mut token = entities::load::<EtapiToken>(tx.conn(), &id)?
            .filter(|t| !t.is_deleted)
            .ok_or_else(|| EtapiError::internal(format!("Cannot find the token '{id}'.")))?;
        token.is_deleted = true;
        token.utc_date_modified = tx.utc_now();
        entities::save(tx, &token)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
