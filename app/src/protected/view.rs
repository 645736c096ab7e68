//! The lock button, the password dialog and the locked note.
use leptos::ev;
use leptos::prelude::*;

use super::api::{lock, unlock};

/// In the tree bar: a closed lock enters the protected session (asks for the password), an open one
/// leaves it.
#[component]
pub fn LockButton() -> impl IntoView {
    let Some(view) = super::use_protected() else { return ().into_any() };
    let status = view.status;
    let busy = RwSignal::new(false);
    let on_click = move |_| {
        if !view.is_unlocked() {
            view.ask();
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match lock().await {
                Ok(status) => view.take(&status),
                Err(e) => leptos::logging::warn!("could not leave the protected session: {e}"),
            }
            busy.set(false);
        });
    };
    let button = move || {
        let unlocked = view.unlocked.get() == Some(true);
        let (icon, label) = if unlocked {
            ("bx bx-lock-open-alt", "Leave the protected session")
        } else {
            ("bx bx-lock-alt", "Enter the protected session")
        };
        view! {
            <button class="icon-button protected-session" class:unlocked=unlocked
                data-state=if unlocked { "unlocked" } else { "locked" }
                title=label aria-label=label disabled=move || busy.get() on:click=on_click>
                <span class=icon aria-hidden="true"></span>
            </button>
        }
    };
    view! {
        <Suspense fallback=button>
            {move || Suspend::new(async move {
                if let Ok(status) = status.await {
                    view.take(&status);
                }
                // The closure itself, so the button follows the session from now on.
                button
            })}
        </Suspense>
    }
    .into_any()
}

/// Asks for the password and opens the protected session. A wrong password says so and changes
/// nothing; the dialog stays for another try.
#[component]
pub fn PasswordDialog() -> impl IntoView {
    let Some(view) = super::use_protected() else { return ().into_any() };
    let dialog = move || {
        view.dialog.get().then(|| {
            let password = RwSignal::new(String::new());
            let error = RwSignal::new(None::<String>);
            let busy = RwSignal::new(false);
            let input = NodeRef::<leptos::html::Input>::new();
            Effect::new(move |_| {
                if let Some(el) = input.get() {
                    let _ = el.focus();
                }
            });
            let close = move || view.dialog.set(false);
            let submit = move |ev: ev::SubmitEvent| {
                ev.prevent_default();
                let typed = password.get_untracked();
                if typed.is_empty() {
                    error.set(Some("Type the password.".into()));
                    return;
                }
                busy.set(true);
                leptos::task::spawn_local(async move {
                    match unlock(typed).await {
                        Ok(status) => {
                            view.take(&status);
                            close();
                        }
                        Err(e) => {
                            error.try_set(Some(e.to_string()));
                            password.try_set(String::new());
                        }
                    }
                    busy.try_set(false);
                });
            };
            view! {
                <div class="dialog-backdrop" on:click=move |_| close()></div>
                <form class="dialog password-dialog" role="dialog" aria-label="Enter the protected session" on:submit=submit
                    on:keydown=move |ev: ev::KeyboardEvent| if ev.key() == "Escape" { close() }>
                    <h2>"Protected session"</h2>
                    <p class="hint">"Protected notes are encrypted. Type the password to read and edit them."</p>
                    <label class="field">
                        "Password"
                        <input type="password" class="protected-password" name="protected-password" autocomplete="current-password"
                            node_ref=input prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                    </label>
                    {move || error.get().map(|e| view! { <p class="error protected-error" role="alert">{e}</p> })}
                    <div class="dialog-buttons">
                        <button type="button" on:click=move |_| close()>"Cancel"</button>
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Unlocking…" } else { "Unlock" }}
                        </button>
                    </div>
                </form>
            }
        })
    };
    dialog.into_any()
}

/// The note pane's body for a protected note without a protected session.
#[component]
pub fn LockedNote() -> impl IntoView {
    let view = super::use_protected();
    view! {
        <div class="note-content protected locked-note">
            <span class="bx bx-lock-alt" aria-hidden="true"></span>
            <p>"This note is protected. Enter the protected session to read and edit it."</p>
            {view.map(|view| view! {
                <button type="button" class="unlock-note primary-button" on:click=move |_| view.ask()>"Unlock"</button>
            })}
        </div>
    }
}
