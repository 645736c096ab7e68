//! The open note's editor and its saving (browser only).
//!
//! The editor loads the note's stored content through its own call (`note_source`), never the
//! display-sanitized HTML of the page, so sanitizing for display cannot change what is saved. Saving:
//! about a second after the last edit, and at once when the note is left (another note opened, the tab
//! hidden or closed). A note that was opened and not changed is never written: only the editor's
//! `onChange` (user edits only) marks it dirty. A failed save keeps the text in the editor, and
//! transient failures (server unreachable, session expired) are retried with backoff.
//!
//! A version saved elsewhere (the live channel says so, or a save finds the blob moved on) never
//! replaces unsaved typing: the editor takes it in place only when nothing is unsaved; otherwise the
//! pane says so and the save keeps both, as sync does: the text saved now wins and the stored
//! version goes to the note's revisions.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use send_wrapper::SendWrapper;

use super::api::{load_source, save_note, save_note_keeping_stored};
use super::view::SaveStatus;
use crate::editor::{self, Editor, TextHooks};
use crate::error::AppError;

/// Quiet time after the last edit before saving.
const SAVE_DELAY_MS: u64 = 1000;
const MAX_BACKOFF_MS: u64 = 30_000;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Code,
}

/// What of the note pane the editor fills in and keeps up to date.
pub struct Pane {
    pub mime: RwSignal<String>,
    /// The empty element the editor is mounted into.
    pub host: NodeRef<leptos::html::Div>,
    pub status: RwSignal<SaveStatus>,
    /// Turns true once the editor has replaced the server-rendered view.
    pub ready: RwSignal<bool>,
    /// `(mime, label)` of the code languages, filled from the bundle.
    pub languages: RwSignal<Vec<(String, String)>>,
    /// What the pane says about a version saved elsewhere while this one had unsaved edits.
    pub elsewhere: RwSignal<Option<String>>,
}

const CHANGED_ELSEWHERE: &str = "This note was changed elsewhere while you were editing it. Your text stays here; \
                                 when it is saved, the other version is kept in the note's revisions.";
const KEPT_BOTH: &str = "This note had been changed elsewhere: your text was saved, and the other version is kept \
                         in the note's revisions.";

#[derive(Clone)]
pub struct Controller(Rc<Inner>);

/// Shows a save state while the note is on screen. Once it is left the pane's signals are being
/// disposed, and an update would wake views that are already gone; the save itself carries on.
fn show(inner: &Inner, status: SaveStatus) {
    if !inner.left.get() {
        inner.status.try_set(status);
    }
}

struct Inner {
    note_id: String,
    kind: Kind,
    editor: RefCell<Option<Editor>>,
    /// The text to save after the editor is gone (the note was left with edits not yet saved).
    leftover: RefCell<Option<String>>,
    /// The blob the editor's text is based on; a save names it so that a change made elsewhere is
    /// refused as stale instead of overwritten.
    expected_blob: RefCell<Option<String>>,
    dirty: Cell<bool>,
    saving: Cell<bool>,
    started: Cell<bool>,
    left: Cell<bool>,
    /// Bumped by every (re)scheduling, so only the latest timer saves.
    timer: Cell<u64>,
    backoff_ms: Cell<u64>,
    status: RwSignal<SaveStatus>,
    elsewhere: RwSignal<Option<String>>,
    /// A version was saved elsewhere after the one the editor's text is based on: the next save keeps
    /// that version as a revision instead of being refused as stale.
    overtaken: Cell<bool>,
    /// The "changes not saved yet" warning on closing the tab. It outlives the note pane while a left
    /// note's text is still unsaved (a save retrying, or refused), so that text is not lost silently.
    unload_warning: RefCell<Option<WindowListenerHandle>>,
}

impl Controller {
    /// Mounts the editor into `host` once it is in the page, and saves from then on until the
    /// component is cleaned up (which saves what is left).
    pub fn start(note_id: String, kind: Kind, pane: Pane, open_note: Rc<dyn Fn(String)>) -> Self {
        let Pane { mime, host, status, ready, languages, elsewhere } = pane;
        let c = Controller(Rc::new(Inner {
            note_id,
            kind,
            editor: RefCell::new(None),
            leftover: RefCell::new(None),
            expected_blob: RefCell::new(None),
            dirty: Cell::new(false),
            saving: Cell::new(false),
            started: Cell::new(false),
            left: Cell::new(false),
            timer: Cell::new(0),
            backoff_ms: Cell::new(1000),
            unload_warning: RefCell::new(None),
            status,
            elsewhere,
            overtaken: Cell::new(false),
        }));
        {
            let c = SendWrapper::new(c.clone());
            let open_note = SendWrapper::new(open_note);
            Effect::new(move |_| {
                if let Some(element) = host.get() {
                    if !c.0.started.replace(true) {
                        let c = (*c).clone();
                        let open_note = (*open_note).clone();
                        let mime = mime.get_untracked();
                        leptos::task::spawn_local(c.mount(element, mime, ready, languages, open_note));
                    }
                }
            });
        }
        {
            let warned = c.clone();
            *c.0.unload_warning.borrow_mut() = Some(window_event_listener(leptos::ev::beforeunload, move |ev| {
                if warned.has_unsaved() {
                    warned.flush();
                    ev.prevent_default();
                    ev.set_return_value("This note has changes that are not saved yet.");
                }
            }));
        }
        let hidden = {
            let c = c.clone();
            window_event_listener_untyped("visibilitychange", move |_| {
                if document().visibility_state() == web_sys::VisibilityState::Hidden {
                    c.flush();
                }
            })
        };
        let pagehide = {
            let c = c.clone();
            window_event_listener_untyped("pagehide", move |_| c.flush())
        };
        let on_leave = SendWrapper::new(c.clone());
        on_cleanup(move || {
            hidden.remove();
            pagehide.remove();
            on_leave.leave();
            on_leave.drop_unload_warning_if_saved();
        });
        c
    }

    async fn mount(
        self,
        element: web_sys::HtmlDivElement,
        mime: String,
        ready: RwSignal<bool>,
        languages: RwSignal<Vec<(String, String)>>,
        open_note: Rc<dyn Fn(String)>,
    ) {
        let inner = &self.0;
        let source = match load_source(inner.note_id.clone()).await {
            Ok(source) => source,
            Err(e) => {
                show(inner, SaveStatus::Failed(format!("the editor could not load the note: {e}")));
                return;
            }
        };
        *inner.expected_blob.borrow_mut() = source.blob_id;
        let on_change: Rc<dyn Fn()> = {
            let c = self.clone();
            Rc::new(move || c.changed())
        };
        let mounted = match inner.kind {
            Kind::Text => {
                let hooks = TextHooks { on_change, open_note, upload_url: format!("/api/ui/notes/{}/images", inner.note_id) };
                editor::mount_text(&element, &source.content, hooks).await
            }
            Kind::Code => editor::mount_code(&element, &source.content, &mime, on_change).await,
        };
        match mounted {
            Ok(editor) if inner.left.get() => editor.destroy(),
            Ok(editor) => {
                *inner.editor.borrow_mut() = Some(editor);
                ready.try_set(true);
            }
            Err(e) => {
                show(inner, SaveStatus::Failed(format!("the editor did not start: {e}")));
                return;
            }
        }
        if inner.kind == Kind::Code {
            if let Ok(mut list) = editor::code_languages().await {
                if inner.left.get() {
                    return;
                }
                if !list.iter().any(|(m, _)| *m == mime) {
                    list.insert(0, (mime.clone(), mime));
                }
                languages.try_set(list);
            }
        }
    }

    /// The note was changed elsewhere (the live channel said so). With nothing unsaved the editor
    /// takes the stored version in place; with unsaved edits nothing is overwritten: the pane says so
    /// and the next save keeps both. Returns false when there is no editor to update.
    pub async fn changed_elsewhere(&self) -> bool {
        let inner = &self.0;
        if inner.left.get() {
            return true;
        }
        if self.has_unsaved() {
            inner.overtaken.set(true);
            inner.elsewhere.try_set(Some(CHANGED_ELSEWHERE.into()));
            return true;
        }
        if inner.editor.borrow().is_none() {
            return false;
        }
        let Ok(source) = load_source(inner.note_id.clone()).await else { return true };
        // Typing may have started while the stored version was on its way.
        if self.has_unsaved() {
            inner.overtaken.set(true);
            inner.elsewhere.try_set(Some(CHANGED_ELSEWHERE.into()));
            return true;
        }
        if source.blob_id == *inner.expected_blob.borrow() {
            return true;
        }
        if let Some(editor) = inner.editor.borrow().as_ref() {
            editor.set_data(&source.content);
        }
        *inner.expected_blob.borrow_mut() = source.blob_id;
        true
    }

    /// New highlighting after the note's language changed.
    pub fn set_mime(&self, mime: &str) {
        if let Some(editor) = self.0.editor.borrow().as_ref() {
            editor.set_mime(mime);
        }
    }

    fn changed(&self) {
        self.0.dirty.set(true);
        if !self.0.saving.get() {
            show(&self.0, SaveStatus::Dirty);
        }
        self.schedule(SAVE_DELAY_MS);
    }

    fn schedule(&self, delay_ms: u64) {
        let generation = self.0.timer.get() + 1;
        self.0.timer.set(generation);
        let c = self.clone();
        set_timeout(
            move || {
                if c.0.timer.get() == generation {
                    c.save();
                }
            },
            Duration::from_millis(delay_ms),
        );
    }

    /// Saves now if there is anything to save.
    fn flush(&self) {
        self.0.timer.set(self.0.timer.get() + 1);
        self.save();
    }

    /// The note is no longer shown: save what is left, then take the editor down.
    fn has_unsaved(&self) -> bool {
        self.0.dirty.get() || self.0.saving.get()
    }

    /// Once a left note has nothing unsaved, closing the tab need not warn about it any more.
    fn drop_unload_warning_if_saved(&self) {
        if self.0.left.get() && !self.has_unsaved() {
            if let Some(warning) = self.0.unload_warning.borrow_mut().take() {
                warning.remove();
            }
        }
    }

    fn leave(&self) {
        self.0.left.set(true);
        if let Some(editor) = self.0.editor.borrow_mut().take() {
            if self.0.dirty.get() {
                *self.0.leftover.borrow_mut() = editor.get_data();
            }
            editor.destroy();
        }
        self.flush();
    }

    fn save(&self) {
        let inner = &self.0;
        if inner.saving.get() || !inner.dirty.get() {
            return;
        }
        let content = match inner.editor.borrow().as_ref() {
            Some(editor) => editor.get_data(),
            None => inner.leftover.borrow_mut().take(),
        };
        let Some(content) = content else { return };
        inner.dirty.set(false);
        inner.saving.set(true);
        show(inner, SaveStatus::Saving);
        let c = self.clone();
        leptos::task::spawn_local(async move {
            let inner = &c.0;
            let expected = inner.expected_blob.borrow().clone();
            let overtaken = inner.overtaken.get();
            let mut result = if overtaken {
                save_note_keeping_stored(inner.note_id.clone(), content.clone()).await
            } else {
                save_note(inner.note_id.clone(), content.clone(), expected).await
            };
            let mut kept_both = overtaken && result.is_ok();
            // Changed elsewhere and the channel had not said so yet: keep both, the newer (this) wins.
            if matches!(result, Err(AppError::Stale(_))) {
                result = save_note_keeping_stored(inner.note_id.clone(), content.clone()).await;
                kept_both = result.is_ok();
            }
            inner.saving.set(false);
            if kept_both {
                inner.overtaken.set(false);
                if !inner.left.get() {
                    inner.elsewhere.try_set(Some(KEPT_BOTH.into()));
                }
            }
            match result {
                Ok(blob_id) => {
                    *inner.expected_blob.borrow_mut() = blob_id;
                    inner.backoff_ms.set(1000);
                    if !inner.dirty.get() {
                        show(inner, SaveStatus::Saved);
                        c.drop_unload_warning_if_saved();
                    } else if inner.left.get() {
                        c.save();
                    } else {
                        show(inner, SaveStatus::Dirty);
                        c.schedule(SAVE_DELAY_MS);
                    }
                }
                Err(e) => {
                    // Nothing is lost: the text is still in the editor (or kept for the next try).
                    if !inner.dirty.replace(true) && inner.editor.borrow().is_none() {
                        *inner.leftover.borrow_mut() = Some(content);
                    }
                    let retry = e.is_transient() || e == AppError::NotAuthenticated;
                    let reason = match &e {
                        AppError::NotAuthenticated => {
                            "your session has expired. Log in again in another tab; your text is kept here".to_string()
                        }
                        other => other.to_string(),
                    };
                    if retry {
                        let delay = inner.backoff_ms.get();
                        inner.backoff_ms.set((delay * 2).min(MAX_BACKOFF_MS));
                        show(inner, SaveStatus::Failed(format!("{reason} (retrying in {} s)", delay / 1000)));
                        c.schedule(delay);
                    } else {
                        show(inner, SaveStatus::Failed(reason));
                    }
                }
            }
        });
    }
}
