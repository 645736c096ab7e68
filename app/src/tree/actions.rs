//! What the tree's rows, keys, menu and drops do: each a server function (one domain write), then
//! the levels it touched are reloaded and the note pane is told.
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::{self, DropPosition, TreeEntry};
use super::store::{focus_branch, Clip, RowHandle, TreeState};
use crate::note::api::title_problem;
use crate::state::NoteChange;

/// A new note of `note_type` under `parent` (after `after` if given), opened and renamed in place.
pub fn create(state: TreeState, parent: Option<RowHandle>, parent_note_id: String, after: Option<String>, note_type: &'static str) {
    spawn_local(async move {
        match api::create_note(parent_note_id.clone(), after, note_type.to_string()).await {
            Ok(entry) => {
                if let Some(parent) = parent {
                    parent.expanded.set(true);
                    state.patch_branch(&parent.entry.branch_id, &parent.entry.parent_note_id, |e| {
                        e.is_expanded = true;
                        e.has_children = true;
                    });
                    // Before the reload below, so the parent's row comes back open.
                    let _ = api::set_expanded(parent.entry.branch_id.clone(), true).await;
                }
                state.refresh_note(&parent_note_id).await;
                state.workspace.announce(NoteChange::Created {
                    note_id: entry.note_id.clone(),
                    parent_note_id: parent_note_id.clone(),
                    branch_id: entry.branch_id.clone(),
                });
                state.open(&entry.note_id);
                state.renaming.set(Some(entry.branch_id.clone()));
            }
            Err(e) => state.error(format!("Could not create the note: {e}")),
        }
    });
}

/// Saves a new title typed in the row. `Ok` closes the editor.
pub fn rename(state: TreeState, entry: TreeEntry, title: String) {
    if title.trim() == entry.title {
        state.renaming.set(None);
        focus_branch(entry.branch_id);
        return;
    }
    if let Some(problem) = title_problem(&title) {
        state.error(problem);
        return;
    }
    spawn_local(async move {
        let title = title.trim().to_string();
        match api::rename_note(entry.note_id.clone(), title.clone()).await {
            Ok(()) => {
                state.renaming.set(None);
                state.retitle(&entry.note_id, &title);
                state.workspace.announce(NoteChange::Renamed { note_id: entry.note_id, title });
                focus_branch(entry.branch_id);
            }
            Err(e) => state.error(format!("Could not rename the note: {e}")),
        }
    });
}

/// Deletes the branch (and the note with it when it was its last), with an "Undo" in the notice.
pub fn delete(state: TreeState, entry: TreeEntry) {
    let siblings = state.siblings(&entry.parent_note_id);
    let next_focus = siblings
        .iter()
        .position(|e| e.branch_id == entry.branch_id)
        .and_then(|i| siblings.get(i + 1).or_else(|| i.checked_sub(1).and_then(|j| siblings.get(j))))
        .map(|e| e.branch_id.clone());
    spawn_local(async move {
        match api::delete_branch(entry.branch_id.clone()).await {
            Ok(outcome) => {
                state.refresh_note(&entry.parent_note_id).await;
                let what = if outcome.note_deleted { "Deleted" } else { "Removed this placement of" };
                state.tell(
                    format!("{what} “{}”.", entry.title),
                    false,
                    Some((outcome.delete_id, entry.parent_note_id.clone())),
                );
                if outcome.note_deleted {
                    state.workspace.announce(NoteChange::Deleted { note_id: entry.note_id.clone() });
                }
                state.workspace.announce(NoteChange::ChildrenChanged { parent_note_id: entry.parent_note_id.clone() });
                if state.workspace.open_note.get_untracked().as_deref() == Some(entry.note_id.as_str()) && outcome.note_deleted {
                    state.open(&entry.parent_note_id);
                }
                if let Some(branch_id) = next_focus {
                    focus_branch(branch_id);
                }
            }
            Err(e) => state.error(format!("Could not delete “{}”: {e}", entry.title)),
        }
    });
}

pub fn undo_delete(state: TreeState, delete_id: String, parent_note_id: String) {
    state.notice.set(None);
    spawn_local(async move {
        match api::undo_delete(delete_id).await {
            Ok(()) => {
                state.refresh_note(&parent_note_id).await;
                state.workspace.announce(NoteChange::ChildrenChanged { parent_note_id: parent_note_id.clone() });
                state.tell("Restored.", false, None);
            }
            Err(e) => state.error(format!("Could not undo the deletion: {e}")),
        }
    });
}

/// Moves `moving` into, before or after `target` (its branch for before/after, its note for into).
pub fn move_to(state: TreeState, moving: TreeEntry, position: DropPosition, target: TreeEntry) {
    let target_arg = match position {
        DropPosition::Into => target.note_id.clone(),
        DropPosition::Before | DropPosition::After => target.branch_id.clone(),
    };
    let new_parent = match position {
        DropPosition::Into => target.note_id.clone(),
        _ => target.parent_note_id.clone(),
    };
    spawn_local(async move {
        match api::move_branch(moving.branch_id.clone(), position, target_arg).await {
            Ok(branch_id) => {
                state.refresh_note(&moving.parent_note_id).await;
                if new_parent != moving.parent_note_id {
                    state.refresh_note(&new_parent).await;
                }
                for parent in [moving.parent_note_id.clone(), new_parent.clone()] {
                    state.workspace.announce(NoteChange::ChildrenChanged { parent_note_id: parent });
                }
                focus_branch(branch_id);
            }
            Err(e) => state.error(format!("Could not move “{}”: {e}", moving.title)),
        }
    });
}

/// Ctrl+Up / Ctrl+Down: one place up or down among the siblings.
pub fn reorder(state: TreeState, entry: TreeEntry, up: bool) {
    let siblings = state.siblings(&entry.parent_note_id);
    let Some(i) = siblings.iter().position(|e| e.branch_id == entry.branch_id) else { return };
    let neighbour = if up { i.checked_sub(1).and_then(|j| siblings.get(j)) } else { siblings.get(i + 1) };
    if let Some(neighbour) = neighbour.cloned() {
        move_to(state, entry, if up { DropPosition::Before } else { DropPosition::After }, neighbour);
    }
}

/// A second placement of `entry`'s note under `parent_note_id`.
pub fn clone_into(state: TreeState, entry: TreeEntry, parent_note_id: String, prefix: Option<String>) {
    spawn_local(async move {
        match api::clone_note(entry.note_id.clone(), parent_note_id.clone(), prefix).await {
            Ok(()) => {
                state.refresh_note(&parent_note_id).await;
                state.refresh_note(&entry.note_id).await;
                state.workspace.announce(NoteChange::ChildrenChanged { parent_note_id });
                state.tell(format!("Cloned “{}”.", entry.title), false, None);
            }
            Err(e) => state.error(format!("Could not clone “{}”: {e}", entry.title)),
        }
    });
}

/// Ctrl+V (move what was cut) or Ctrl+Shift+V (clone what was copied or cut) into `target`.
pub fn paste(state: TreeState, target: RowHandle, as_clone: bool) {
    let Some(clip) = state.clip.get_untracked() else {
        state.error("Nothing to paste: cut (Ctrl+X) or copy (Ctrl+C) a note first.");
        return;
    };
    let (Clip::Cut(entry) | Clip::Copy(entry)) = clip.clone();
    if as_clone {
        clone_into(state, entry, target.entry.note_id.clone(), None);
    } else if let Clip::Cut(entry) = clip {
        state.clip.set(None);
        move_to(state, entry, DropPosition::Into, target.entry.clone());
    } else {
        state.error("A copied note is pasted as a clone: Ctrl+Shift+V.");
    }
}

/// Shows a row's children (loading them if needed) and remembers it on the branch.
pub fn set_expanded(state: TreeState, row: &RowHandle, expanded: bool) {
    if row.expanded.get_untracked() == expanded || (expanded && !row.entry.has_children) {
        return;
    }
    row.expanded.set(expanded);
    state.patch_branch(&row.entry.branch_id, &row.entry.parent_note_id, |e| e.is_expanded = expanded);
    let branch_id = row.entry.branch_id.clone();
    spawn_local(async move {
        if let Err(e) = api::set_expanded(branch_id, expanded).await {
            state.error(format!("Could not remember that the note is {}: {e}", if expanded { "open" } else { "closed" }));
        }
    });
}

/// Protects or unprotects a note (with `subtree`, everything under it too). Needs the protected
/// session: without one the password dialog opens first and nothing is written.
pub fn protect(state: TreeState, session: Option<crate::protected::ProtectedView>, entry: TreeEntry, protected: bool, subtree: bool) {
    let Some(session) = session else { return };
    if !session.is_unlocked() {
        state.error("Enter the protected session first: protecting and unprotecting notes needs the password.");
        session.ask();
        return;
    }
    spawn_local(async move {
        match crate::protected::api::set_protected(entry.note_id.clone(), protected, subtree).await {
            Ok(outcome) => {
                let done = if protected { "Protected" } else { "Unprotected" };
                let notes = if outcome.changed == 1 { "1 note".to_string() } else { format!("{} notes", outcome.changed) };
                state.tell(format!("{done} {notes}."), false, None);
                // Rows of the subtree may be anywhere in what the tree has loaded.
                state.reload_everything().await;
                state.workspace.announce(NoteChange::ContentChanged { note_id: entry.note_id });
            }
            Err(e) => state.error(format!("Could not change the protection: {e}")),
        }
    });
}
