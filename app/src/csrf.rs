//! The server-function client of the page: the browser's `fetch`, plus the session's CSRF token from
//! `<meta name="csrf-token">` in an `X-CSRF-Token` header, which the server requires on every
//! state-changing call. Every server function names it: `#[server(..., client = crate::csrf::CsrfClient)]`.
use std::future::Future;

use server_fn::client::{browser::BrowserClient, Client};
use server_fn::error::FromServerFnError;
use server_fn::request::browser::BrowserRequest;
use server_fn::response::browser::BrowserResponse;

pub const HEADER: &str = "X-CSRF-Token";

/// The session's CSRF token, which the server provides to each page it renders; the shell puts it
/// into `<meta name="csrf-token">`, where [`token`] (and the page's scripts) read it.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

pub struct CsrfClient;

/// The token the server rendered into this page, if any.
#[cfg(feature = "hydrate")]
pub fn token() -> Option<String> {
    leptos::prelude::document()
        .query_selector("meta[name=csrf-token]")
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"))
        .filter(|t| !t.is_empty())
}

impl<E, IS, OS> Client<E, IS, OS> for CsrfClient
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        #[cfg(feature = "hydrate")]
        {
            if let Some(token) = token() {
                req.headers().set(HEADER, &token);
            }
            req.headers().set(crate::live::COMPONENT_HEADER, &crate::live::component_id());
            req.headers().set(crate::live::ATTENDED_HEADER, if crate::live::attended() { "1" } else { "0" });
        }
        <BrowserClient as Client<E, IS, OS>>::send(req)
    }

    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl futures::Stream<Item = Result<bytes::Bytes, bytes::Bytes>> + Send + 'static,
                impl futures::Sink<bytes::Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}
