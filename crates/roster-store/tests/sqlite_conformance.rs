//! The embedded directory against the conformance suite, plus durability.

use std::ops::Deref;

use roster_store::{Directory, SqliteDirectory};

/// A directory in a temp dir that lives as long as it does.
struct Fresh {
    directory: SqliteDirectory,
    _dir: tempfile::TempDir,
}

impl Deref for Fresh {
    type Target = SqliteDirectory;
    fn deref(&self) -> &SqliteDirectory {
        &self.directory
    }
}

async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let directory = SqliteDirectory::open(&dir.path().join("directory.db")).unwrap();
    Fresh { directory, _dir: dir }
}

roster_store::directory_conformance_tests!(fresh());

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.db");
    let d = SqliteDirectory::open(&path).unwrap();
    let t = d.create_tenant("acme", roster_core::Timestamp(1)).await.unwrap();
    drop(d);
    let d = SqliteDirectory::open(&path).unwrap();
    assert_eq!(d.tenant_by_name("acme").await.unwrap(), Some(t));
}
