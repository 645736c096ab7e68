//! The bridge to the editors bundle (`/pkg/editors/editors.js`: CKEditor 5 and CodeMirror 6). The page is
//! server-rendered and hydrated first; only then is the bundle imported and an editor mounted into an
//! element that Leptos renders empty and never touches again, so hydration never sees the editor's DOM
//! (the way the Leptos `axum_js_ssr` example mounts a JS library).
#[cfg(feature = "hydrate")]
mod bridge;

#[cfg(feature = "hydrate")]
pub use bridge::{code_languages, mount_code, mount_text, Editor, TextHooks};
