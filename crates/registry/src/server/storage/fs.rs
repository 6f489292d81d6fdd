//! The directory backend (the default): every key is a file under the root, written to
//! `tmp/`, fsynced and renamed into place. An upload is one file, `uploads/<id>/data`, that
//! each PATCH appends to and the final PUT renames into `blobs/`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::backend::{Backend, ChunkWriter, Entry, ObjectMeta, Published};
use super::random_id;

#[derive(Debug)]
pub(crate) struct FsBackend {
    root: PathBuf,
}

impl FsBackend {
    pub fn open(root: PathBuf) -> io::Result<FsBackend> {
        for dir in ["blobs/sha256", "uploads", "repositories", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(FsBackend { root })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn upload_data(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    /// A synced temporary file in `tmp/` holding `bytes`.
    fn staged(&self, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        Ok(tmp)
    }
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .ok_or_else(|| io::Error::other(format!("{} has no parent", path.display())))
}

fn modified(meta: &fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        size: meta.len(),
        modified: meta.modified().ok(),
    }
}

impl Backend for FsBackend {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        let dir = parent(&path)?;
        fs::create_dir_all(dir)?;
        self.staged(bytes)?.persist(&path).map_err(|e| e.error)?;
        sync_dir(dir)
    }

    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let path = self.path(key);
        let dir = parent(&path)?;
        fs::create_dir_all(dir)?;
        // A hard link fails when the name exists: of two racing creators, one wins.
        match self.staged(bytes)?.persist_noclobber(&path) {
            Ok(_) => sync_dir(dir).map(|()| true),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.error),
        }
    }

    fn stat(&self, key: &str) -> io::Result<Option<ObjectMeta>> {
        match fs::metadata(self.path(key)) {
            Ok(m) if m.is_file() => Ok(Some(modified(&m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> io::Result<bool> {
        remove_if_exists(&self.path(key))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<Entry>> {
        let entries = match fs::read_dir(self.path(dir)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                out.push(Entry {
                    name: name.to_owned(),
                    dir: entry.file_type()?.is_dir(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn list_objects(&self, dir: &str) -> io::Result<Vec<(String, ObjectMeta)>> {
        let mut out = Vec::new();
        for e in self.list(dir)?.into_iter().filter(|e| !e.dir) {
            // Gone since the listing: someone else removed it.
            if let Ok(m) = fs::metadata(self.path(dir).join(&e.name)) {
                out.push((e.name, modified(&m)));
            }
        }
        Ok(out)
    }

    fn dir_exists(&self, dir: &str) -> io::Result<bool> {
        Ok(self.path(dir).is_dir())
    }

    fn remove_dir(&self, dir: &str) -> io::Result<bool> {
        let path = self.path(dir);
        if !path.is_dir() {
            return Ok(false);
        }
        // Renamed aside first (beside `repositories/`, not in it) so that it disappears at
        // once: a reader never sees half of it.
        let aside = self.root.join(format!(".removed-{}", random_id()));
        fs::rename(&path, &aside)?;
        fs::remove_dir_all(&aside)?;
        Ok(true)
    }

    fn touch(&self, key: &str) {
        if let Ok(f) = File::options().write(true).open(self.path(key)) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    fn touched_at(&self, _key: &str) -> Option<SystemTime> {
        // `touch` moves the file's own mtime.
        None
    }

    fn forget_touch(&self, _key: &str) {}

    fn reader(
        &self,
        key: &str,
        start: u64,
        len: Option<u64>,
    ) -> io::Result<Option<Box<dyn Read + Send>>> {
        let mut f = match File::open(self.path(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(start))?;
        Ok(Some(match len {
            Some(n) => Box::new(f.take(n)),
            None => Box::new(f),
        }))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn sweep_staging(&self, age: Duration) {
        let now = SystemTime::now();
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|a| a > age);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn create_upload(&self, id: &str, repo: &str) -> io::Result<()> {
        // Built in `tmp/`, then renamed: `gc` never sees half of a session.
        let staging = self.root.join("tmp").join(format!("upload-{id}"));
        fs::create_dir_all(&staging)?;
        fs::write(staging.join("repo"), repo)?;
        File::create(staging.join("data"))?;
        fs::rename(&staging, self.upload_dir(id))
    }

    fn upload_info(&self, id: &str) -> io::Result<Option<(String, u64)>> {
        let Ok(repo) = fs::read_to_string(self.upload_dir(id).join("repo")) else {
            return Ok(None);
        };
        let Ok(meta) = fs::metadata(self.upload_data(id)) else {
            return Ok(None);
        };
        Ok(Some((repo, meta.len())))
    }

    fn upload_writer(&self, id: &str, offset: u64) -> io::Result<Box<dyn ChunkWriter>> {
        let file = OpenOptions::new().append(true).open(self.upload_data(id))?;
        if file.metadata()?.len() != offset {
            return Err(io::Error::other(format!(
                "upload {id} changed under the request"
            )));
        }
        Ok(Box::new(FileChunk(BufWriter::with_capacity(1 << 20, file))))
    }

    fn publish_upload(
        &self,
        id: &str,
        target: &str,
        expected: &str,
        hash: Option<Sha256>,
    ) -> io::Result<Published> {
        let data = self.upload_data(id);
        let mut file = File::open(&data)?;
        let actual = match hash {
            Some(h) => hex::encode(h.finalize()),
            None => hash_reader(&mut file)?,
        };
        if actual != expected {
            return Ok(Published::Mismatch(actual));
        }
        let file = OpenOptions::new().write(true).open(&data)?;
        // Young from now on (the data may have been idle for long before this PUT): `gc`
        // leaves it alone until it is linked.
        file.set_modified(SystemTime::now())?;
        file.sync_all()?;
        let target = self.path(target);
        if !target.exists() {
            fs::rename(&data, &target)?;
            sync_dir(parent(&target)?)?;
        }
        Ok(Published::Done)
    }

    fn remove_upload(&self, id: &str) {
        let _ = fs::remove_dir_all(self.upload_dir(id));
    }

    fn uploads(&self) -> io::Result<Vec<(String, Option<SystemTime>)>> {
        let mut out = Vec::new();
        for e in self.list("uploads")? {
            // Active when the data or the session changed last.
            let last = [self.upload_data(&e.name), self.upload_dir(&e.name)]
                .iter()
                .filter_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
                .max();
            out.push((e.name, last));
        }
        Ok(out)
    }
}

struct FileChunk(BufWriter<File>);

impl Write for FileChunk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl ChunkWriter for FileChunk {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        self.0.flush()
    }
}

/// The hex sha256 of everything `r` yields.
pub(crate) fn hash_reader(r: &mut dyn Read) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
