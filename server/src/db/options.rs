//! Options: Trilium's default set for a new document (with the right isSynced flags) and
//! get/set helpers that go through the entity write path.

use rusqlite::{Connection, OptionalExtension};

use super::schema::parse_int_lenient;
use super::{SqlResult, WriteTx};
use crate::entities::{self, Entity, OptionRow};

/// Options every document gets at creation, in Trilium's order: (name, value, isSynced).
/// Values as Trilium 0.63.7 writes them on a non-Windows server.
pub const DEFAULT_OPTIONS: &[(&str, &str, bool)] = &[
    ("revisionSnapshotTimeInterval", "600", true),
    ("protectedSessionTimeout", "600", true),
    ("zoomFactor", "1.0", false),
    ("overrideThemeFonts", "false", false),
    ("mainFontFamily", "theme", false),
    ("mainFontSize", "100", false),
    ("treeFontFamily", "theme", false),
    ("treeFontSize", "100", false),
    ("detailFontFamily", "theme", false),
    ("detailFontSize", "110", false),
    ("monospaceFontFamily", "theme", false),
    ("monospaceFontSize", "110", false),
    ("spellCheckEnabled", "true", false),
    ("spellCheckLanguageCode", "en-US", false),
    ("imageMaxWidthHeight", "2000", true),
    ("imageJpegQuality", "75", true),
    ("autoFixConsistencyIssues", "true", false),
    ("vimKeymapEnabled", "false", false),
    ("codeLineWrapEnabled", "true", false),
    ("codeNotesMimeTypes", r#"["text/x-csrc","text/x-c++src","text/x-csharp","text/css","text/x-go","text/x-groovy","text/x-haskell","text/html","message/http","text/x-java","application/javascript;env=frontend","application/javascript;env=backend","application/json","text/x-kotlin","text/x-markdown","text/x-perl","text/x-php","text/x-python","text/x-ruby",null,"text/x-sql","text/x-sqlite;schema=trilium","text/x-swift","text/xml","text/x-yaml","text/x-sh"]"#, true),
    ("leftPaneWidth", "25", false),
    ("leftPaneVisible", "true", false),
    ("rightPaneWidth", "25", false),
    ("rightPaneVisible", "true", false),
    ("nativeTitleBarVisible", "false", false),
    ("eraseEntitiesAfterTimeInSeconds", "604800", true),
    ("hideArchivedNotes_main", "false", false),
    ("debugModeEnabled", "false", false),
    ("headingStyle", "underline", true),
    ("autoCollapseNoteTree", "true", true),
    ("autoReadonlySizeText", "10000", false),
    ("autoReadonlySizeCode", "30000", false),
    ("dailyBackupEnabled", "true", false),
    ("weeklyBackupEnabled", "true", false),
    ("monthlyBackupEnabled", "true", false),
    ("maxContentWidth", "1200", false),
    ("compressImages", "true", true),
    ("downloadImagesAutomatically", "true", true),
    ("minTocHeadings", "5", true),
    ("highlightsList", r#"["bold","italic","underline","color","bgColor"]"#, true),
    ("checkForUpdates", "true", true),
    ("disableTray", "false", false),
    ("eraseUnusedAttachmentsAfterSeconds", "2592000", true),
    ("customSearchEngineName", "DuckDuckGo", true),
    ("customSearchEngineUrl", "https://duckduckgo.com/?q={keyword}", true),
    ("promotedAttributesOpenInRibbon", "true", true),
    ("editedNotesOpenInRibbon", "true", true),
];

/// Default keyboard shortcuts (option `keyboardShortcuts<Name>`, never synced).
const KEYBOARD_SHORTCUTS: &[(&str, &str)] = &[
    ("BackInNoteHistory", r#"["Alt+Left"]"#),
    ("ForwardInNoteHistory", r#"["Alt+Right"]"#),
    ("JumpToNote", r#"["Ctrl+J"]"#),
    ("ScrollToActiveNote", r#"["Ctrl+."]"#),
    ("QuickSearch", r#"["Ctrl+S"]"#),
    ("SearchInSubtree", r#"["Ctrl+Shift+S"]"#),
    ("ExpandSubtree", r#"[]"#),
    ("CollapseTree", r#"["Alt+C"]"#),
    ("CollapseSubtree", r#"["Alt+-"]"#),
    ("SortChildNotes", r#"["Alt+S"]"#),
    ("CreateNoteAfter", r#"["Ctrl+O"]"#),
    ("CreateNoteInto", r#"["Ctrl+P"]"#),
    ("CreateNoteIntoInbox", r#"["global:Ctrl+Alt+P"]"#),
    ("DeleteNotes", r#"["Delete"]"#),
    ("MoveNoteUp", r#"["Ctrl+Up"]"#),
    ("MoveNoteDown", r#"["Ctrl+Down"]"#),
    ("MoveNoteUpInHierarchy", r#"["Ctrl+Left"]"#),
    ("MoveNoteDownInHierarchy", r#"["Ctrl+Right"]"#),
    ("EditNoteTitle", r#"["Enter"]"#),
    ("EditBranchPrefix", r#"["F2"]"#),
    ("CloneNotesTo", r#"["Ctrl+Shift+C"]"#),
    ("MoveNotesTo", r#"["Ctrl+Shift+X"]"#),
    ("CopyNotesToClipboard", r#"["Ctrl+C"]"#),
    ("PasteNotesFromClipboard", r#"["Ctrl+V"]"#),
    ("CutNotesToClipboard", r#"["Ctrl+X"]"#),
    ("SelectAllNotesInParent", r#"["Ctrl+A"]"#),
    ("AddNoteAboveToSelection", r#"["Shift+Up"]"#),
    ("AddNoteBelowToSelection", r#"["Shift+Down"]"#),
    ("DuplicateSubtree", r#"[]"#),
    ("OpenNewTab", r#"[]"#),
    ("CloseActiveTab", r#"[]"#),
    ("ReopenLastTab", r#"[]"#),
    ("ActivateNextTab", r#"[]"#),
    ("ActivatePreviousTab", r#"[]"#),
    ("OpenNewWindow", r#"[]"#),
    ("ToggleTray", r#"[]"#),
    ("FirstTab", r#"["Ctrl+1"]"#),
    ("SecondTab", r#"["Ctrl+2"]"#),
    ("ThirdTab", r#"["Ctrl+3"]"#),
    ("FourthTab", r#"["Ctrl+4"]"#),
    ("FifthTab", r#"["Ctrl+5"]"#),
    ("SixthTab", r#"["Ctrl+6"]"#),
    ("SeventhTab", r#"["Ctrl+7"]"#),
    ("EigthTab", r#"["Ctrl+8"]"#),
    ("NinthTab", r#"["Ctrl+9"]"#),
    ("LastTab", r#"[]"#),
    ("ShowNoteSource", r#"[]"#),
    ("ShowOptions", r#"[]"#),
    ("ShowRevisions", r#"[]"#),
    ("ShowRecentChanges", r#"[]"#),
    ("ShowSQLConsole", r#"["Alt+O"]"#),
    ("ShowBackendLog", r#"[]"#),
    ("ShowHelp", r#"["F1"]"#),
    ("AddLinkToText", r#"["Ctrl+L"]"#),
    ("FollowLinkUnderCursor", r#"["Ctrl+Enter"]"#),
    ("InsertDateTimeToText", r#"["Alt+T"]"#),
    ("PasteMarkdownIntoText", r#"[]"#),
    ("CutIntoNote", r#"[]"#),
    ("AddIncludeNoteToText", r#"[]"#),
    ("EditReadOnlyNote", r#"[]"#),
    ("AddNewLabel", r#"["Alt+L"]"#),
    ("AddNewRelation", r#"["Alt+R"]"#),
    ("ToggleRibbonTabBasicProperties", r#"[]"#),
    ("ToggleRibbonTabBookProperties", r#"[]"#),
    ("ToggleRibbonTabFileProperties", r#"[]"#),
    ("ToggleRibbonTabImageProperties", r#"[]"#),
    ("ToggleRibbonTabOwnedAttributes", r#"["Alt+A"]"#),
    ("ToggleRibbonTabInheritedAttributes", r#"[]"#),
    ("ToggleRibbonTabPromotedAttributes", r#"[]"#),
    ("ToggleRibbonTabNoteMap", r#"[]"#),
    ("ToggleRibbonTabNoteInfo", r#"[]"#),
    ("ToggleRibbonTabNotePaths", r#"[]"#),
    ("ToggleRibbonTabSimilarNotes", r#"[]"#),
    ("ToggleRightPane", r#"[]"#),
    ("PrintActiveNote", r#"[]"#),
    ("OpenNoteExternally", r#"[]"#),
    ("RenderActiveNote", r#"[]"#),
    ("RunActiveNote", r#"["Ctrl+Enter"]"#),
    ("ToggleNoteHoisting", r#"["Alt+H"]"#),
    ("Unhoist", r#"["Alt+U"]"#),
    ("ReloadFrontendApp", r#"["F5","Ctrl+R"]"#),
    ("OpenDevTools", r#"[]"#),
    ("FindInText", r#"[]"#),
    ("ToggleLeftPane", r#"[]"#),
    ("ToggleFullscreen", r#"["F11"]"#),
    ("ZoomOut", r#"[]"#),
    ("ZoomIn", r#"[]"#),
    ("ZoomReset", r#"[]"#),
    ("CopyWithoutFormatting", r#"["Ctrl+Alt+C"]"#),
    ("ForceSaveRevision", r#"[]"#),
];

/// `(name, value)` of every default keyboard shortcut option.
pub fn keyboard_shortcut_options() -> impl Iterator<Item = (String, &'static str)> {
    KEYBOARD_SHORTCUTS.iter().map(|(n, v)| (format!("keyboardShortcuts{n}"), *v))
}

pub fn get(conn: &Connection, name: &str) -> SqlResult<Option<String>> {
    Ok(entities::load::<OptionRow>(conn, name)?.map(|o| o.value))
}

/// A numeric option read with JS `parseInt` semantics ('228.0' → 228).
pub fn get_int(conn: &Connection, name: &str) -> SqlResult<Option<i64>> {
    Ok(get(conn, name)?.as_deref().and_then(parse_int_lenient))
}

/// `optionService.setOption`: updates an existing option (keeping its isSynced) or
/// creates it as not synced.
pub fn set(tx: &mut WriteTx<'_>, name: &str, value: &str) -> SqlResult<i64> {
    let existing: Option<bool> = tx
        .conn()
        .query_row("SELECT isSynced FROM options WHERE name = ?1", [name], |r| Ok(r.get::<_, i64>(0)? != 0))
        .optional()?;
    create(tx, name, value, existing.unwrap_or(false))
}

/// `optionService.createOption`: writes the option with the given isSynced flag.
pub fn create(tx: &mut WriteTx<'_>, name: &str, value: &str, is_synced: bool) -> SqlResult<i64> {
    let row = OptionRow {
        name: name.to_owned(),
        value: value.to_owned(),
        is_synced,
        utc_date_modified: tx.utc_now(),
    };
    entities::save(tx, &row)
}

/// Like [`create`] but with an explicit hash: Trilium hashed numeric options from the
/// JS number (`dbVersion` 228 is stored as '228.0' but hashed as '228').
pub(crate) fn create_numeric(tx: &mut WriteTx<'_>, name: &str, value: i64, is_synced: bool) -> SqlResult<i64> {
    let row = OptionRow {
        name: name.to_owned(),
        value: format!("{value}.0"),
        is_synced,
        utc_date_modified: tx.utc_now(),
    };
    entities::upsert_row(tx.conn(), &row)?;
    let hashed = OptionRow { value: value.to_string(), ..row.clone() };
    super::entity_changes::put(
        tx,
        super::entity_changes::NewChange {
            entity_name: OptionRow::ENTITY_NAME,
            entity_id: &row.name,
            hash: hashed.hash(),
            is_erased: false,
            is_synced,
            utc_date_changed: row.utc_date_modified.clone(),
        },
    )
}
