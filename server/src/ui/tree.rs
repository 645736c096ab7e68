//! The tree's port: reads from the store's tree queries, writes through the domain layer (one write
//! transaction each).
use app::error::AppError;
use app::tree::api::{ssr::TreePort, DeleteOutcome, DropPosition, NotePick, TreeEntry, TreeLevel, TreeSnapshot};

use super::protected::{shown_title, LazyKey};
use super::{domain_error, internal};
use crate::db::{tree_view, ChangeSource, Document, InstanceId};
use crate::domain::{self, branches::MoveTo, notes::Position};
use crate::entities::BlobContent;

/// Rows the first render draws for expanded branches at most; deeper expanded levels load when shown.
const SNAPSHOT_ROW_BUDGET: usize = 5_000;
/// Picks the "clone to…" search offers.
const FIND_LIMIT: usize = 20;

pub struct DocumentTree {
    pub document: Document,
    pub instance_id: InstanceId,
    pub protected: crate::protected::ProtectedSessions,
}

impl DocumentTree {
    fn source(&self) -> ChangeSource {
        super::ui_source(&self.instance_id)
    }

    fn write<T>(&self, f: impl FnOnce(&mut crate::db::WriteTx<'_>) -> domain::DomainResult<T>) -> Result<T, AppError> {
        self.document.write_with(&self.source(), f).map_err(domain_error)
    }
}

fn entry(row: tree_view::ChildRow, parent_note_id: &str, key: &LazyKey<'_>) -> TreeEntry {
    TreeEntry {
        // A protected title is ciphertext: decrypted in a protected session, "[protected]" without.
        title: if row.is_protected { shown_title(key.get(), &row.note_id, true, row.title) } else { row.title },
        branch_id: row.branch_id,
        note_id: row.note_id,
        parent_note_id: parent_note_id.to_string(),
        prefix: row.prefix.filter(|p| !p.is_empty()),
        note_type: row.note_type,
        mime: row.mime,
        icon_class: row.icon_class,
        is_protected: row.is_protected,
        has_children: row.has_children,
        is_expanded: row.is_expanded && row.has_children,
        is_clone: row.parent_count > 1,
    }
}

fn level(conn: &rusqlite::Connection, parent_note_id: &str, key: &LazyKey<'_>) -> crate::db::SqlResult<Vec<TreeEntry>> {
    Ok(tree_view::children(conn, parent_note_id)?.into_iter().map(|row| entry(row, parent_note_id, key)).collect())
}

impl TreePort for DocumentTree {
    fn children(&self, parent_note_id: &str) -> Result<Vec<TreeEntry>, AppError> {
        let key = &LazyKey::new(&self.protected);
        self.document
            .read(|conn| {
                if !tree_view::note_exists(conn, parent_note_id)? {
                    return Ok(None);
                }
                level(conn, parent_note_id, key).map(Some)
            })
            .map_err(internal)?
            .ok_or_else(|| AppError::NotFound(format!("Note {parent_note_id} does not exist.")))
    }

    fn snapshot(&self, open_note_id: Option<&str>, with_expanded: bool) -> Result<TreeSnapshot, AppError> {
        let key = &LazyKey::new(&self.protected);
        self.document
            .read(|conn| {
                let path = match open_note_id {
                    Some(id) => tree_view::path_to(conn, id)?.unwrap_or_default(),
                    None => Vec::new(),
                };
                // Levels of the path: every ancestor of the open note, its branch on the path shown open.
                let mut levels: Vec<TreeLevel> = Vec::new();
                for (i, parent) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
                    let mut children = level(conn, parent, key)?;
                    if let Some(next) = path.get(i + 1) {
                        for child in children.iter_mut().filter(|c| &c.note_id == next && i + 2 < path.len()) {
                            child.is_expanded = true;
                        }
                    }
                    levels.push(TreeLevel { parent_note_id: parent.clone(), children });
                }
                if !with_expanded {
                    return Ok(TreeSnapshot { levels, path });
                }
                if levels.is_empty() {
                    levels.push(TreeLevel { parent_note_id: "root".into(), children: level(conn, "root", key)? });
                }
                // Then what the user left expanded, breadth first, until the budget is spent.
                let mut rows: usize = levels.iter().map(|l| l.children.len()).sum();
                let mut queue: std::collections::VecDeque<String> = levels
                    .iter()
                    .flat_map(|l| l.children.iter().filter(|c| c.is_expanded).map(|c| c.note_id.clone()))
                    .collect();
                while let Some(parent) = queue.pop_front() {
                    if rows >= SNAPSHOT_ROW_BUDGET {
                        break;
                    }
                    if levels.iter().any(|l| l.parent_note_id == parent) {
                        continue;
                    }
                    let children = level(conn, &parent, key)?;
                    rows += children.len();
                    queue.extend(children.iter().filter(|c| c.is_expanded).map(|c| c.note_id.clone()));
                    levels.push(TreeLevel { parent_note_id: parent, children });
                }
                Ok(TreeSnapshot { levels, path })
            })
            .map_err(internal)
    }

    fn create(&self, parent_note_id: &str, after_branch_id: Option<&str>, note_type: &str) -> Result<TreeEntry, AppError> {
        if !app::tree::api::CREATABLE_TYPES.iter().any(|(t, _)| *t == note_type) {
            return Err(AppError::Invalid(format!("Notes of type '{note_type}' cannot be created here.")));
        }
        let content = BlobContent::Text(String::new());
        // Under a protected parent the new note is protected (as in Trilium): its title needs the key.
        let key = super::protected::key_for_note(&self.document, &self.protected, parent_note_id);
        let (_, branch) = self.write(|tx| {
            domain::notes::create_note(
                tx,
                domain::notes::CreateNote {
                    parent_note_id: parent_note_id.to_string(),
                    title: "new note".into(),
                    note_type: note_type.to_string(),
                    mime: None,
                    content,
                    position: after_branch_id.map_or(Position::Last, |b| Position::AfterBranch(b.to_string())),
                    prefix: None,
                    note_id: None,
                },
                key.as_ref(),
            )
        })?;
        self.document
            .read(|conn| tree_view::branch_row(conn, &branch.branch_id))
            .map_err(internal)?
            .map(|row| entry(row, parent_note_id, &LazyKey::new(&self.protected)))
            .ok_or_else(|| AppError::Server("The new note is not in the tree.".into()))
    }

    fn rename(&self, note_id: &str, title: &str) -> Result<(), AppError> {
        let key = super::protected::key_for_note(&self.document, &self.protected, note_id);
        self.write(|tx| domain::notes::rename(tx, note_id, title.trim(), key.as_ref())).map(drop)
    }

    fn delete(&self, branch_id: &str) -> Result<DeleteOutcome, AppError> {
        let deleted = self.write(|tx| domain::branches::delete_branch(tx, branch_id))?;
        Ok(DeleteOutcome { delete_id: deleted.delete_id, note_deleted: deleted.note_deleted })
    }

    fn undo_delete(&self, delete_id: &str) -> Result<(), AppError> {
        self.write(|tx| domain::branches::undo_delete(tx, delete_id))
    }

    fn move_branch(&self, branch_id: &str, position: DropPosition, target: &str) -> Result<String, AppError> {
        let to = match position {
            DropPosition::Into => MoveTo::Into { parent_note_id: target.to_string() },
            DropPosition::Before => MoveTo::Before { branch_id: target.to_string() },
            DropPosition::After => MoveTo::After { branch_id: target.to_string() },
        };
        self.write(|tx| domain::branches::move_branch(tx, branch_id, to)).map(|b| b.branch_id)
    }

    fn clone_note(&self, note_id: &str, parent_note_id: &str, prefix: Option<&str>) -> Result<(), AppError> {
        self.write(|tx| domain::branches::clone_note(tx, note_id, parent_note_id, prefix.map(str::to_string))).map(drop)
    }

    fn set_expanded(&self, branch_id: &str, expanded: bool) -> Result<(), AppError> {
        self.write(|tx| domain::branches::set_expanded(tx, branch_id, expanded))
    }

    fn find_notes(&self, query: &str) -> Result<Vec<NotePick>, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.document.read(|conn| tree_view::find_by_title(conn, query, FIND_LIMIT)).map_err(internal)?;
        Ok(found.into_iter().map(|(note_id, title)| NotePick { note_id, title }).collect())
    }
}
