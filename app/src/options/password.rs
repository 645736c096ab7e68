//! `/options/password`: change the document's password (old and new; the data key that encrypts
//! protected notes is re-wrapped, so they stay readable with the new one), set a first password
//! where there is none, and the protected session's timeout (`protectedSessionTimeout`).
use leptos::prelude::*;

use crate::protected::api::{change_password, new_password_problem, get_protected_status, set_timeout, ProtectedStatus, MIN_TIMEOUT_SECS};

type Message = RwSignal<Option<Result<String, String>>>;

#[component]
pub fn PasswordOptionsPage() -> impl IntoView {
    let loaded = Resource::new(|| (), |_| get_protected_status());
    view! {
        <section class="options-page" aria-labelledby="options-password-title">
            <header class="note-header">
                <h1 class="options-title" id="options-password-title">"Password"</h1>
            </header>
            <super::OptionsNav current="password"/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok(status) => view! { <PasswordForms status/> }.into_any(),
                        Err(e) => view! { <p class="error">"Could not load the password options: " {e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn message_view(message: Message, class: &'static str) -> impl Fn() -> Option<AnyView> {
    move || {
        message.get().map(|m| match m {
            Ok(text) => view! { <p class=format!("{class} options-ok") role="status">{text}</p> }.into_any(),
            Err(text) => view! { <p class=format!("{class} options-error") role="alert">{text}</p> }.into_any(),
        })
    }
}

#[component]
fn PasswordForms(status: ProtectedStatus) -> impl IntoView {
    let has_password = RwSignal::new(status.has_password);
    let old = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let saving = RwSignal::new(false);
    let password_message: Message = RwSignal::new(None);
    let timeout = RwSignal::new(status.timeout_secs.to_string());
    let timeout_message: Message = RwSignal::new(None);

    let on_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(problem) = new_password_problem(&new.get_untracked(), &repeated.get_untracked()) {
            password_message.set(Some(Err(problem)));
            return;
        }
        let first = !has_password.get_untracked();
        let (old_text, new_text) = (old.get_untracked(), new.get_untracked());
        saving.set(true);
        leptos::task::spawn_local(async move {
            match change_password(old_text, new_text).await {
                Ok(status) => {
                    has_password.set(status.has_password);
                    old.set(String::new());
                    new.set(String::new());
                    repeated.set(String::new());
                    let text = if first {
                        "The password is set."
                    } else {
                        "The password is changed. Protected notes open with the new password, here and on every instance this one syncs with."
                    };
                    password_message.set(Some(Ok(text.into())));
                }
                Err(e) => password_message.set(Some(Err(e.to_string()))),
            }
            saving.set(false);
        });
    };
    let on_timeout = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = timeout.get_untracked();
        leptos::task::spawn_local(async move {
            match set_timeout(text).await {
                Ok(status) => {
                    timeout.set(status.timeout_secs.to_string());
                    timeout_message.set(Some(Ok(format!(
                        "Saved: a protected session ends after {} seconds without use.",
                        status.timeout_secs
                    ))));
                }
                Err(e) => timeout_message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let password_field = |label: &'static str, name: &'static str, autocomplete: &'static str, value: RwSignal<String>| {
        view! {
            <label class="options-field">
                <span class="options-label">{label}</span>
                <input type="password" name=name autocomplete=autocomplete
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <form class="options-form password-options" method="post" on:submit=on_password>
            <h2 class="options-subtitle">{move || if has_password.get() { "Change the password" } else { "Set a password" }}</h2>
            <p class="hint">
                "The password logs in and unlocks protected notes. Changing it keeps every protected note readable: "
                "the key that encrypts them is re-encrypted with the new password. Logins and ETAPI tokens keep working; "
                "protected sessions end and unlock with the new password."
            </p>
            {move || has_password.get().then(|| password_field("Old password", "old-password", "current-password", old))}
            {password_field("New password", "new-password", "new-password", new)}
            {password_field("New password again", "new-password-again", "new-password", repeated)}
            <div class="options-actions">
                <button type="submit" class="options-save" disabled=move || saving.get()>
                    {move || if has_password.get() { "Change password" } else { "Set password" }}
                </button>
            </div>
            {message_view(password_message, "password-message")}
        </form>
        // `novalidate`: the server's answer says what is wrong, in the page's words.
        <form class="options-form protected-timeout" novalidate=true on:submit=on_timeout>
            <h2 class="options-subtitle">"Protected session"</h2>
            <label class="options-field">
                <span class="options-label">"Timeout (seconds)"</span>
                <input type="number" name="protectedSessionTimeout" min=MIN_TIMEOUT_SECS.to_string()
                    prop:value=move || timeout.get() on:input=move |ev| timeout.set(event_target_value(&ev))/>
                <span class="options-hint">
                    {format!("The protected session ends after this long without use (at least {MIN_TIMEOUT_SECS} seconds).")}
                </span>
            </label>
            <div class="options-actions">
                <button type="submit" class="options-save">"Save"</button>
            </div>
            {message_view(timeout_message, "timeout-message")}
        </form>
    }
}
