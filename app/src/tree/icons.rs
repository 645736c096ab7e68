//! Row icons. Canopy serves boxicons itself (`public/vendor/boxicons`, MIT): Trilium's `#iconClass`
//! labels name boxicons classes (`bx bx-bowl-hot`), so any icon a user chose in Trilium shows as chosen,
//! and the type icons come from the same font so the rows look of a piece.
use super::api::TreeEntry;

/// The classes of a row's icon: the note's own `#iconClass` when it is a plausible class list, else
/// the type's icon (a text note with children is a folder, as in Trilium).
pub fn icon_class(entry: &TreeEntry) -> String {
    if let Some(own) = entry.icon_class.as_deref().filter(|c| is_class_list(c)) {
        return own.to_string();
    }
    let icon = match entry.note_type.as_str() {
        "text" if entry.has_children => "bx-folder",
        "text" => "bx-note",
        "code" if entry.mime.starts_with("text/x-sql") => "bx-data",
        "code" => "bx-code",
        "file" => "bx-file",
        "image" => "bx-image",
        "book" => "bx-book",
        "search" => "bx-file-find",
        "relationMap" | "noteMap" => "bx-map-alt",
        "render" => "bx-extension",
        "canvas" => "bx-pen",
        "mermaid" => "bx-selection",
        "webView" => "bx-globe-alt",
        "launcher" => "bx-link",
        "doc" => "bxs-file-doc",
        "contentWidget" => "bxs-widget",
        _ => "bx-note",
    };
    format!("bx {icon}")
}

/// A label value from another instance becomes a class attribute: only class-like words are used.
fn is_class_list(value: &str) -> bool {
    !value.trim().is_empty()
        && value.len() <= 100
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '))
}
