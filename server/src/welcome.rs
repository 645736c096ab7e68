//! The notes a brand-new document starts with, so the first page is not empty.
use crate::db::tree::{self, NewNote};
use crate::db::{ChangeSource, Document, SqlResult, WriteTx};

/// (title, HTML content, children)
pub(crate) struct WelcomeNote {
    pub title: &'static str,
    pub html: &'static str,
    pub children: &'static [WelcomeNote],
}

pub(crate) const WELCOME: &[WelcomeNote] = &[
    WelcomeNote {
        title: "Welcome to Canopy",
        html: "<p>Canopy keeps your notes in a tree, in one SQLite file that Trilium Notes can open too. \
               Expand it in the tree (the arrow) to find your way around.</p>",
        children: &[
            WelcomeNote {
                title: "Getting started",
                html: "<p>You are running Canopy. <code>make run</code> starts it again; the notes live in \
                       <code>document.db</code> in the data directory (<code>~/trilium-data</code> unless \
                       <code>TRILIUM_DATA_DIR</code> says otherwise).</p>\
                       <ul><li>Click the arrow beside a note to show its children.</li>\
                       <li>Click a title to read the note.</li></ul>",
                children: &[],
            },
            WelcomeNote {
                title: "Syncing with Trilium",
                html: "<p>Canopy speaks Trilium 0.63's sync protocol. To make this instance a client of a \
                       sync server, set <code>syncServerHost</code> in the <code>[Sync]</code> section of \
                       <code>config.ini</code> and restart.</p>",
                children: &[],
            },
            WelcomeNote {
                title: "Where things are stored",
                html: "<p>The data directory holds <code>document.db</code> (the notes), \
                       <code>config.ini</code> (settings) and <code>backup/</code> (daily, weekly and monthly \
                       copies of the document).</p>",
                children: &[],
            },
        ],
    },
    WelcomeNote {
        title: "Inbox",
        html: "<p>A place for quick notes.</p>",
        children: &[],
    },
];

/// Adds [`WELCOME`] under `root` in one transaction. Called only for a document created by this start.
pub(crate) fn add(document: &Document, instance_id: &str) -> SqlResult<()> {
    fn add_all(tx: &mut WriteTx<'_>, parent_note_id: &str, notes: &[WelcomeNote]) -> SqlResult<()> {
        for note in notes {
            let (created, _branch) = tree::create_note(tx, NewNote::text(parent_note_id, note.title, note.html))?;
            add_all(tx, &created.note_id, note.children)?;
        }
        Ok(())
    }
    document.write(&ChangeSource::new(instance_id), |tx| add_all(tx, "root", WELCOME))
}
