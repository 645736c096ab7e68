//! Notes: create, rename, change type, save content, delete (Trilium's `services/notes.js`).

use rusqlite::Connection;

use super::branches::Deleted;
use super::{links, DomainError, DomainResult};
use crate::db::graph::Graph;
use crate::db::{deletion, entity_changes, revisions, tree, WriteTx};
use crate::entities::{self, Attribute, Blob, BlobContent, Branch, Note, NOTE_TYPES};
use crate::protected::DataKey;

/// The longest title the UI may set (Trilium has no limit; a title is one line of the tree).
pub const MAX_TITLE_CHARS: usize = 1000;

/// Where [`create_note`] places the new note among the parent's children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// After the last child (before the first with `#newNotesOnTop`), as Trilium's `getNewNotePosition`.
    Last,
    /// This exact `notePosition` (ETAPI's `notePosition`).
    Index(i64),
    /// Right after this sibling branch (Trilium's `target: 'after'`: later siblings shift by 10).
    AfterBranch(String),
}

/// Parameters of [`create_note`].
#[derive(Debug, Clone)]
pub struct CreateNote {
    pub parent_note_id: String,
    pub title: String,
    /// `text`, `code`, `book`, ... (Trilium's note types).
    pub note_type: String,
    /// The type's default (`text/html` for text, `text/plain` for code, ...) when `None`.
    pub mime: Option<String>,
    pub content: BlobContent,
    pub position: Position,
    pub prefix: Option<String>,
    /// Forces the note id (ETAPI allows it); random otherwise.
    pub note_id: Option<String>,
}

/// `getAndValidateParent`: parents Trilium refuses to create children in.
fn check_parent(parent: &Note, note_type: &str) -> DomainResult<()> {
    let id = parent.note_id.as_str();
    if parent.note_type == "launcher" && id != "_lbBookmarks" {
        return Err(DomainError::NotAllowed("Creating child notes into launcher notes is not allowed.".into()));
    }
    if ["_lbAvailableLaunchers", "_lbVisibleLaunchers"].contains(&id) && note_type != "launcher" {
        return Err(DomainError::NotAllowed(format!("Only 'launcher' notes can be created in parent '{id}'")));
    }
    if ["_lbRoot", "_hidden"].contains(&id) || id.starts_with("_lbTpl") || id.starts_with("_options") {
        return Err(DomainError::NotAllowed(format!("Creating child notes into '{id}' is not allowed.")));
    }
    Ok(())
}

fn check_note_type(note_type: &str) -> DomainResult<()> {
    if NOTE_TYPES.contains(&note_type) {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "'{note_type}' is not a valid note type, allowed types are: {}",
            NOTE_TYPES.join(", ")
        )))
    }
}

/// `notes.createNewNote` (with `createNewNoteWithTarget`'s `after`): checks the parent as Trilium does
/// (no children in launchers, `_hidden`, options...), writes the note, its content and its branch, scans
/// the content for links and copies the parent's `child:` attributes.
///
/// In a protected session (`key`) a note created under a protected parent is protected, as Trilium's
/// page asks for; without one it is not (Trilium's page and ETAPI alike).
pub fn create_note(tx: &mut WriteTx<'_>, p: CreateNote, key: Option<&DataKey>) -> DomainResult<(Note, Branch)> {
    tx.set_key(key);
    let parent = live_note(tx.conn(), &p.parent_note_id)?;
    check_note_type(&p.note_type)?;
    check_parent(&parent, &p.note_type)?;
    if let Some(id) = &p.note_id {
        if entities::load::<Note>(tx.conn(), id)?.is_some() {
            return Err(DomainError::Invalid(format!("Note '{id}' already exists.")));
        }
    }
    let note_position = match &p.position {
        Position::Last => None,
        Position::Index(i) => Some(*i),
        Position::AfterBranch(after_id) => {
            let after = super::branches::live_branch(tx.conn(), after_id)?;
            if after.parent_note_id != parent.note_id {
                return Err(DomainError::Invalid(format!(
                    "Branch '{after_id}' is not a child of note '{}'.",
                    parent.note_id
                )));
            }
            tree::shift_positions_after(tx, &parent.note_id, after.note_position)?;
            Some(after.note_position + 10)
        }
    };
    let (note, branch) = tree::create_note(
        tx,
        tree::NewNote {
            parent_note_id: p.parent_note_id,
            title: p.title,
            content: p.content,
            note_type: p.note_type,
            mime: p.mime,
            note_id: p.note_id,
            prefix: p.prefix,
            note_position,
        },
    )?;
    if matches!(p.position, Position::AfterBranch(_)) {
        entity_changes::put_note_reordering(tx, &parent.note_id)?;
    }
    links::scan_for_links(tx, &note.note_id)?;
    if let (Some(key), true) = (key, parent.is_protected) {
        // The plain first copy goes again in this transaction (its blob with its entity change).
        super::protected::set_protected(tx, &note.note_id, true, false, key)?;
    }
    copy_child_attributes(tx, &parent.note_id, &note.note_id)?;
    super::branches::sort_children_if_needed(tx, &parent.note_id)?;
    let note = entities::get(tx.conn(), &note.note_id)?;
    let branch = super::branches::live_branch(tx.conn(), &branch.branch_id)?;
    Ok((note, branch))
}

/// `copyChildAttributes`: every `child:<name>` attribute in effect on the parent (owned or inherited)
/// becomes a `<name>` attribute of the new note, with the same type, value, position and inheritability.
fn copy_child_attributes(tx: &mut WriteTx<'_>, parent_note_id: &str, note_id: &str) -> DomainResult<()> {
    let templates: Vec<Attribute> = Graph::new(tx.conn())
        .attributes(parent_note_id)?
        .into_iter()
        .filter(|a| a.name.starts_with("child:"))
        .collect();
    for t in templates {
        let mut a = Attribute::new(note_id, &t.attr_type, &t.name["child:".len()..], &t.value);
        a.is_inheritable = t.is_inheritable;
        super::attributes::save(tx, a, Some(t.position))?;
    }
    Ok(())
}

/// A title the UI may set: not blank, at most [`MAX_TITLE_CHARS`].
fn check_title(title: &str) -> DomainResult<()> {
    if title.trim().is_empty() {
        return Err(DomainError::Invalid("The title must not be empty.".into()));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(DomainError::Invalid(format!("The title is longer than {MAX_TITLE_CHARS} characters.")));
    }
    Ok(())
}

/// A live note that may change: unprotected, or protected and the transaction has the key (set here).
fn writable_note(tx: &mut WriteTx<'_>, note_id: &str, key: Option<&DataKey>) -> DomainResult<Note> {
    tx.set_key(key);
    let note = live_note(tx.conn(), note_id)?;
    if note.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: note_id.to_owned() });
    }
    Ok(note)
}

/// Changes the title (a revision first when due, as Trilium's `changeTitle`). The title must not be
/// blank nor longer than [`MAX_TITLE_CHARS`].
pub fn rename(tx: &mut WriteTx<'_>, note_id: &str, title: &str, key: Option<&DataKey>) -> DomainResult<Note> {
    check_title(title)?;
    let note = writable_note(tx, note_id, key)?;
    if super::protected::title_of(&note, key)? == title {
        return Ok(note);
    }
    let note = tree::update_note_title(tx, note_id, title)?;
    for parent in tree::parent_branches(tx.conn(), note_id)? {
        super::branches::sort_children_if_needed(tx, &parent.parent_note_id)?;
    }
    Ok(note)
}

/// Changes type and mime (`mime` `None`: the type's default mime), as Trilium's `setNoteTypeMime`.
pub fn set_type(tx: &mut WriteTx<'_>, note_id: &str, note_type: &str, mime: Option<&str>, key: Option<&DataKey>) -> DomainResult<Note> {
    check_note_type(note_type)?;
    let mut note = writable_note(tx, note_id, key)?;
    note.note_type = note_type.to_owned();
    note.mime = mime.unwrap_or_else(|| Note::default_mime(note_type)).to_owned();
    tree::save_note(tx, &mut note)?;
    Ok(note)
}

/// The editor's save (Trilium's `updateNoteData`): the content the note already has writes nothing;
/// otherwise refused as `Stale` when the note's blobId is no longer `expected_blob_id` (`None`: the
/// note had no content yet);
/// otherwise a revision first when Trilium's revision interval rule says so, then the content with its
/// links saved.
pub fn save_content(
    tx: &mut WriteTx<'_>,
    note_id: &str,
    content: BlobContent,
    expected_blob_id: Option<&str>,
    key: Option<&DataKey>,
) -> DomainResult<Note> {
    let note = writable_note(tx, note_id, key)?;
    // The same content again changes nothing, so nothing is written (not even a revision). Checked
    // before staleness: a save whose answer was lost is retried with the old blobId and must succeed.
    if note.blob_id.as_deref() == Some(Blob::id_for(content.as_bytes().unwrap_or_default(), note.is_protected).as_str()) {
        return Ok(note);
    }
    if note.blob_id.as_deref() != expected_blob_id {
        return Err(DomainError::Stale(format!("Note '{note_id}' was changed elsewhere since it was loaded.")));
    }
    revisions::save_revision_if_needed(tx, &note)?;
    let mut note = entities::get::<Note>(tx.conn(), note_id)?;
    let content = links::save_links(tx, &note, content)?;
    tree::set_note_content(tx, &mut note, content)?;
    Ok(note)
}

/// The editor's save over a version written elsewhere since the editor loaded the note (what
/// [`save_content`] refuses as `Stale`): both are kept, as sync keeps both sides of a conflict. The
/// stored version becomes a revision first, then the editor's text, the newer, is written.
pub fn save_content_keeping_stored(tx: &mut WriteTx<'_>, note_id: &str, content: BlobContent, key: Option<&DataKey>) -> DomainResult<Note> {
    let note = writable_note(tx, note_id, key)?;
    if note.blob_id.as_deref() == Some(Blob::id_for(content.as_bytes().unwrap_or_default(), note.is_protected).as_str()) {
        return Ok(note);
    }
    if note.blob_id.is_some() {
        revisions::save_revision(tx, &note)?;
    }
    let mut note = entities::get::<Note>(tx.conn(), note_id)?;
    let content = links::save_links(tx, &note, content)?;
    tree::set_note_content(tx, &mut note, content)?;
    Ok(note)
}

/// Replaces the content without a revision or a stale check, then rescans links (ETAPI's
/// `PUT /notes/{id}/content`: `setContent` + `asyncPostProcessContent`).
pub fn set_content(tx: &mut WriteTx<'_>, note_id: &str, content: BlobContent, key: Option<&DataKey>) -> DomainResult<Note> {
    let mut note = writable_note(tx, note_id, key)?;
    tree::set_note_content(tx, &mut note, content)?;
    links::scan_for_links(tx, note_id)?;
    Ok(entities::get(tx.conn(), note_id)?)
}

/// What [`update_properties`] changes (`None`: left as it is).
#[derive(Debug, Clone, Default)]
pub struct NoteChanges {
    pub title: Option<String>,
    pub note_type: Option<String>,
    pub mime: Option<String>,
    pub date_created: Option<String>,
    pub utc_date_created: Option<String>,
}

/// Sets the given properties as they are and saves the note (ETAPI's `PATCH /notes/{id}`: no revision
/// and no checks beyond the note being live and unprotected).
pub fn update_properties(tx: &mut WriteTx<'_>, note_id: &str, changes: NoteChanges) -> DomainResult<Note> {
    let mut note = writable_note(tx, note_id, None)?;
    let NoteChanges { title, note_type, mime, date_created, utc_date_created } = changes;
    note.title = title.unwrap_or(note.title);
    note.note_type = note_type.unwrap_or(note.note_type);
    note.mime = mime.unwrap_or(note.mime);
    note.date_created = date_created.unwrap_or(note.date_created);
    note.utc_date_created = utc_date_created.unwrap_or(note.utc_date_created);
    tree::save_note(tx, &mut note)?;
    Ok(note)
}

/// Notes that are never deleted: root and Trilium's system notes (ids starting with `_`).
pub(super) fn is_undeletable(note_id: &str) -> bool {
    note_id == "root" || note_id.starts_with('_')
}

/// `BNote.deleteNote`: every branch of the note under one deleteId. Root, `_hidden` and the other
/// system notes are refused.
///
/// In a protected session (`key`) protected notes are hashed over their decrypted titles, as
/// Trilium's are in its protected session; without one over the ciphertext, as Trilium's are then.
pub fn delete_note(tx: &mut WriteTx<'_>, note_id: &str, key: Option<&DataKey>) -> DomainResult<Deleted> {
    tx.set_key(key);
    if is_undeletable(note_id) {
        return Err(DomainError::NotAllowed(format!("Note '{note_id}' cannot be deleted.")));
    }
    live_note(tx.conn(), note_id)?;
    let delete_id = deletion::delete_note(tx, note_id)?;
    Ok(Deleted { delete_id, note_deleted: true })
}

/// A live (not deleted) note, or `NotFound`.
pub fn live_note(conn: &Connection, note_id: &str) -> DomainResult<Note> {
    entities::load::<Note>(conn, note_id)?
        .filter(|n| !n.is_deleted)
        .ok_or_else(|| DomainError::not_found("notes", note_id))
}

/// A note's content in plaintext (`BlobContent::Null` when it has none yet); a protected note's
/// needs the key (`ProtectedLocked` without it, `Undecryptable` if it does not decrypt).
pub fn content(conn: &Connection, note_id: &str, key: Option<&DataKey>) -> DomainResult<BlobContent> {
    let note = live_note(conn, note_id)?;
    super::protected::content_of(conn, &note, key)
}

/// Trilium's `utils.isStringNote`: content kept as text rather than bytes.
pub fn is_string_note(note_type: &str, mime: &str) -> bool {
    ["text", "code", "relationMap", "search", "render", "book", "mermaid", "canvas"].contains(&note_type)
        || mime.starts_with("text/")
        || ["application/javascript", "application/x-javascript", "application/json", "application/x-sql", "image/svg+xml"]
            .contains(&mime)
}

/// Bytes as Trilium's `setContent` stores them for a note of this type and mime (text or binary).
pub fn content_for(note_type: &str, mime: &str, bytes: Vec<u8>) -> BlobContent {
    if is_string_note(note_type, mime) {
        BlobContent::Text(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    } else {
        BlobContent::Binary(bytes)
    }
}
