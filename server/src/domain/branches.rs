//! Branches: move, clone, delete and undo, expand, prefix (Trilium's `routes/api/branches.js`,
//! `services/branches.js`, `services/cloning.js`, `BBranch.deleteBranch`, `services/tree.js`).

use rusqlite::Connection;

use super::notes::live_note;
use super::{DomainError, DomainResult};
use crate::db::{deletion, tree, WriteTx};
use crate::entities::{self, Branch};

/// Where [`move_branch`] puts a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTo {
    /// Last child of this note (`moveBranchToParent`).
    Into { parent_note_id: String },
    /// Just before this sibling branch, under its parent (`moveBranchBeforeNote`).
    Before { branch_id: String },
    /// Just after this sibling branch, under its parent (`moveBranchAfterNote`).
    After { branch_id: String },
}

/// What [`delete_branch`] did: the deleteId it stamped (for [`undo_delete`]) and whether the note went
/// too (it was the note's last branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub delete_id: String,
    pub note_deleted: bool,
}

/// Notes next to which nothing may be moved (Trilium's front end refuses them as a before/after target).
const FIXED_SIBLINGS: &[&str] = &["root", "_lbRoot", "_lbAvailableLaunchers", "_lbVisibleLaunchers"];

fn not_here() -> DomainError {
    DomainError::NotAllowed("Cannot move notes here.".into())
}

/// Trilium's `validateParentChild` as a domain error.
fn check_parent_child(conn: &Connection, parent_note_id: &str, note_id: &str, moving: Option<&str>) -> DomainResult<()> {
    match tree::parent_child_problem(conn, parent_note_id, note_id, moving)? {
        Some(problem) => Err(DomainError::NotAllowed(problem)),
        None => Ok(()),
    }
}

/// Moves a branch as Trilium's tree moves do: no cycles, not root (nor the other notes whose place is
/// fixed), nothing into `_hidden`; moving to another parent makes the new branch (ids derive from the
/// parent) and deletes the old one; before/after shift the siblings and write the parent's
/// `note_reordering` change. Returns the branch as it is now.
pub fn move_branch(tx: &mut WriteTx<'_>, branch_id: &str, to: MoveTo) -> DomainResult<Branch> {
    let branch = live_branch(tx.conn(), branch_id)?;
    match to {
        MoveTo::Into { parent_note_id } => {
            let parent = live_note(tx.conn(), &parent_note_id)?;
            if ["_hidden", "_lbRoot"].contains(&parent.note_id.as_str()) {
                return Err(not_here());
            }
            if branch.parent_note_id == parent.note_id {
                return Ok(branch);
            }
            check_parent_child(tx.conn(), &parent.note_id, &branch.note_id, Some(branch_id))?;
            let moved = tree::move_to_parent(tx, branch_id, &parent.note_id)?;
            placed(tx, moved)
        }
        MoveTo::Before { branch_id: target_id } => {
            check_sibling_target(tx.conn(), &branch, &target_id)?;
            let moved = tree::move_before(tx, branch_id, &target_id)?;
            placed(tx, moved)
        }
        MoveTo::After { branch_id: target_id } => {
            check_sibling_target(tx.conn(), &branch, &target_id)?;
            let moved = tree::move_after(tx, branch_id, &target_id)?;
            placed(tx, moved)
        }
    }
}

/// A branch just placed: its parent re-sorted when `#sorted`; the branch as it is then.
fn placed(tx: &mut WriteTx<'_>, branch: Branch) -> DomainResult<Branch> {
    sort_children_if_needed(tx, &branch.parent_note_id)?;
    live_branch(tx.conn(), &branch.branch_id)
}

/// Re-sorts the children of a `#sorted` note, as Trilium does whenever one of its child branches changes.
pub fn sort_children_if_needed(tx: &mut WriteTx<'_>, parent_note_id: &str) -> DomainResult<()> {
    super::sorting::sort_if_needed(tx, parent_note_id)
}

/// May `branch` go right before or after `target_id`?
fn check_sibling_target(conn: &Connection, branch: &Branch, target_id: &str) -> DomainResult<()> {
    let target = live_branch(conn, target_id)?;
    if FIXED_SIBLINGS.contains(&target.note_id.as_str()) || target.parent_note_id == "_hidden" {
        return Err(not_here());
    }
    check_parent_child(conn, &target.parent_note_id, &branch.note_id, Some(&branch.branch_id))
}

/// `cloning.cloneNoteToParentNote`: a second placement of the note, last under `parent_note_id`, with an
/// optional prefix; refused when the note is already there, the parent is a search note or `_hidden`,
/// or it would make a cycle.
pub fn clone_note(tx: &mut WriteTx<'_>, note_id: &str, parent_note_id: &str, prefix: Option<String>) -> DomainResult<Branch> {
    live_note(tx.conn(), note_id)?;
    let parent = live_note(tx.conn(), parent_note_id)?;
    if parent.note_type == "search" {
        return Err(DomainError::NotAllowed("Can't clone into a search note".into()));
    }
    if parent.note_id == "_hidden" {
        return Err(not_here());
    }
    check_parent_child(tx.conn(), parent_note_id, note_id, None)?;
    let prefix = prefix.filter(|p| !p.trim().is_empty());
    let branch = tree::clone_to_parent(tx, note_id, parent_note_id, prefix.as_deref())?;
    placed(tx, branch)
}

/// `BBranch.deleteBranch`: the branch, and the note with its subtree when this was its last branch.
/// Root, `_hidden` and Trilium's other system notes are refused (except their bookmarks).
pub fn delete_branch(tx: &mut WriteTx<'_>, branch_id: &str) -> DomainResult<Deleted> {
    let branch = live_branch(tx.conn(), branch_id)?;
    if super::notes::is_undeletable(&branch.note_id) && branch.parent_note_id != "_lbBookmarks" {
        return Err(DomainError::NotAllowed(format!("Branch '{branch_id}' cannot be deleted.")));
    }
    let delete_id = deletion::new_delete_id();
    let note_deleted = deletion::delete_branch(tx, branch_id, &delete_id)?;
    Ok(Deleted { delete_id, note_deleted })
}

/// Restores everything one deletion marked with `delete_id` (branches, notes, attributes, attachments),
/// for the UI's undo. `NotFound` when nothing carries that deleteId under a live parent.
pub fn undo_delete(tx: &mut WriteTx<'_>, delete_id: &str) -> DomainResult<()> {
    // The tree may have changed since the delete (the parent moved under the deleted note, say):
    // restoring must not make a cycle.
    for branch in deletion::restorable_branches(tx.conn(), delete_id)? {
        if tree::is_ancestor(tx.conn(), &branch.note_id, &branch.parent_note_id)? {
            return Err(DomainError::NotAllowed(
                "This delete cannot be undone: its parent has since been moved under the deleted note.".into(),
            ));
        }
    }
    match deletion::undo_delete(tx, delete_id)? {
        0 => Err(DomainError::not_found("deletions", delete_id)),
        _ => Ok(()),
    }
}

/// Trilium's `setExpanded`: only `isExpanded`, which is neither hashed nor synced (no entity change).
pub fn set_expanded(tx: &mut WriteTx<'_>, branch_id: &str, expanded: bool) -> DomainResult<()> {
    live_branch(tx.conn(), branch_id)?;
    // Root is always expanded.
    if branch_id != "none_root" {
        tree::set_expanded(tx.conn(), branch_id, expanded)?;
    }
    let branch = live_branch(tx.conn(), branch_id)?;
    sort_children_if_needed(tx, &branch.parent_note_id)
}

/// Sets or clears (None or blank) the branch's prefix (`setPrefix`).
pub fn set_prefix(tx: &mut WriteTx<'_>, branch_id: &str, prefix: Option<String>) -> DomainResult<Branch> {
    let mut branch = live_branch(tx.conn(), branch_id)?;
    branch.prefix = prefix.filter(|p| !p.trim().is_empty());
    tree::save_branch(tx, &mut branch)?;
    placed(tx, branch)
}

/// A live (not deleted) branch, or `NotFound`.
pub fn live_branch(conn: &Connection, branch_id: &str) -> DomainResult<Branch> {
    entities::load::<Branch>(conn, branch_id)?
        .filter(|b| !b.is_deleted)
        .ok_or_else(|| DomainError::not_found("branches", branch_id))
}
