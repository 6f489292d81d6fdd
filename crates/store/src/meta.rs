//! Metadata in SQLite (WAL): images, their layers, tags and repo digests.
//!
//! Schema (version 2):
//!
//! ```text
//! layers(chain_id PK, diff_id, parent → layers, blob, blob_size, media_type, size, link UNIQUE)
//! images(id PK = config digest, manifest, manifest_media_type, manifest_size, created, size, added_at,
//!        parent → images ON DELETE SET NULL)   -- parent: the image a build step started from
//! image_layers(image_id → images, position, chain_id → layers)   -- bottom layer at position 0
//! tags(name PK = full normalised reference, image_id → images, tagged_at)
//! repo_digests(name PK = repo@digest, image_id → images)
//! build_cache(key PK = a build step's cache key, image_id → images, created_at)
//! containers(id PK, name UNIQUE, image_id → images, image_name, config JSON, created_at,
//!            state, pid, monitor_pid, exit_code, started_at, finished_at, restart_count,
//!            stop_requested, oom_killed, error, net, health)   -- times in unix nanoseconds; net is
//!                  -- the engine's JSON of the live network attachments, health its healthcheck state
//! pods(id PK, name UNIQUE, created_at, config JSON)   -- members name their pod in their config
//! ```
//!
//! A full disk: SQLite cannot write a transaction without room for its WAL frames, and on a
//! full disk the writes that would free space (recording an exit, removing a container) would
//! fail with the rest. So the database keeps [`RESERVE`] bytes allocated beside it
//! (`meta.reserve`); a write that finds the file system (nearly) full gives them back first, and
//! the next open on a disk with room again takes them anew.
//!
//! A layer's reference count is not stored: it is the number of `image_layers` rows naming it
//! (and, from the containers issue on, of containers whose rootfs stacks on it), so it can never
//! drift from the truth. Blobs live in the content store; the database only names them.

use std::path::Path;

use berth_image::digest::Digest;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::StoreError;

mod pods;
pub use pods::PodRecord;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS layers (
    chain_id   TEXT PRIMARY KEY,
    diff_id    TEXT NOT NULL,
    parent     TEXT REFERENCES layers(chain_id),
    blob       TEXT NOT NULL,
    blob_size  INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    link       TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS images (
    id                  TEXT PRIMARY KEY,
    manifest            TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    manifest_size       INTEGER NOT NULL,
    created             TEXT,
    size                INTEGER NOT NULL,
    added_at            INTEGER NOT NULL,
    parent              TEXT REFERENCES images(id) ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id),
    tagged_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    image_id      TEXT NOT NULL REFERENCES images(id),
    image_name    TEXT NOT NULL,
    config        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    state         TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    monitor_pid   INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL DEFAULT 0,
    finished_at   INTEGER NOT NULL DEFAULT 0,
    restart_count INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    oom_killed    INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    net           TEXT NOT NULL DEFAULT '',
    health        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
CREATE TABLE IF NOT EXISTS build_cache (
    key        TEXT PRIMARY KEY,
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
CREATE TABLE IF NOT EXISTS pods (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    config     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
"#;

/// The schema this code writes: [`SCHEMA`] with [`ADDED_COLUMNS`] and [`ADDED_INDEXES`].
/// Kept in the database's `user_version`; bump it whenever any of the three changes.
const SCHEMA_VERSION: i64 = 2;

/// Bytes the database keeps allocated for its writes on a full disk: WAL frames of a few
/// transactions (a page each per row touched) with room to spare.
pub const RESERVE: u64 = 2 << 20;
/// Below this much free space a write gives the reserve back first.
const LOW_SPACE: u64 = 1 << 20;
/// A reserve given back is taken again only when there is this much room.
const ROOMY: u64 = 64 << 20;

/// Bytes free on the file system holding `path`, if it can be asked: for root (who writes into
/// the blocks ext4 keeps for it, and so do root's containers) every free block.
fn free_space(path: &Path) -> Option<u64> {
    let dir = path.parent()?;
    let st = rustix::fs::statvfs(dir).ok()?;
    let blocks = if rustix::process::geteuid().is_root() {
        st.f_bfree
    } else {
        st.f_bavail
    };
    Some(blocks.saturating_mul(st.f_frsize))
}

/// An exclusive lock, held while it lives, on `<database>.setup-lock` beside the database.
fn setup_lock(db: &Path) -> Result<std::fs::File, StoreError> {
    crate::lock_file(
        &db.with_extension("setup-lock"),
        rustix::fs::FlockOperation::LockExclusive,
    )
}

/// Allocates the reserve when it is missing and the disk has room again. Best effort: a file
/// system without `fallocate` simply has no reserve.
fn take_reserve(reserve: &Path) {
    if reserve.exists() || free_space(reserve).is_none_or(|f| f < ROOMY) {
        return;
    }
    let Ok(f) = std::fs::File::create(reserve) else {
        return;
    };
    // Real blocks, not a sparse file: what a full disk cannot take from us.
    if rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, RESERVE).is_err() {
        let _ = std::fs::remove_file(reserve);
    }
}

/// Frees the reserve when the disk is (nearly) full, so that this write has room.
fn give_back_reserve_if_full(reserve: &Path) {
    if free_space(reserve).is_some_and(|f| f < LOW_SPACE) && std::fs::remove_file(reserve).is_ok() {
        tracing::warn!(
            "the disk holding {} is full: berth used its reserve to record this change",
            reserve.parent().unwrap_or(reserve).display()
        );
    }
}

/// Columns added after a table was first created: added in place to older databases.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("containers", "net", "TEXT NOT NULL DEFAULT ''"),
    ("containers", "health", "TEXT NOT NULL DEFAULT ''"),
    (
        "images",
        "parent",
        "TEXT REFERENCES images(id) ON DELETE SET NULL",
    ),
];

/// Indexes on added columns: created once the columns exist.
const ADDED_INDEXES: &str = "CREATE INDEX IF NOT EXISTS images_parent ON images(parent);";

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    conn.execute_batch(ADDED_INDEXES)
}

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The (possibly compressed) layer blob as it is distributed.
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: String,
    /// Bytes of file content in the unpacked layer.
    pub size: u64,
    /// Short name of the layer's `diff` directory under `layers/l/`.
    pub link: String,
}

/// One image: its config digest is its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    /// `created` from the image config, RFC 3339.
    pub created: Option<String>,
    /// Sum of the sizes of the image's layers.
    pub size: u64,
    /// Unix seconds when the image entered this store.
    pub added_at: i64,
    /// Chain IDs, bottom first.
    pub layers: Vec<Digest>,
}

/// A tag: a full normalised reference naming an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub name: String,
    pub image_id: Digest,
    pub tagged_at: i64,
}

/// One container. `config` is the engine's JSON; the store does not look inside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: String,
    /// The image as the user named it (`busybox`, `streamlit:beta-pre-prod`).
    pub image_name: String,
    pub config: String,
    /// Unix nanoseconds.
    pub created_at: i64,
    pub state: crate::ContainerState,
    pub pid: i64,
    pub monitor_pid: i64,
    pub exit_code: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub restart_count: i64,
    pub stop_requested: bool,
    pub oom_killed: bool,
    pub error: String,
    /// The network attachments of the running container (engine JSON; empty when none).
    pub net: String,
    /// The healthcheck's state (engine JSON: docker's `State.Health`); empty without a check.
    pub health: String,
}

const CONTAINER_COLS: &str = "id, name, image_id, image_name, config, created_at, state, pid, \
    monitor_pid, exit_code, started_at, finished_at, restart_count, stop_requested, oom_killed, error, net, health";

fn container_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerRecord> {
    Ok(ContainerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        image_name: r.get(3)?,
        config: r.get(4)?,
        created_at: r.get(5)?,
        state: r.get(6)?,
        pid: r.get(7)?,
        monitor_pid: r.get(8)?,
        exit_code: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        restart_count: r.get(12)?,
        stop_requested: r.get(13)?,
        oom_killed: r.get(14)?,
        error: r.get(15)?,
        net: r.get(16)?,
        health: r.get(17)?,
    })
}

/// The metadata database.
#[derive(Debug)]
pub struct Meta {
    path: std::path::PathBuf,
    /// `meta.reserve` beside the database (see the module docs).
    reserve: std::path::PathBuf,
    /// Idle connections. Each operation takes one (opening another when none is idle) and
    /// gives it back, so many threads can read and write at once: WAL lets readers run beside
    /// the one writer, and `busy_timeout` queues writers.
    idle: std::sync::Mutex<Vec<Connection>>,
}

/// Idle connections kept for reuse; more may be open during a burst.
const MAX_IDLE: usize = 4;

fn digest_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Digest> {
    let s: String = row.get(idx)?;
    s.parse().map_err(|e: berth_image::digest::DigestError| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_digest_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Digest>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        s.parse().map_err(|e: berth_image::digest::DigestError| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

fn layer_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LayerRecord> {
    Ok(LayerRecord {
        chain_id: digest_col(row, 0)?,
        diff_id: digest_col(row, 1)?,
        parent: opt_digest_col(row, 2)?,
        blob: digest_col(row, 3)?,
        blob_size: row.get::<_, i64>(4)? as u64,
        media_type: row.get(5)?,
        size: row.get::<_, i64>(6)? as u64,
        link: row.get(7)?,
    })
}

const LAYER_COLS: &str = "chain_id, diff_id, parent, blob, blob_size, media_type, size, link";
const IMAGE_COLS: &str =
    "id, manifest, manifest_media_type, manifest_size, created, size, added_at";

impl Meta {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Self::connect(path)?;
        // Every berth process opens the database: parsing the schema's DDL and probing for
        // added columns each time was ~3 % of a `run`'s CPU. The version says it is done.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::db(path, e))?;
        // (A newer berth's database is a superset of ours: left as it is.)
        if version < SCHEMA_VERSION {
            // Two processes turning a new database to WAL at once: the second holds a
            // shared lock when it asks for the exclusive one, and SQLite answers it
            // SQLITE_BUSY at once, whatever the busy timeout ("database is locked" from
            // one of several berths started together on a fresh root). First openers set
            // the database up one at a time.
            let _setting_up = setup_lock(path)?;
            Self::set_up(&mut conn).map_err(|e| StoreError::db(path, e))?;
        }
        let reserve = path.with_extension("reserve");
        take_reserve(&reserve);
        Ok(Self {
            path: path.to_path_buf(),
            reserve,
            idle: std::sync::Mutex::new(vec![conn]),
        })
    }

    /// Creates or upgrades the schema, once (concurrent openers queue on the write lock and
    /// find it done), and records [`SCHEMA_VERSION`].
    fn set_up(conn: &mut Connection) -> rusqlite::Result<()> {
        // The journal mode is a property of the database file: set once, here.
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            tx.execute_batch(SCHEMA)?;
            migrate(&tx)?;
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))?;
        }
        tx.commit()
    }

    /// One connection with berth's settings.
    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::db(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| StoreError::db(path, e))?;
        // A small page cache per connection: the metadata is small, and a server under load
        // opens a connection per concurrent operation (the default 2 MiB each added up).
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -256; PRAGMA wal_autocheckpoint = 100;",
        )
        .map_err(|e| StoreError::db(path, e))?;
        // Every berth command opens and closes the database; a checkpoint (and its fsyncs)
        // at each close would cost more than the command. SQLite checkpoints the WAL
        // automatically as it grows instead, here every 100 pages (a `run` writes ~22): the
        // first process to open the database after all others closed it reads every frame
        // of the WAL to rebuild its index, 3 ms per process at SQLite's default of 1000
        // pages (`berth ps`: 9.2 ms with a full WAL, 6.2 ms with an empty one).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(|e| StoreError::db(path, e))?;
        Ok(conn)
    }

    /// Gives back what idle connections hold: all but one are closed (a burst of concurrent
    /// operations leaves up to [`MAX_IDLE`], each with its page cache and prepared statements),
    /// and the one kept drops its cache. For a long-running process that has gone quiet (the
    /// API server calls it after a burst of requests).
    pub fn release_memory(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.truncate(1);
        if let Some(conn) = idle.first_mut() {
            conn.flush_prepared_statement_cache();
            // Best effort: a connection that cannot shrink just keeps its cache.
            let _ = conn.execute_batch("PRAGMA shrink_memory;");
        }
    }

    /// Closes every idle connection (the next operation opens one): for a process about to
    /// fork, whose child must not inherit SQLite's connections or its bookkeeping of them.
    pub fn close_idle(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Runs `f` on an idle connection (or a new one), then keeps it for the next caller.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => Self::connect(&self.path)?,
        };
        let out = f(&mut conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(out)
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it lands, or none.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        give_back_reserve_if_full(&self.reserve);
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let out = f(&Tx { tx: &tx })?;
            tx.commit().map_err(StoreError::from)?;
            Ok(out)
        })?
    }

    /// Read-only access (a consistent snapshot for the duration of `f`).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_as(f)
    }

    /// [`Meta::read`] for a closure whose errors are the caller's own type.
    pub fn read_as<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(StoreError::from)?;
            let out = f(&Tx { tx: &tx })?;
            tx.commit().map_err(StoreError::from)?;
            Ok(out)
        })?
    }
}

/// Queries and changes inside one transaction.
#[derive(Debug)]
pub struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl Tx<'_> {
    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {LAYER_COLS} FROM layers WHERE chain_id = ?1"),
                [chain_id.to_string()],
                layer_row,
            )
            .optional()?)
    }

    pub fn layers(&self) -> Result<Vec<LayerRecord>, StoreError> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {LAYER_COLS} FROM layers ORDER BY chain_id"
        ))?;
        let rows = stmt.query_map([], layer_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a layer; a layer already recorded is left as it is.
    pub fn insert_layer(&self, l: &LayerRecord) -> Result<(), StoreError> {
        self.tx.execute(
            &format!(
                "INSERT OR IGNORE INTO layers ({LAYER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"
            ),
            params![
                l.chain_id.to_string(),
                l.diff_id.to_string(),
                l.parent.as_ref().map(ToString::to_string),
                l.blob.to_string(),
                l.blob_size as i64,
                l.media_type,
                l.size as i64,
                l.link
            ],
        )?;
        Ok(())
    }

    /// How many images stack on a layer.
    pub fn layer_refs(&self, chain_id: &Digest) -> Result<u64, StoreError> {
        let n: i64 = self.tx.query_row(
            "SELECT (SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1)
                  + (SELECT COUNT(*) FROM layers WHERE parent = ?1)",
            [chain_id.to_string()],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Records an image and its layer list (the layers must already be recorded).
    /// Returns false when the image was already there.
    pub fn insert_image(&self, img: &ImageRecord) -> Result<bool, StoreError> {
        let n = self.tx.execute(
            &format!("INSERT OR IGNORE INTO images ({IMAGE_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"),
            params![
                img.id.to_string(),
                img.manifest.to_string(),
                img.manifest_media_type,
                img.manifest_size as i64,
                img.created,
                img.size as i64,
                img.added_at
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        for (pos, chain) in img.layers.iter().enumerate() {
            self.tx.execute(
                "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                params![img.id.to_string(), pos as i64, chain.to_string()],
            )?;
        }
        Ok(true)
    }

    fn image_layers(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([id.to_string()], |r| digest_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn image_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
        Ok(ImageRecord {
            id: digest_col(row, 0)?,
            manifest: digest_col(row, 1)?,
            manifest_media_type: row.get(2)?,
            manifest_size: row.get::<_, i64>(3)? as u64,
            created: row.get(4)?,
            size: row.get::<_, i64>(5)? as u64,
            added_at: row.get(6)?,
            layers: Vec::new(),
        })
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        let img = self
            .tx
            .query_row(
                &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
                [id.to_string()],
                Self::image_row,
            )
            .optional()?;
        match img {
            Some(mut img) => {
                img.layers = self.image_layers(&img.id)?;
                Ok(Some(img))
            }
            None => Ok(None),
        }
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {IMAGE_COLS} FROM images ORDER BY added_at DESC, created DESC, id"
        ))?;
        let mut out: Vec<ImageRecord> = stmt
            .query_map([], Self::image_row)?
            .collect::<Result<_, _>>()?;
        for img in &mut out {
            img.layers = self.image_layers(&img.id)?;
        }
        Ok(out)
    }

    /// Image IDs whose hex starts with `prefix` (hex only, no `sha256:`).
    pub fn images_by_prefix(&self, prefix: &str) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT id FROM images WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
        let lo = format!("sha256:{prefix}");
        let hi = format!("sha256:{prefix}\u{10ffff}");
        let rows = stmt.query_map([lo, hi], |r| digest_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Points `name` at `image_id`; returns the image it pointed at before, if another.
    pub fn set_tag(
        &self,
        name: &str,
        image_id: &Digest,
        now: i64,
    ) -> Result<Option<Digest>, StoreError> {
        let old = self.tag(name)?;
        self.tx.execute(
            "INSERT INTO tags (name, image_id, tagged_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
            params![name, image_id.to_string(), now],
        )?;
        Ok(old.filter(|o| o != image_id))
    }

    pub fn tag(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
                digest_col(r, 0)
            })
            .optional()?)
    }

    pub fn remove_tag(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .execute("DELETE FROM tags WHERE name = ?1", [name])?
            > 0)
    }

    pub fn tags(&self) -> Result<Vec<TagRecord>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT name, image_id, tagged_at FROM tags ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(TagRecord {
                name: r.get(0)?,
                image_id: digest_col(r, 1)?,
                tagged_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn tags_of(&self, image_id: &Digest) -> Result<Vec<TagRecord>, StoreError> {
        Ok(self
            .tags()?
            .into_iter()
            .filter(|t| &t.image_id == image_id)
            .collect())
    }

    pub fn add_repo_digest(&self, name: &str, image_id: &Digest) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?1, ?2)",
            params![name, image_id.to_string()],
        )?;
        Ok(())
    }

    pub fn repo_digests(&self, image_id: &Digest) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map([image_id.to_string()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes an image record (its tags must be gone) and every layer no longer used by any
    /// image, top down. Returns the removed layers so the caller can delete their files.
    pub fn delete_image(&self, id: &Digest) -> Result<Vec<LayerRecord>, StoreError> {
        let layers = self.image_layers(id)?;
        self.tx
            .execute("DELETE FROM tags WHERE image_id = ?1", [id.to_string()])?;
        self.tx
            .execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
        let mut removed = Vec::new();
        for chain in layers.iter().rev() {
            if self.layer_refs(chain)? > 0 {
                break;
            }
            if let Some(rec) = self.layer(chain)? {
                self.tx.execute(
                    "DELETE FROM layers WHERE chain_id = ?1",
                    [chain.to_string()],
                )?;
                removed.push(rec);
            }
        }
        Ok(removed)
    }

    /// Records the image a build step started from, unless `id` already has a parent (the
    /// first build that made an image names it) or `parent` is gone.
    pub fn set_image_parent(&self, id: &Digest, parent: &Digest) -> Result<(), StoreError> {
        if id == parent {
            return Ok(());
        }
        self.tx.execute(
            "UPDATE images SET parent = (SELECT id FROM images WHERE id = ?2)
             WHERE id = ?1 AND parent IS NULL",
            params![id.to_string(), parent.to_string()],
        )?;
        Ok(())
    }

    /// The image `id` was built on, when a build recorded it.
    pub fn image_parent(&self, id: &Digest) -> Result<Option<Digest>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "SELECT parent FROM images WHERE id = ?1",
                [id.to_string()],
                |r| opt_digest_col(r, 0),
            )
            .optional()?
            .flatten())
    }

    /// Images built on `id` (whose parent it is).
    pub fn image_children(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT id FROM images WHERE parent = ?1 ORDER BY id")?;
        let rows = stmt.query_map([id.to_string()], |r| digest_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_container(&self, c: &ContainerRecord) -> Result<(), StoreError> {
        self.tx.prepare_cached(
            &format!("INSERT INTO containers ({CONTAINER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"),
        )?.execute(
            params![
                c.id, c.name, c.image_id, c.image_name, c.config, c.created_at, c.state, c.pid,
                c.monitor_pid, c.exit_code, c.started_at, c.finished_at, c.restart_count,
                c.stop_requested, c.oom_killed, c.error, c.net, c.health
            ],
        )?;
        Ok(())
    }

    /// Writes every field of `c` back (by ID).
    pub fn update_container(&self, c: &ContainerRecord) -> Result<(), StoreError> {
        // Cached statements: a start and its teardown update the record a dozen times.
        // The indexed columns (name, image) are written only when they change: SQLite
        // rewrites an index's entry for every column the SET names, changed or not, and
        // that was two of the three pages each state change appended to the WAL (which
        // every process that opens the database first reads back).
        self.tx
            .prepare_cached(
                "UPDATE containers SET image_name=?2, config=?3, created_at=?4,
                state=?5, pid=?6, monitor_pid=?7, exit_code=?8, started_at=?9, finished_at=?10,
                restart_count=?11, stop_requested=?12, oom_killed=?13, error=?14, net=?15,
                health=?16 WHERE id=?1",
            )?
            .execute(params![
                c.id,
                c.image_name,
                c.config,
                c.created_at,
                c.state,
                c.pid,
                c.monitor_pid,
                c.exit_code,
                c.started_at,
                c.finished_at,
                c.restart_count,
                c.stop_requested,
                c.oom_killed,
                c.error,
                c.net,
                c.health
            ])?;
        self.tx
            .prepare_cached(
                "UPDATE containers SET name=?2, image_id=?3
                 WHERE id=?1 AND (name IS NOT ?2 OR image_id IS NOT ?3)",
            )?
            .execute(params![c.id, c.name, c.image_id])?;
        Ok(())
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {CONTAINER_COLS} FROM containers WHERE id = ?1"
            ))?
            .query_row([id], container_row)
            .optional()?)
    }

    /// Sets only the healthcheck state of container `id` (the monitor's probe results, which
    /// must not write back a stale copy of the rest of the record); false when it is gone.
    pub fn set_container_health(&self, id: &str, health: &str) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "UPDATE containers SET health = ?2 WHERE id = ?1",
            params![id, health],
        )? > 0)
    }

    pub fn container_by_name(&self, name: &str) -> Result<Option<ContainerRecord>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {CONTAINER_COLS} FROM containers WHERE name = ?1"
            ))?
            .query_row([name], container_row)
            .optional()?)
    }

    /// IDs starting with `prefix`.
    pub fn containers_by_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT id FROM containers WHERE id >= ?1 AND id < ?2 ORDER BY id")?;
        let hi = format!("{prefix}\u{10ffff}");
        let rows = stmt.query_map([prefix, hi.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All containers, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {CONTAINER_COLS} FROM containers ORDER BY created_at DESC, id"
        ))?;
        let rows = stmt.query_map([], container_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_container(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .execute("DELETE FROM containers WHERE id = ?1", [id])?
            > 0)
    }

    /// Containers created from an image.
    pub fn containers_of_image(
        &self,
        image_id: &Digest,
    ) -> Result<Vec<ContainerRecord>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {CONTAINER_COLS} FROM containers WHERE image_id = ?1 ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([image_id.to_string()], container_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The image a build step produced before, by its cache key.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<Digest>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "SELECT image_id FROM build_cache WHERE key = ?1",
                [key.to_string()],
                |r| digest_col(r, 0),
            )
            .optional()?)
    }

    pub fn cache_put(&self, key: &Digest, image_id: &Digest, now: i64) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO build_cache (key, image_id, created_at) VALUES (?1, ?2, ?3)",
            params![key.to_string(), image_id.to_string(), now],
        )?;
        Ok(())
    }

    /// Image IDs the build cache holds.
    /// The images builds made: those the build cache names, and those with a build parent
    /// (an image a later build's cache entry replaced, e.g. after `--no-cache`, is still the
    /// build's, for `builder prune` to take and `image prune` to leave).
    pub fn cached_images(&self) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self.tx.prepare(
            "SELECT image_id FROM build_cache UNION SELECT id FROM images WHERE parent IS NOT NULL ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| digest_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a build cache entry names the image (a build made it).
    pub fn cache_holds(&self, image_id: &Digest) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM build_cache WHERE image_id = ?1")?
            .exists([image_id.to_string()])?)
    }

    /// Forgets every cache entry; returns the images they named.
    pub fn cache_clear(&self) -> Result<Vec<Digest>, StoreError> {
        let images = self.cached_images()?;
        self.tx.execute("DELETE FROM build_cache", [])?;
        Ok(images)
    }

    /// Every digest a record names as a blob (manifests, configs, layer blobs).
    pub fn referenced_blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let mut stmt = self.tx.prepare(
            "SELECT id FROM images UNION SELECT manifest FROM images UNION SELECT blob FROM layers",
        )?;
        let rows = stmt.query_map([], |r| digest_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// References between records that point at nothing: (what, which).
    pub fn dangling_references(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let checks = [
            ("SELECT name || ' -> ' || image_id FROM tags WHERE image_id NOT IN (SELECT id FROM images)", "tag names a missing image"),
            ("SELECT image_id || ' -> ' || chain_id FROM image_layers WHERE chain_id NOT IN (SELECT chain_id FROM layers)", "image names a missing layer"),
            ("SELECT chain_id || ' -> ' || parent FROM layers WHERE parent IS NOT NULL AND parent NOT IN (SELECT chain_id FROM layers)", "layer names a missing parent"),
            ("SELECT name || ' -> ' || image_id FROM repo_digests WHERE image_id NOT IN (SELECT id FROM images)", "repo digest names a missing image"),
        ];
        for (sql, what) in checks {
            let mut stmt = self.tx.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for row in rows {
                out.push(format!("{what}: {}", row?));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn image(n: u8) -> ImageRecord {
        ImageRecord {
            id: Digest::of(&[n]),
            manifest: Digest::of(&[n, n]),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest_size: 1,
            created: None,
            size: 0,
            added_at: i64::from(n),
            layers: Vec::new(),
        }
    }

    /// A database from before the added columns (and before the schema version) gains them
    /// in place once; opening it again changes nothing.
    #[test]
    fn an_old_database_is_upgraded_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE images (id TEXT PRIMARY KEY, manifest TEXT NOT NULL, \
                 manifest_media_type TEXT NOT NULL, manifest_size INTEGER NOT NULL, \
                 created TEXT, size INTEGER NOT NULL, added_at INTEGER NOT NULL); \
                 CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, \
                 image_id TEXT NOT NULL, image_name TEXT NOT NULL, config TEXT NOT NULL, \
                 created_at INTEGER NOT NULL, state TEXT NOT NULL, \
                 pid INTEGER NOT NULL DEFAULT 0, monitor_pid INTEGER NOT NULL DEFAULT 0, \
                 exit_code INTEGER NOT NULL DEFAULT 0, started_at INTEGER NOT NULL DEFAULT 0, \
                 finished_at INTEGER NOT NULL DEFAULT 0, \
                 restart_count INTEGER NOT NULL DEFAULT 0, \
                 stop_requested INTEGER NOT NULL DEFAULT 0, \
                 oom_killed INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');",
            )
            .unwrap();
        }
        let version = |m: &Meta| {
            m.with_conn(|c| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)))
                .unwrap()
                .unwrap()
        };
        let meta = Meta::open(&path).unwrap();
        assert_eq!(version(&meta), SCHEMA_VERSION);
        let (a, b) = (image(1), image(2));
        meta.write(|tx| {
            tx.insert_image(&a)?;
            tx.insert_image(&b)?;
            tx.set_image_parent(&b.id, &a.id)
        })
        .unwrap();
        assert_eq!(
            meta.read(|tx| tx.image_parent(&b.id)).unwrap(),
            Some(a.id.clone())
        );
        let c = ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            image_id: a.id.to_string(),
            net: "[]".into(),
            health: "{}".into(),
            ..Default::default()
        };
        meta.write(|tx| tx.insert_container(&c)).unwrap();
        drop(meta);
        let again = Meta::open(&path).unwrap();
        assert_eq!(version(&again), SCHEMA_VERSION);
        let got = again.read(|tx| tx.container(&c.id)).unwrap().unwrap();
        assert_eq!((got.net.as_str(), got.health.as_str()), ("[]", "{}"));
        assert_eq!(again.read(|tx| tx.image_parent(&b.id)).unwrap(), Some(a.id));
    }

    #[test]
    fn releasing_memory_keeps_one_connection_that_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        // A burst: operations inside each other each take a connection of their own.
        meta.read(|_| meta.read(|_| meta.read(|tx| tx.container("x"))))
            .unwrap();
        let idle = || meta.idle.lock().unwrap().len();
        assert_eq!(idle(), 3);
        meta.release_memory();
        assert_eq!(idle(), 1);
        meta.write(|tx| tx.insert_image(&image(1))).unwrap();
        assert!(meta.read(|tx| tx.image(&image(1).id)).unwrap().is_some());
        assert_eq!(idle(), 1);
    }

    #[test]
    fn parents_are_recorded_once_and_cleared_with_the_parent() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        let (a, b, c) = (image(1), image(2), image(3));
        meta.write(|tx| {
            for i in [&a, &b, &c] {
                tx.insert_image(i)?;
            }
            tx.set_image_parent(&b.id, &a.id)?;
            tx.set_image_parent(&c.id, &b.id)?;
            // The first record wins; an image is never its own parent.
            tx.set_image_parent(&c.id, &a.id)?;
            tx.set_image_parent(&a.id, &a.id)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
        meta.read(|tx| {
            assert_eq!(tx.image_parent(&c.id)?, Some(b.id.clone()));
            assert_eq!(tx.image_parent(&a.id)?, None);
            assert_eq!(tx.image_children(&a.id)?, vec![b.id.clone()]);
            Ok(())
        })
        .unwrap();
        meta.write(|tx| tx.delete_image(&b.id)).unwrap();
        meta.read(|tx| {
            assert_eq!(tx.image_parent(&c.id)?, None);
            assert_eq!(tx.image_parent(&Digest::of(b"none"))?, None);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn health_is_set_alone_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.db")).unwrap();
        let img = image(1);
        let c = ContainerRecord {
            id: "c1".into(),
            name: "web".into(),
            image_id: img.id.to_string(),
            state: crate::ContainerState::Running,
            ..Default::default()
        };
        meta.write(|tx| {
            tx.insert_image(&img)?;
            tx.insert_container(&c)
        })
        .unwrap();
        let health = r#"{"Status":"starting"}"#;
        assert!(meta
            .write(|tx| tx.set_container_health("c1", health))
            .unwrap());
        assert!(!meta
            .write(|tx| tx.set_container_health("gone", health))
            .unwrap());
        let got = meta.read(|tx| tx.container("c1")).unwrap().unwrap();
        assert_eq!(
            (got.health.as_str(), got.state.as_str()),
            (health, "running")
        );
    }

    #[test]
    fn a_state_change_writes_one_page_and_a_rename_still_lands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let meta = Meta::open(&path).unwrap();
        let (one, two) = (image(1), image(2));
        let mut c = ContainerRecord {
            id: "c1".into(),
            name: "web".into(),
            image_id: one.id.to_string(),
            ..Default::default()
        };
        let other = ContainerRecord {
            id: "c2".into(),
            name: "db".into(),
            image_id: one.id.to_string(),
            ..Default::default()
        };
        meta.write(|tx| {
            tx.insert_image(&one)?;
            tx.insert_image(&two)?;
            tx.insert_container(&c)?;
            tx.insert_container(&other)
        })
        .unwrap();
        let wal = path.with_extension("db-wal");
        let frames = || std::fs::metadata(&wal).unwrap().len().saturating_sub(32) / (4096 + 24);
        let before = frames();
        c.state = crate::ContainerState::Running;
        c.pid = 42;
        meta.write(|tx| tx.update_container(&c)).unwrap();
        // The row's page only: not the name's or the image's index pages.
        assert_eq!(frames() - before, 1);

        c.name = "web2".into();
        c.image_id = two.id.to_string();
        meta.write(|tx| tx.update_container(&c)).unwrap();
        let got = meta.read(|tx| tx.container("c1")).unwrap().unwrap();
        assert_eq!((got.name.as_str(), got.pid), ("web2", 42));
        assert_eq!(got.image_id, two.id.to_string());
        // Names stay unique.
        c.name = "db".into();
        assert!(meta.write(|tx| tx.update_container(&c)).is_err());
    }
}
