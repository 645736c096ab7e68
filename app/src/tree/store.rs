//! The tree's client-side state: every loaded level keyed by its parent note (clones of one parent
//! share it), the row being renamed, the cut/copied row, the open menu and dialog, the notice.
//! Rows are drawn from the levels; a change reloads the levels it touched, one request each.
use std::collections::HashMap;

use leptos::prelude::*;

use super::api::{list_children, DropPosition, TreeEntry, TreeSnapshot};
use crate::state::{use_workspace, NoteChange, Workspace};

/// A level as loaded: `None` until its children arrive.
pub type Level = Option<Result<Vec<TreeEntry>, String>>;

/// A row as actions see it: its entry and its open/closed state.
#[derive(Clone)]
pub struct RowHandle {
    pub entry: TreeEntry,
    pub expanded: RwSignal<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clip {
    /// Ctrl+X: the branch moves on paste.
    Cut(TreeEntry),
    /// Ctrl+C: the note is cloned on paste (Ctrl+Shift+V).
    Copy(TreeEntry),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub message: String,
    pub is_error: bool,
    /// A deletion that "Undo" restores: its deleteId and the parent to reload.
    pub undo: Option<(String, String)>,
}

#[derive(Clone)]
pub struct Menu {
    pub row: RowHandle,
    pub x: f64,
    pub y: f64,
}

#[derive(Clone, Copy)]
pub struct TreeState {
    pub workspace: Workspace,
    /// Signals of levels are created under this owner (the page's), never under a row that may go away.
    owner: StoredValue<Owner>,
    levels: StoredValue<HashMap<String, RwSignal<Level>>>,
    pub renaming: RwSignal<Option<String>>,
    pub clip: RwSignal<Option<Clip>>,
    pub notice: RwSignal<Option<Notice>>,
    pub menu: RwSignal<Option<Menu>>,
    /// The row whose note the "clone to…" dialog places.
    pub cloning: RwSignal<Option<TreeEntry>>,
    /// The row being dragged.
    pub dragging: StoredValue<Option<TreeEntry>>,
    /// The branch whose row shows the drop indicator, and where the drop would go.
    pub drop_hint: StoredValue<Option<(String, DropPosition)>>,
    next_notice: StoredValue<u64>,
}

/// Creates the tree's state for this page; the layout calls it once, so its top bar and the tree share it.
pub fn provide_tree() -> TreeState {
    let state = TreeState {
        workspace: use_workspace(),
        owner: StoredValue::new(Owner::current().unwrap_or_default()),
        levels: StoredValue::new(HashMap::new()),
        renaming: RwSignal::new(None),
        clip: RwSignal::new(None),
        notice: RwSignal::new(None),
        menu: RwSignal::new(None),
        cloning: RwSignal::new(None),
        dragging: StoredValue::new(None),
        drop_hint: StoredValue::new(None),
        next_notice: StoredValue::new(0),
    };
    provide_context(state);
    state.follow_workspace();
    state
}

pub fn use_tree() -> TreeState {
    expect_context::<TreeState>()
}

impl TreeState {
    /// The level of `parent_note_id`, created empty (not loaded) the first time.
    pub fn level(&self, parent_note_id: &str) -> RwSignal<Level> {
        if let Some(level) = self.levels.with_value(|m| m.get(parent_note_id).copied()) {
            return level;
        }
        let level = self.owner.with_value(|owner| owner.with(|| RwSignal::new(None)));
        self.levels.update_value(|m| {
            m.insert(parent_note_id.to_string(), level);
        });
        level
    }

    /// Puts the server's levels in place (first render, or revealing a note opened by a link).
    pub fn seed(&self, snapshot: TreeSnapshot) {
        for level in snapshot.levels {
            self.level(&level.parent_note_id).set(Some(Ok(level.children)));
        }
    }

    /// Fetches `parent_note_id`'s children again.
    pub async fn reload(&self, parent_note_id: String) {
        let level = self.level(&parent_note_id);
        let loaded = list_children(parent_note_id).await.map_err(|e| e.to_string());
        level.set(Some(loaded));
    }

    /// Fetches every loaded level again (the live channel may have missed changes).
    pub async fn reload_loaded(&self) {
        let parents: Vec<String> = self.levels.with_value(|m| {
            m.iter().filter(|(_, level)| level.with_untracked(|l| l.is_some())).map(|(parent, _)| parent.clone()).collect()
        });
        futures::future::join_all(parents.into_iter().map(|p| self.reload(p))).await;
    }

    /// Fetches every loaded level again, then the open note's path, so its branches stay open (a
    /// level by itself comes back with the branches' stored `isExpanded`). For changes that touch
    /// rows anywhere, such as the protected session starting or ending.
    pub async fn reload_everything(&self) {
        self.reload_loaded().await;
        let open = self.workspace.open_note.get_untracked();
        match super::api::load_tree(open).await {
            Ok(snapshot) => self.seed(snapshot),
            Err(e) => self.error(format!("Could not reload the tree: {e}")),
        }
    }

    /// Reloads the level under `note_id` (if loaded) and every loaded level that shows `note_id` as a row
    /// (its child marker, clone marker or icon may have changed).
    pub async fn refresh_note(&self, note_id: &str) {
        let mut parents: Vec<String> = self.levels.with_value(|m| {
            m.iter()
                .filter(|(parent, level)| {
                    parent.as_str() == note_id
                        && level.with_untracked(|l| l.is_some())
                        || level.with_untracked(|l| matches!(l, Some(Ok(v)) if v.iter().any(|e| e.note_id == note_id)))
                })
                .map(|(parent, _)| parent.clone())
                .collect()
        });
        parents.sort();
        futures::future::join_all(parents.into_iter().map(|p| self.reload(p))).await;
    }

    /// Changes an entry wherever it is drawn (every clone) without redrawing rows (`update_untracked`),
    /// so that later redraws start from what the page shows.
    pub fn patch_branch(&self, branch_id: &str, parent_note_id: &str, f: impl Fn(&mut TreeEntry)) {
        self.level(parent_note_id).update_untracked(|l| {
            if let Some(Ok(list)) = l {
                list.iter_mut().filter(|e| e.branch_id == branch_id).for_each(&f);
            }
        });
    }

    /// A new title on every row of the note (the rows are redrawn).
    pub fn retitle(&self, note_id: &str, title: &str) {
        let levels: Vec<RwSignal<Level>> = self.levels.with_value(|m| m.values().copied().collect());
        for level in levels {
            let shows = level.with_untracked(|l| matches!(l, Some(Ok(v)) if v.iter().any(|e| e.note_id == note_id && e.title != title)));
            if shows {
                level.update(|l| {
                    if let Some(Ok(list)) = l {
                        list.iter_mut().filter(|e| e.note_id == note_id).for_each(|e| e.title = title.to_string());
                    }
                });
            }
        }
    }

    /// The loaded siblings of a row, in tree order.
    pub fn siblings(&self, parent_note_id: &str) -> Vec<TreeEntry> {
        self.level(parent_note_id).with_untracked(|l| match l {
            Some(Ok(v)) => v.clone(),
            _ => Vec::new(),
        })
    }

    pub fn open(&self, note_id: &str) {
        let path = format!("/?note={note_id}");
        // The router's navigate is not `Send`, so it is looked up under the page's owner when needed
        // rather than kept (a kept one would be dropped on another thread after a server render).
        self.owner.with_value(|owner| owner.with(|| leptos_router::hooks::use_navigate()(&path, Default::default())));
    }

    pub fn tell(&self, message: impl Into<String>, is_error: bool, undo: Option<(String, String)>) {
        let id = self.next_notice.get_value() + 1;
        self.next_notice.set_value(id);
        self.notice.set(Some(Notice { id, message: message.into(), is_error, undo }));
        let notice = self.notice;
        // A notice with an undo stays longer: it is the only way back.
        let seconds = if is_error { 8 } else { 10 };
        set_timeout(
            move || {
                if notice.with_untracked(|n| n.as_ref().is_some_and(|n| n.id == id)) {
                    notice.set(None);
                }
            },
            std::time::Duration::from_secs(seconds),
        );
    }

    pub fn error(&self, message: impl Into<String>) {
        self.tell(message, true, None);
    }

    /// Follows changes the note pane announces.
    fn follow_workspace(&self) {
        let state = *self;
        self.workspace.on_change(move |change| match change.clone() {
            NoteChange::Renamed { note_id, title } => state.retitle(&note_id, &title),
            NoteChange::TypeChanged { note_id, .. } | NoteChange::ContentChanged { note_id } => {
                leptos::task::spawn_local(async move { state.refresh_note(&note_id).await })
            }
            NoteChange::Created { parent_note_id, .. } | NoteChange::ChildrenChanged { parent_note_id } => {
                leptos::task::spawn_local(async move { state.refresh_note(&parent_note_id).await })
            }
            NoteChange::Deleted { .. } | NoteChange::RevisionsChanged { .. } => {}
        });
    }
}

/// Focuses the row of `branch_id` once the DOM shows it.
pub fn focus_branch(branch_id: String) {
    request_animation_frame(move || {
        use leptos::wasm_bindgen::JsCast;
        let selector = format!(".tree-row[data-branch-id=\"{}\"]", branch_id.replace('"', ""));
        if let Some(row) = document().query_selector(&selector).ok().flatten().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = row.focus();
        }
    });
}
