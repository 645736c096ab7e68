//! Opening and creating document files, with checks that never modify a file we refuse.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema::{self, Kind, TRILIUM_DB_VERSION};
use super::{configure, init, read_only_flags, DbError, Document, InstanceId, SqlResult};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub fn open_or_create(path: &Path, instance_id: &InstanceId) -> SqlResult<Document> {
    match std::fs::metadata(path) {
        Ok(_) => open_existing(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_new(path, instance_id)?;
            open_existing(path)
        }
        Err(source) => Err(DbError::Io { path: path.to_owned(), source }),
    }
}

/// Validates, then opens read-write. Checks happen before anything is written (WAL
/// switch, migrations), so a refused file keeps its bytes.
pub fn open_existing(path: &Path) -> SqlResult<Document> {
    let io = |source| DbError::Io { path: path.to_owned(), source };
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let n = read_full(&mut file, &mut header).map_err(io)?;
    if n == 0 {
        // SQLite would treat an empty file as an empty database; it has no document.
        return Err(DbError::NotTrilium { path: path.to_owned() });
    }
    if n < 16 || &header != SQLITE_MAGIC {
        return Err(DbError::NotSqlite { path: path.to_owned() });
    }
    drop(file);

    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| unreadable(path, e))?;
    configure(&conn).map_err(|e| unreadable(path, e))?;
    let kind = schema::inspect(&conn).map_err(|e| unreadable(path, e))?;
    let db_version = match kind {
        Kind::NotADocument => return Err(DbError::NotTrilium { path: path.to_owned() }),
        Kind::Document { db_version } => db_version,
    };
    if db_version > TRILIUM_DB_VERSION {
        return Err(DbError::TooNew { path: path.to_owned(), found: db_version, supported: TRILIUM_DB_VERSION });
    }
    if db_version < TRILIUM_DB_VERSION {
        return Err(DbError::TooOld { path: path.to_owned(), found: db_version, supported: TRILIUM_DB_VERSION });
    }
    // Trilium documents are already in WAL mode (header bytes 18/19 = 2), so this is a
    // no-op for them; it matters for documents copied out of backups.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    }
    schema::migrate_existing(&mut conn)?;
    if let Err(e) = schema::ensure_canopy_indexes(&conn) {
        // They only make answers faster (a read-only file, say, has to do without them).
        tracing::warn!("{}: Canopy's extra indexes could not be made: {e}", path.display());
    }
    super::configure_writer(&conn)?;
    super::sector_cache::install(&conn)?;
    Ok(Document::from_parts(path.to_owned(), conn, db_version))
}

/// Builds the new document under a temporary name and renames it into place, so a crash
/// never leaves a half-initialised file at `path`.
fn create_new(path: &Path, instance_id: &InstanceId) -> SqlResult<()> {
    create_with(path, |conn| init::initialize_new_document(conn, instance_id))
}

/// Creates the shell of a document that the first sync with `sync_server_host` fills; refuses if a
/// document exists already.
pub fn create_for_sync(
    path: &Path,
    instance_id: &InstanceId,
    seed: &[init::SeedOption],
    sync_server_host: &str,
    sync_proxy: &str,
) -> SqlResult<Document> {
    if path.exists() {
        return Err(DbError::Invalid(format!("{} exists already; setting up sync needs a new data directory", path.display())));
    }
    create_with(path, |conn| init::initialize_for_sync(conn, instance_id, seed, sync_server_host, sync_proxy))?;
    open_existing(path)
}

fn create_with(path: &Path, initialize: impl FnOnce(&mut Connection) -> SqlResult<()>) -> SqlResult<()> {
    let tmp = temp_sibling(path);
    let _ = std::fs::remove_file(&tmp);
    {
        let mut conn = Connection::open(&tmp)?;
        configure(&conn)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        schema::migrations().to_latest(&mut conn)?;
        initialize(&mut conn)?;
        // Fold the WAL into the main file before the rename; the -wal/-shm names
        // follow the file name and would not move along with it.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = tmp.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&tmp, path).map_err(|source| DbError::Io { path: path.to_owned(), source })
}

fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".creating");
    path.with_file_name(name)
}

/// Read-only pool connection for an already-open document.
pub(crate) fn reader_connection(path: &Path) -> SqlResult<Connection> {
    let conn = Connection::open_with_flags(path, read_only_flags())?;
    configure(&conn)?;
    Ok(conn)
}

fn unreadable(path: &Path, e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => DbError::NotSqlite { path: path.to_owned() },
        _ => DbError::Unreadable { path: path.to_owned(), source: e },
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
