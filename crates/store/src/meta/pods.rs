//! Pods: a name, labels and the engine's JSON config. Which containers belong to a pod is
//! the containers' own config (the engine's), so a pod row never goes stale under them.

use rusqlite::{params, OptionalExtension};

use super::Tx;
use crate::StoreError;

/// One pod. `config` is the engine's JSON; the store does not look inside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodRecord {
    pub id: String,
    pub name: String,
    /// Unix nanoseconds.
    pub created_at: i64,
    pub config: String,
}

const POD_COLS: &str = "id, name, created_at, config";

fn pod_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PodRecord> {
    Ok(PodRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        config: r.get(3)?,
    })
}

impl Tx<'_> {
    pub fn insert_pod(&self, p: &PodRecord) -> Result<(), StoreError> {
        self.tx.execute(
            &format!("INSERT INTO pods ({POD_COLS}) VALUES (?1, ?2, ?3, ?4)"),
            params![p.id, p.name, p.created_at, p.config],
        )?;
        Ok(())
    }

    /// Writes the config of pod `p.id` back; false when the pod is gone.
    pub fn update_pod(&self, p: &PodRecord) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "UPDATE pods SET name = ?2, config = ?3 WHERE id = ?1",
            params![p.id, p.name, p.config],
        )? > 0)
    }

    pub fn pod(&self, id: &str) -> Result<Option<PodRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {POD_COLS} FROM pods WHERE id = ?1"),
                [id],
                pod_row,
            )
            .optional()?)
    }

    pub fn pod_by_name(&self, name: &str) -> Result<Option<PodRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {POD_COLS} FROM pods WHERE name = ?1"),
                [name],
                pod_row,
            )
            .optional()?)
    }

    /// IDs of pods starting with `prefix`.
    pub fn pods_by_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT id FROM pods WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
        let hi = format!("{prefix}\u{10ffff}");
        let rows = stmt.query_map([prefix, hi.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All pods, newest first.
    pub fn pods(&self) -> Result<Vec<PodRecord>, StoreError> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {POD_COLS} FROM pods ORDER BY created_at DESC, id"
        ))?;
        let rows = stmt.query_map([], pod_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_pod(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.tx.execute("DELETE FROM pods WHERE id = ?1", [id])? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Meta;

    #[test]
    fn pods_are_found_by_id_name_and_prefix_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        let a = PodRecord {
            id: format!("ab{}", "0".repeat(62)),
            name: "web".into(),
            created_at: 1,
            config: "{}".into(),
        };
        let b = PodRecord {
            id: format!("ac{}", "0".repeat(62)),
            name: "db".into(),
            created_at: 2,
            config: "{}".into(),
        };
        meta.write(|tx| {
            tx.insert_pod(&a)?;
            tx.insert_pod(&b)
        })
        .unwrap();
        // Names are unique.
        let dup = PodRecord {
            id: "f".repeat(64),
            ..a.clone()
        };
        assert!(meta.write(|tx| tx.insert_pod(&dup)).is_err());
        meta.read(|tx| {
            assert_eq!(tx.pod(&a.id)?, Some(a.clone()));
            assert_eq!(tx.pod_by_name("db")?, Some(b.clone()));
            assert_eq!(tx.pods_by_prefix("a")?, vec![a.id.clone(), b.id.clone()]);
            assert_eq!(tx.pods_by_prefix("ab")?, vec![a.id.clone()]);
            assert_eq!(tx.pods()?, vec![b.clone(), a.clone()]);
            Ok::<_, StoreError>(())
        })
        .unwrap();
        let renamed = PodRecord {
            config: r#"{"x":1}"#.into(),
            ..a.clone()
        };
        assert!(meta.write(|tx| tx.update_pod(&renamed)).unwrap());
        assert_eq!(meta.read(|tx| tx.pod(&a.id)).unwrap(), Some(renamed));
        assert!(meta.write(|tx| tx.delete_pod(&a.id)).unwrap());
        assert!(!meta.write(|tx| tx.delete_pod(&a.id)).unwrap());
        assert_eq!(meta.read(|tx| tx.pods()).unwrap(), vec![b]);
    }
}
