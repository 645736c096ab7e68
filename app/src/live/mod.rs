//! The page's end of the live channel (`GET /api/ui/events`, server-sent events): what changed on the
//! instance elsewhere (sync, ETAPI, another tab) becomes [`NoteChange`]s of this page's
//! [`Workspace`], and sync status changes bump [`SyncPulse`]. Opened after hydration; reopened with
//! backoff when the server goes away, and after a reopen everything shown is refreshed, since events
//! may have been missed meanwhile. A small marker says when the page is not live.
use leptos::prelude::*;

use crate::state::NoteChange;

/// The header of every server-function call of this page: the live channel names the component that
/// caused a change, so the page skips its own writes (Trilium's `trilium-component-id`).
pub const COMPONENT_HEADER: &str = "trilium-component-id";
pub const EVENTS_URL: &str = "/api/ui/events";

/// The header of every server-function call of this page: "1" when a person used the page (a key,
/// a click, a touch, the wheel) within the last few seconds, "0" when not. A read made while nobody
/// is at the page (a live event's refetch of the tree or the open note) is no use of the protected
/// session, so a tab left open does not keep it from timing out; a caller without the header (the
/// server render of a page someone opened, ETAPI) counts as attended.
pub const ATTENDED_HEADER: &str = "x-canopy-attended";

#[cfg(feature = "hydrate")]
mod attention {
    use std::cell::Cell;

    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    /// How long after the last input a call still counts as made by a person.
    const ATTENDED_FOR_MS: f64 = 5_000.0;

    thread_local! {
        static LAST_INPUT_MS: Cell<f64> = Cell::new(js_sys::Date::now());
        static FOLLOWING: Cell<bool> = const { Cell::new(false) };
    }

    pub fn attended() -> bool {
        js_sys::Date::now() - LAST_INPUT_MS.with(Cell::get) < ATTENDED_FOR_MS
    }

    /// Listens (once per page, in the capture phase, so an editor that stops an event still counts)
    /// for a person's input anywhere in the page.
    pub fn follow_input() {
        if FOLLOWING.with(|f| f.replace(true)) {
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let mark = Closure::<dyn Fn(web_sys::Event)>::new(|_| LAST_INPUT_MS.with(|t| t.set(js_sys::Date::now())));
        for event in ["keydown", "pointerdown", "wheel", "touchstart"] {
            let _ = window.add_event_listener_with_callback_and_bool(event, mark.as_ref().unchecked_ref(), true);
        }
        mark.forget(); // for the page's life
    }
}

#[cfg(feature = "hydrate")]
pub use attention::attended;

/// This page's component id: random, made once per page load.
#[cfg(feature = "hydrate")]
pub fn component_id() -> String {
    thread_local! {
        static ID: String = {
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            (0..12).map(|_| ALPHABET[(js_sys::Math::random() * ALPHABET.len() as f64) as usize % ALPHABET.len()] as char).collect()
        };
    }
    ID.with(Clone::clone)
}

/// Where the channel stands, shown by the marker (`data-state` on `.live-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Before the first connection (and before hydration).
    Connecting,
    Online,
    /// Lost; retrying.
    Reconnecting,
}

impl Link {
    fn state(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Online => "online",
            Link::Reconnecting => "reconnecting",
        }
    }
}

/// One `changes` event: what one component (page, ETAPI, sync) changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub by: String,
    pub notes: Vec<String>,
    pub parents: Vec<String>,
    pub deleted: Vec<String>,
    pub revisions: Vec<String>,
}

/// The workspace changes a `changes` event stands for; none for the page's own writes, which it has
/// already shown, except new revisions: the page's own save may take one without knowing it.
pub fn note_changes(event: &Changes, own_component: &str) -> Vec<NoteChange> {
    let revisions = event.revisions.iter().map(|n| NoteChange::RevisionsChanged { note_id: n.clone() });
    if event.by == own_component {
        return revisions.collect();
    }
    let parents = event.parents.iter().map(|p| NoteChange::ChildrenChanged { parent_note_id: p.clone() });
    let notes = event.notes.iter().map(|n| NoteChange::ContentChanged { note_id: n.clone() });
    let deleted = event.deleted.iter().map(|n| NoteChange::Deleted { note_id: n.clone() });
    parents.chain(notes).chain(deleted).chain(revisions).collect()
}

/// Opens the channel (in the browser) and shows the marker. Part of the layout, so every page is live.
#[component]
pub fn LiveChannel() -> impl IntoView {
    let link = RwSignal::new(Link::Connecting);
    #[cfg(feature = "hydrate")]
    {
        attention::follow_input();
        let workspace = crate::state::use_workspace();
        let pulse = use_context::<crate::state::SyncPulse>();
        let reload_tree = crate::tree::loaded_levels_reloader();
        let protected = crate::protected::use_protected();
        let refresh_everything = move || {
            reload_tree();
            // The protected session may have ended (or started) while the channel was down.
            if let Some(protected) = protected {
                protected.refresh();
            }
            if let Some(note_id) = workspace.open_note.get_untracked() {
                workspace.announce(NoteChange::ContentChanged { note_id });
            }
        };
        Effect::new(move |_| browser::open(link, workspace, pulse, protected, refresh_everything));
    }
    let label = move || match link.get() {
        Link::Online => "",
        Link::Connecting => "connecting…",
        Link::Reconnecting => "offline, reconnecting…",
    };
    view! {
        <div class="live-status" data-state=move || link.get().state() role="status" aria-live="polite"
            title="Whether this page shows changes made elsewhere as they happen">
            {label}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use js_sys::Array;
    use leptos::prelude::*;
    use wasm_bindgen::prelude::*;

    use super::{component_id, note_changes, Changes, Link, EVENTS_URL};
    use crate::state::{SyncPulse, Workspace};

    #[wasm_bindgen(inline_js = r#"
export function openEvents(url, onEvent) {
  const source = new EventSource(url, { withCredentials: true });
  for (const name of ['changes', 'reload', 'sync', 'protected-started', 'protected-ended']) {
    source.addEventListener(name, (e) => {
      let d = {};
      try { d = JSON.parse(e.data || '{}'); } catch (_) {}
      onEvent(name, d.by ?? '', d.notes ?? [], d.parents ?? [], d.deleted ?? [], d.revisions ?? []);
    });
  }
  source.onopen = () => onEvent('open', '', [], [], [], []);
  source.onerror = () => onEvent('error', '', [], [], [], []);
  return source;
}
export function closeEvents(source) { source.close(); }
"#)]
    extern "C" {
        #[wasm_bindgen(js_name = openEvents)]
        fn open_events(url: &str, on_event: &Closure<dyn Fn(String, String, Array, Array, Array, Array)>) -> JsValue;
        #[wasm_bindgen(js_name = closeEvents)]
        fn close_events(source: &JsValue);
    }

    const FIRST_RETRY_MS: u64 = 500;
    const MAX_RETRY_MS: u64 = 10_000;

    struct Channel {
        source: RefCell<Option<JsValue>>,
        handler: RefCell<Option<Closure<dyn Fn(String, String, Array, Array, Array, Array)>>>,
        opened_before: Cell<bool>,
        retry_ms: Cell<u64>,
        /// Bumped by every (re)connection, so a stale retry timer does nothing.
        generation: Cell<u64>,
    }

    fn strings(list: Array) -> Vec<String> {
        list.iter().filter_map(|v| v.as_string()).collect()
    }

    pub fn open(
        link: RwSignal<Link>,
        workspace: Workspace,
        pulse: Option<SyncPulse>,
        protected: Option<crate::protected::ProtectedView>,
        refresh_everything: impl Fn() + 'static,
    ) {
        let channel = Rc::new(Channel {
            source: RefCell::new(None),
            handler: RefCell::new(None),
            opened_before: Cell::new(false),
            retry_ms: Cell::new(FIRST_RETRY_MS),
            generation: Cell::new(0),
        });
        let refresh_everything = Rc::new(refresh_everything);
        let own = component_id();
        let weak = Rc::downgrade(&channel);
        let handler = Closure::<dyn Fn(String, String, Array, Array, Array, Array)>::new(
            move |name: String, by: String, notes: Array, parents: Array, deleted: Array, revisions: Array| {
                let Some(channel) = weak.upgrade() else { return };
                match name.as_str() {
                    "changes" => {
                        let event = Changes {
                            by,
                            notes: strings(notes),
                            parents: strings(parents),
                            deleted: strings(deleted),
                            revisions: strings(revisions),
                        };
                        for change in note_changes(&event, &own) {
                            workspace.announce(change);
                        }
                    }
                    "reload" => refresh_everything(),
                    // This login's protected session started or ended (in any tab, or by timeout).
                    "protected-started" | "protected-ended" => {
                        if let Some(protected) = protected {
                            protected.set_unlocked(name == "protected-started");
                        }
                    }
                    "sync" => {
                        if let Some(pulse) = pulse {
                            pulse.bump();
                        }
                    }
                    "open" => {
                        link.try_set(Link::Online);
                        channel.retry_ms.set(FIRST_RETRY_MS);
                        if channel.opened_before.replace(true) {
                            refresh_everything();
                        }
                        // Also on the first open: the status the server rendered may be stale by now
                        // (a cycle in progress then has ended before this stream could hear of it).
                        if let Some(pulse) = pulse {
                            pulse.bump();
                        }
                    }
                    _ => {
                        // The browser's own retry would keep an unlucky delay and gives up on any
                        // non-200 answer (a restarting server's 502, a 401): retry here instead.
                        link.try_set(Link::Reconnecting);
                        if let Some(source) = channel.source.borrow_mut().take() {
                            close_events(&source);
                        }
                        let delay = channel.retry_ms.get();
                        channel.retry_ms.set((delay * 2).min(MAX_RETRY_MS));
                        let generation = channel.generation.get() + 1;
                        channel.generation.set(generation);
                        let weak = Rc::downgrade(&channel);
                        set_timeout(
                            move || {
                                if let Some(channel) = weak.upgrade() {
                                    if channel.generation.get() == generation {
                                        connect(&channel);
                                    }
                                }
                            },
                            Duration::from_millis(delay),
                        );
                    }
                }
            },
        );
        *channel.handler.borrow_mut() = Some(handler);
        connect(&channel);
        let kept = send_wrapper::SendWrapper::new(channel);
        on_cleanup(move || {
            kept.generation.set(kept.generation.get() + 1);
            if let Some(source) = kept.source.borrow_mut().take() {
                close_events(&source);
            }
            kept.handler.borrow_mut().take();
        });
    }

    fn connect(channel: &Rc<Channel>) {
        if let Some(handler) = channel.handler.borrow().as_ref() {
            *channel.source.borrow_mut() = Some(open_events(EVENTS_URL, handler));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_changes_are_skipped_and_others_become_workspace_changes() {
        let event = Changes {
            by: "etapi".into(),
            notes: vec!["n1".into()],
            parents: vec!["p1".into()],
            deleted: vec!["d1".into()],
            revisions: vec!["r1".into()],
        };
        assert_eq!(
            note_changes(&event, "page1"),
            vec![
                NoteChange::ChildrenChanged { parent_note_id: "p1".into() },
                NoteChange::ContentChanged { note_id: "n1".into() },
                NoteChange::Deleted { note_id: "d1".into() },
                NoteChange::RevisionsChanged { note_id: "r1".into() },
            ]
        );
        assert_eq!(
            note_changes(&Changes { by: "page1".into(), ..event }, "page1"),
            vec![NoteChange::RevisionsChanged { note_id: "r1".into() }]
        );
    }
}
