//! The options pages: sync (`/options/sync`, Trilium's sync options with "test sync") and password
//! (`/options/password`, the password and the protected session's timeout).
pub mod api;
mod password;
mod sync;

use leptos::prelude::*;

pub use password::PasswordOptionsPage;
pub use sync::SyncOptionsPage;

/// Links between the options pages.
#[component]
fn OptionsNav(current: &'static str) -> impl IntoView {
    let link = move |page: &'static str, label: &'static str| {
        view! {
            <a href=format!("/options/{page}") class="options-tab" aria-current=(page == current).then_some("page")>{label}</a>
        }
    };
    view! {
        <nav class="options-nav" aria-label="Options">
            {link("sync", "Sync")}
            {link("password", "Password")}
        </nav>
    }
}
