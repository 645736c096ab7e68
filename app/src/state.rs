//! What the tree and the note pane share in one page: the open note and the changes this page made,
//! so each part follows the other without a reload.
use leptos::prelude::*;

/// A change made by this page that other parts of it may have to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteChange {
    Created { note_id: String, parent_note_id: String, branch_id: String },
    Renamed { note_id: String, title: String },
    TypeChanged { note_id: String, note_type: String, mime: String },
    /// The note is gone (its last branch was deleted).
    Deleted { note_id: String },
    /// Branches under this parent changed (move, clone, delete, reorder, undelete): reload its children.
    ChildrenChanged { parent_note_id: String },
    /// The note's title, content or attributes changed outside this page's editor (a restored revision,
    /// another tab, ETAPI, sync): whoever shows it reloads it, never over unsaved typing.
    ContentChanged { note_id: String },
    /// The note got a revision (taken before an edit, by a restore, or kept by sync): an open
    /// revisions list reloads.
    RevisionsChanged { note_id: String },
}

/// Counts changes of this instance's sync status that the server announced; the sync indicator
/// refetches the status when it moves (and on a slow timer when nothing announces).
#[derive(Clone, Copy)]
pub struct SyncPulse(pub RwSignal<u64>);

impl SyncPulse {
    pub fn new() -> Self {
        SyncPulse(RwSignal::new(0))
    }
    pub fn bump(&self) {
        self.0.update(|n| *n += 1);
    }
}

impl Default for SyncPulse {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy)]
pub struct Workspace {
    /// The note named by the URL (`/?note=<noteId>`).
    pub open_note: Memo<Option<String>>,
    changes: RwSignal<Vec<NoteChange>>,
}

impl Workspace {
    pub fn new(open_note: Memo<Option<String>>) -> Self {
        Workspace { open_note, changes: RwSignal::new(Vec::new()) }
    }

    pub fn announce(&self, change: NoteChange) {
        self.changes.update(|log| log.push(change));
    }

    /// Calls `f` once for every change announced from now on, in order (effects are batched, so a
    /// single "latest change" signal would lose some).
    pub fn on_change(&self, f: impl Fn(&NoteChange) + 'static) {
        let changes = self.changes;
        let seen = StoredValue::new(changes.with_untracked(Vec::len));
        Effect::new(move |_| {
            changes.with(|log| {
                for change in &log[seen.get_value().min(log.len())..] {
                    f(change);
                }
                seen.set_value(log.len());
            });
        });
    }
}

pub fn use_workspace() -> Workspace {
    expect_context::<Workspace>()
}
