//! `/options/sync`: the hub address, timeout and proxy, kept in the document's (unsynced) options,
//! with the value from `config.ini` shown read-only where it wins; "Save" and "Test sync".
use leptos::prelude::*;

use super::api::{get_sync_options, save_sync_options, test_sync, SyncOptions, SyncSetting};

#[component]
pub fn SyncOptionsPage() -> impl IntoView {
    let loaded = Resource::new(|| (), |_| get_sync_options());
    view! {
        <section class="options-page" aria-labelledby="options-sync-title">
            <header class="note-header">
                <h1 class="options-title" id="options-sync-title">"Sync"</h1>
            </header>
            <super::OptionsNav current="sync"/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok(options) => view! { <SyncOptionsForm options/> }.into_any(),
                        Err(e) => view! { <p class="error">"Could not load the sync options: " {e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A field's state: what is typed, and whether `config.ini` decides it (then it is read-only).
#[derive(Clone, Copy)]
struct Field {
    text: RwSignal<String>,
    from_config: RwSignal<bool>,
}

impl Field {
    fn new(setting: &SyncSetting) -> Self {
        Field { text: RwSignal::new(setting.effective().to_owned()), from_config: RwSignal::new(setting.config.is_some()) }
    }

    fn reset(&self, setting: &SyncSetting) {
        self.text.set(setting.effective().to_owned());
        self.from_config.set(setting.config.is_some());
    }

    /// What a save sends: nothing for a field `config.ini` decides.
    fn update(&self) -> Option<String> {
        (!self.from_config.get_untracked()).then(|| self.text.get_untracked())
    }
}

#[component]
fn SyncOptionsForm(options: SyncOptions) -> impl IntoView {
    let host = Field::new(&options.host);
    let timeout = Field::new(&options.timeout_ms);
    let proxy = Field::new(&options.proxy);
    let saving = RwSignal::new(false);
    let save_message: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);
    let testing = RwSignal::new(false);
    let test_message: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);

    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (host_text, timeout_text, proxy_text) = (host.update(), timeout.update(), proxy.update());
        let cleared: Vec<&str> = [("host", &host_text), ("timeout_ms", &timeout_text), ("proxy", &proxy_text)]
            .into_iter()
            .filter(|(_, text)| text.as_deref().is_some_and(|t| t.trim().is_empty()))
            .map(|(name, _)| name)
            .collect();
        let cleared = (!cleared.is_empty()).then(|| cleared.join(","));
        saving.set(true);
        leptos::task::spawn_local(async move {
            match save_sync_options(host_text, timeout_text, proxy_text, cleared).await {
                Ok(saved) => {
                    host.reset(&saved.host);
                    timeout.reset(&saved.timeout_ms);
                    proxy.reset(&saved.proxy);
                    save_message.set(Some(Ok("Saved.".into())));
                }
                Err(e) => save_message.set(Some(Err(e.to_string()))),
            }
            saving.set(false);
        });
    };
    let on_test = move |_| {
        testing.set(true);
        test_message.set(None);
        leptos::task::spawn_local(async move {
            let outcome = match test_sync().await {
                Ok(outcome) if outcome.success => Ok(outcome.message),
                Ok(outcome) => Err(outcome.message),
                Err(e) => Err(e.to_string()),
            };
            test_message.set(Some(outcome));
            testing.set(false);
        });
    };
    let message_view = |message: RwSignal<Option<Result<String, String>>>, class: &'static str| {
        move || {
            message.get().map(|m| match m {
                Ok(text) => view! { <p class=format!("{class} options-ok") role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class=format!("{class} options-error") role="alert">{text}</p> }.into_any(),
            })
        }
    };
    view! {
        <form class="options-form sync-options" on:submit=on_save>
            <p class="hint">
                "This instance syncs with the server (hub) named here. These settings stay on this instance: they are not synced. "
                "A value in " <code>"config.ini"</code> " ([Sync]) or its environment variable wins over the one here."
            </p>
            <SettingField field=host label="Server address" name="syncServerHost" input_type="url"
                placeholder="https://notes.example.com" hint="Empty: this instance syncs with no server (it can still be one)."/>
            <SettingField field=timeout label="Timeout (milliseconds)" name="syncServerTimeout" input_type="text"
                placeholder="120000" hint="How long to wait for the server."/>
            <SettingField field=proxy label="Proxy" name="syncProxy" input_type="url"
                placeholder="http://proxy.example:3128" hint="Empty: connect directly."/>
            <div class="options-actions">
                <button type="submit" class="options-save" disabled=move || saving.get()>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
                <button type="button" class="options-test" on:click=on_test disabled=move || testing.get()>
                    {move || if testing.get() { "Testing…" } else { "Test sync" }}
                </button>
            </div>
            {message_view(save_message, "options-save-message")}
            {message_view(test_message, "options-test-message")}
        </form>
    }
}

#[component]
fn SettingField(
    field: Field,
    label: &'static str,
    name: &'static str,
    input_type: &'static str,
    placeholder: &'static str,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label class="options-field">
            <span class="options-label">{label}</span>
            <input
                type=input_type
                name=name
                placeholder=placeholder
                prop:value=move || field.text.get()
                on:input=move |ev| field.text.set(event_target_value(&ev))
                readonly=move || field.from_config.get()
                aria-readonly=move || field.from_config.get().to_string()
            />
            {move || if field.from_config.get() {
                view! { <span class="options-from-config">"Set in config.ini: this value wins; change it there."</span> }.into_any()
            } else {
                view! { <span class="options-hint">{hint}</span> }.into_any()
            }}
        </label>
    }
}
