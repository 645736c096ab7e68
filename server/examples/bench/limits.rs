//! The physical-limit baseline: what a first full sync of this document cannot beat on this machine.
//! Every synced row (the entity rows and their `entity_changes`) inserted with prepared statements into
//! a fresh SQLite file with every index, in one transaction; the same rows encoded as JSON objects;
//! and those bytes sent through a loopback TCP connection.
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use base64::Engine as _;
use rusqlite::types::ValueRef;

use crate::{thousands, Report};

pub fn run(document: &Path, work: &Path, report: &mut Report) -> anyhow::Result<()> {
    let source = rusqlite::Connection::open_with_flags(document, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut tables: Vec<String> = source
        .prepare("SELECT DISTINCT entityName FROM entity_changes WHERE entityName IN (SELECT name FROM sqlite_master WHERE type = 'table')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tables.push("entity_changes".into());
    let schema: Vec<String> = {
        let mut statement = source.prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index') AND tbl_name = ?1 ORDER BY type DESC",
        )?;
        let mut schema = Vec::new();
        for table in &tables {
            for sql in statement.query_map([table], |r| r.get::<_, String>(0))? {
                schema.push(sql?);
            }
        }
        schema
    };

    let path = work.join("physical-limit.db");
    let mut fresh = rusqlite::Connection::open(&path)?;
    // As Canopy's writer writes (write-ahead log, `synchronous=FULL`), with a page cache that holds
    // the whole file: the limit is SQLite's B-tree work, not a cache smaller than the document.
    fresh.pragma_update(None, "journal_mode", "WAL")?;
    fresh.pragma_update(None, "synchronous", "FULL")?;
    fresh.pragma_update(None, "cache_size", -1_048_576)?;
    for sql in &schema {
        fresh.execute(sql, [])?;
    }
    let started = Instant::now();
    let tx = fresh.transaction()?;
    let mut rows = 0usize;
    for table in &tables {
        let mut select = source.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = select.column_count();
        let placeholders = vec!["?"; columns].join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO \"{table}\" VALUES ({placeholders})"))?;
        let mut found = select.query([])?;
        while let Some(row) = found.next()? {
            for i in 0..columns {
                insert.raw_bind_parameter(i + 1, rusqlite::types::ToSqlOutput::Borrowed(row.get_ref(i)?))?;
            }
            insert.raw_execute()?;
            rows += 1;
        }
    }
    tx.commit()?;
    report.add(
        "limit_insert",
        &format!("physical limit: its {} synced rows into a fresh SQLite file, one transaction, every index, 1 GiB cache", thousands(rows)),
        started.elapsed().as_secs_f64(),
        "s",
        "",
    );
    drop(fresh);
    let _ = std::fs::remove_file(&path);

    let started = Instant::now();
    let mut encoded = Vec::new();
    for table in &tables {
        let mut select = source.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let names: Vec<String> = select.column_names().into_iter().map(str::to_owned).collect();
        let mut found = select.query([])?;
        while let Some(row) = found.next()? {
            let mut object = serde_json::Map::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(x) => x.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    ValueRef::Blob(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
                };
                object.insert(name.clone(), value);
            }
            serde_json::to_writer(&mut encoded, &object)?;
            encoded.push(b'\n');
        }
    }
    report.add(
        "limit_encode",
        &format!("physical limit: those rows encoded as JSON ({:.0} MiB)", encoded.len() as f64 / (1024.0 * 1024.0)),
        started.elapsed().as_secs_f64(),
        "s",
        "",
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let started = Instant::now();
    let receiver = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; 1 << 16];
        let mut received = 0;
        loop {
            match stream.read(&mut buffer)? {
                0 => return Ok(received),
                n => received += n,
            }
        }
    });
    let mut sender = std::net::TcpStream::connect(address)?;
    for chunk in encoded.chunks(1 << 16) {
        sender.write_all(chunk)?;
    }
    drop(sender);
    let received = receiver.join().map_err(|_| anyhow::anyhow!("the loopback receiver panicked"))??;
    anyhow::ensure!(received == encoded.len(), "loopback received {received} of {} bytes", encoded.len());
    report.add("limit_loopback", "physical limit: those bytes sent over loopback TCP", started.elapsed().as_secs_f64(), "s", "");
    Ok(())
}
