//! The data directory: `document.db`, `config.ini`, `backup/` and this instance's id.
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DOCUMENT_FILE: &str = "document.db";
/// The instance id stays with the data directory, not the document: a client made by copying the hub's
/// `document.db` must still have an id of its own, or echo suppression would drop its changes.
const INSTANCE_ID_FILE: &str = "instance-id";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {0}: no home directory to put ~/trilium-data in; set TRILIUM_DATA_DIR")]
    NoHome(PathBuf),
    #[error("data directory {path}: {problem}")]
    Unusable { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    InstanceId { path: PathBuf, problem: String },
}

#[derive(Clone, Debug)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// `explicit` (from `--data-dir` or `TRILIUM_DATA_DIR`), else `~/trilium-data`.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf, DataDirError> {
        match explicit {
            Some(path) => Ok(path),
            None => dirs::home_dir()
                .map(|home| home.join("trilium-data"))
                .ok_or_else(|| DataDirError::NoHome(PathBuf::from("~/trilium-data"))),
        }
    }

    /// Creates the directory (mode 0700, as Trilium) if missing and checks that it is usable.
    pub fn prepare(path: &Path) -> Result<DataDir, DataDirError> {
        let unusable = |problem: String| DataDirError::Unusable { path: path.to_path_buf(), problem };
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => return Err(unusable("exists but is not a directory".into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(path).map_err(|e| unusable(format!("cannot create it: {e}")))?;
            }
            Err(e) => return Err(unusable(e.to_string())),
        }
        // A probe file proves we can write here before anything else is touched.
        let probe = path.join(".canopy-write-test");
        std::fs::write(&probe, b"").map_err(|e| unusable(format!("not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        let path = path.canonicalize().map_err(|e| unusable(e.to_string()))?;
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn document_path(&self) -> PathBuf {
        self.path.join(DOCUMENT_FILE)
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.path.join("backup")
    }

    /// This instance's id, made on first start and kept in the data directory.
    pub fn instance_id(&self, new_id: impl FnOnce() -> String) -> Result<String, DataDirError> {
        let path = self.path.join(INSTANCE_ID_FILE);
        let bad = |problem: String| DataDirError::InstanceId { path: path.clone(), problem };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                if id.len() == 12 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    Ok(id.to_string())
                } else {
                    Err(bad(format!("'{id}' is not a 12-character instance id; delete the file to make a new one")))
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = new_id();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| bad(format!("cannot create: {e}")))?;
                writeln!(f, "{id}").and_then(|_| f.sync_all()).map_err(|e| bad(format!("cannot write: {e}")))?;
                Ok(id)
            }
            Err(e) => Err(bad(format!("cannot read: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_directory_and_keeps_instance_id() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/trilium-data");
        let dir = DataDir::prepare(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let first = dir.instance_id(|| "abcdefABCDEF".into()).unwrap();
        let again = dir.instance_id(|| unreachable!("id must persist")).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn refuses_a_file_in_place_of_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("not-a-dir");
        std::fs::write(&path, b"keep me").unwrap();
        let err = DataDir::prepare(&path).unwrap_err().to_string();
        assert!(err.ends_with("not-a-dir: exists but is not a directory"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn refuses_a_damaged_instance_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::prepare(tmp.path()).unwrap();
        std::fs::write(tmp.path().join(INSTANCE_ID_FILE), "x\n").unwrap();
        assert!(dir.instance_id(|| "abcdefABCDEF".into()).is_err());
    }
}
