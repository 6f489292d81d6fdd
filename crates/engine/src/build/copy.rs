//! COPY and ADD: a layer tar written straight from the sources, no container involved.
//! ADD's URLs are downloaded here, on the host, into temporary files that the tar reads.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_build::context::{self, EntryKind, Selection};
use berth_build::parse::CopyArgs;
use berth_build::plan::Source;
use berth_build::{Matcher, Step};
use berth_image::digest::{chain_ids, Digest};
use berth_image::layer::{detect_compression, Compression};
use serde_json::{json, Value};

use super::remote::{download, url_file_name};
use super::step::push_history;
use super::{build_err, in_workdir, next_key, now_rfc3339, BuildOptions, Output, State};
use crate::image::LayerSource;
use crate::{Engine, EngineError};

/// One entry of the layer being written.
enum Item {
    Dir,
    File(PathBuf),
    Bytes(Vec<u8>),
    Link(PathBuf),
}

struct Planned {
    item: Item,
    mode: u32,
    mtime: u64,
}

/// Unmounts a read-only view of an image when dropped.
struct View {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Drop for View {
    fn drop(&mut self) {
        if self.mounted {
            let _ = berth_store::layers::unmount(self.dir.path());
        }
    }
}

impl Engine {
    /// The unpacked layer directories of a state, top first.
    fn layer_dirs(&self, config: &Value) -> Vec<PathBuf> {
        let diff_ids: Vec<Digest> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        let mut dirs: Vec<PathBuf> = chain_ids(&diff_ids)
            .iter()
            .map(|c| self.store.layers.diff_path(c))
            .collect();
        dirs.reverse();
        dirs
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step_copy(
        &self,
        step: &Step,
        c: &CopyArgs,
        is_add: bool,
        state: &mut State,
        opts: &BuildOptions,
        ignore: &Matcher,
        results: &BTreeMap<usize, Digest>,
        out: &mut Output<'_>,
    ) -> Result<(), EngineError> {
        let what = format!("Dockerfile:{}: {}", step.line, step.text);
        // Where the sources come from: the context, or another stage's / image's files.
        let from_image = match &step.from {
            Some(Source::Stage(i)) => Some(results.get(i).cloned().ok_or_else(|| {
                EngineError::InvalidArgument(format!("{what}: stage {i} was not built"))
            })?),
            Some(Source::Image(name)) => Some(self.resolve_image(name)?),
            None => None,
        };
        let view = match &from_image {
            Some(id) => Some(self.view_of(id)?),
            None => None,
        };
        let empty = Matcher::empty();
        let (root, matcher) = match &view {
            Some(v) => (v.dir.path().to_path_buf(), &empty),
            None => (opts.context.clone(), ignore),
        };
        let selection = context::select(&root, &c.srcs, matcher).map_err(|e| {
            let line = step.line;
            match (&step.from, e) {
                // The context's wording does not fit another stage's or image's files.
                (Some(from), berth_build::BuildError::SourceNotFound { src }) => {
                    let named = c.from.clone().unwrap_or_default();
                    let from = match from {
                        Source::Stage(_) => format!("stage {named}"),
                        Source::Image(name) => format!("image {name}"),
                    };
                    EngineError::InvalidArgument(format!(
                        "Dockerfile:{line}: COPY failed: {src}: not found in {from}"
                    ))
                }
                (_, e) => {
                    EngineError::InvalidArgument(format!("Dockerfile:{line}: COPY failed: {e}"))
                }
            }
        })?;
        let urls: Vec<&str> = selection
            .iter()
            .filter_map(|s| match &s.selection {
                Selection::Url(u) => Some(u.as_str()),
                Selection::Paths(_) => None,
            })
            .collect();
        if !is_add && !urls.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "{what}: source can't be a URL for COPY"
            )));
        }
        let checksum = checksum_of(c, urls.len())
            .map_err(|e| EngineError::InvalidArgument(format!("{what}: {e}")))?;

        let layer_dirs = self.layer_dirs(&state.config);
        let exists_dir = |p: &str| lookup(&layer_dirs, p).is_some_and(|m| m.is_dir());
        let dest = in_workdir(&state.config, &c.dest);
        let count = selection
            .iter()
            .map(|s| match &s.selection {
                Selection::Paths(p) => p.len(),
                Selection::Url(_) => 1,
            })
            .sum::<usize>()
            + c.heredocs.len();
        let single_dir = matches!(selection.as_slice(), [s] if matches!(&s.selection, Selection::Paths(p) if p.len() == 1 && p[0].entry.kind == EntryKind::Dir));
        let dest_dir = dest.ends_with('/')
            || count > 1
            || single_dir
            || exists_dir(dest.trim_end_matches('/'));
        let dest_path = dest
            .trim_end_matches('/')
            .trim_start_matches('/')
            .to_string();

        // URLs are downloaded on every build, as docker's builder does: their content is
        // part of the cache key, so a changed file re-runs the step and the ones after it.
        let remotes = self.fetch_remotes(step.line, &urls, checksum.as_ref(), dest_dir, out)?;
        let mut hasher = context::hash_selection(&selection)
            .map_err(build_err)?
            .to_string();
        for doc in &c.heredocs {
            hasher.push_str(&Digest::of(doc.body().as_bytes()).to_string());
        }
        for r in &remotes {
            hasher.push_str(&format!("\n{} {}", r.url, r.digest));
        }
        let sources = Digest::of(hasher.as_bytes());
        let key = next_key(state, &step.cache_text(), Some(&sources), &step.build_args);
        if !opts.no_cache {
            if let Some(id) = self.cache_lookup(&key)? {
                out.cached();
                out.line(&format!(" ---> {}", id.short()));
                return self.adopt(state, &id, key);
            }
        }

        let (uid, gid) = match &c.chown {
            Some(spec) => {
                let passwd = read_layer_file(&layer_dirs, "etc/passwd");
                let group = read_layer_file(&layer_dirs, "etc/group");
                let u = berth_runtime::spec::resolve_user(
                    Some(spec),
                    passwd.as_deref(),
                    group.as_deref(),
                )
                .map_err(|e| {
                    EngineError::InvalidArgument(format!("{what}: --chown={spec}: {e}"))
                })?;
                (u.uid, u.gid)
            }
            None => (0, 0),
        };
        let chmod = c
            .chmod
            .as_deref()
            .map(|m| u32::from_str_radix(m, 8))
            .transpose()
            .map_err(|_| EngineError::InvalidArgument(format!("{what}: --chmod must be octal")))?;
        let clamp = opts.source_date_epoch.and_then(|t| u64::try_from(t).ok());
        let now = clamp.unwrap_or_else(|| crate::now_unix() as u64);
        let mut plan: BTreeMap<String, Planned> = BTreeMap::new();
        let join = |base: &str, rel: &str| -> String {
            match (base.is_empty(), rel.is_empty() || rel == ".") {
                (_, true) => base.to_string(),
                (true, false) => rel.to_string(),
                (false, false) => format!("{base}/{rel}"),
            }
        };
        if dest_dir && !dest_path.is_empty() {
            plan.insert(
                dest_path.clone(),
                Planned {
                    item: Item::Dir,
                    mode: 0o755,
                    mtime: now,
                },
            );
        }
        let mut remote = remotes.iter();
        for sel in &selection {
            let matches = match &sel.selection {
                Selection::Paths(matches) => matches,
                Selection::Url(_) => {
                    // Downloads keep their bytes: never extracted, mode 0600 (docker's).
                    if let Some(r) = remote.next() {
                        let target = if dest_dir {
                            join(&dest_path, r.name.as_deref().unwrap_or_default())
                        } else {
                            dest_path.clone()
                        };
                        plan.insert(
                            target,
                            Planned {
                                item: Item::File(r.file.path().to_path_buf()),
                                mode: 0o600,
                                mtime: r.mtime,
                            },
                        );
                    }
                    continue;
                }
            };
            for m in matches {
                let base_name = Path::new(&m.rel)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match m.entry.kind {
                    EntryKind::Dir => {
                        for child in &m.children {
                            let target = join(&dest_path, &child.rel);
                            plan.insert(
                                target,
                                planned(&child.kind, &child.path, child.mode, &child.link)?,
                            );
                        }
                    }
                    EntryKind::Other => {}
                    kind => {
                        let target = if dest_dir {
                            join(&dest_path, &base_name)
                        } else {
                            dest_path.clone()
                        };
                        if is_add && kind == EntryKind::File && is_archive(&m.entry.path) {
                            add_archive(&m.entry.path, &dest_path, &mut plan).map_err(|e| {
                                EngineError::io(format!("{what}: extract {}", m.rel), e)
                            })?;
                            continue;
                        }
                        plan.insert(
                            target,
                            planned(&kind, &m.entry.path, m.entry.mode, &m.entry.link)?,
                        );
                    }
                }
            }
        }
        for doc in &c.heredocs {
            let target = if dest_dir {
                join(&dest_path, &doc.name)
            } else {
                dest_path.clone()
            };
            plan.insert(
                target,
                Planned {
                    item: Item::Bytes(doc.body().into_bytes()),
                    mode: 0o644,
                    mtime: now,
                },
            );
        }
        // Parent directories the layers below do not have.
        let targets: Vec<String> = plan.keys().cloned().collect();
        for t in targets {
            let mut p = Path::new(&t).parent();
            while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
                let d = dir.to_string_lossy().into_owned();
                if plan.contains_key(&d) || exists_dir(&d) {
                    break;
                }
                plan.insert(
                    d,
                    Planned {
                        item: Item::Dir,
                        mode: 0o755,
                        mtime: now,
                    },
                );
                p = dir.parent();
            }
        }

        let mut pending = self.store.content.begin()?;
        {
            let mut tar = tar::Builder::new(&mut pending);
            for (path, p) in &plan {
                let mut h = tar::Header::new_gnu();
                h.set_uid(u64::from(uid));
                h.set_gid(u64::from(gid));
                h.set_mtime(clamp.map_or(p.mtime, |c| p.mtime.min(c)));
                let mode = chmod.unwrap_or(p.mode);
                let io = |e| EngineError::io(format!("{what}: {path}"), e);
                match &p.item {
                    Item::Dir => {
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_mode(mode);
                        h.set_size(0);
                        tar.append_data(&mut h, format!("{path}/"), std::io::empty())
                            .map_err(io)?;
                    }
                    Item::File(src) => {
                        let f = std::fs::File::open(src).map_err(io)?;
                        let len = f.metadata().map_err(io)?.len();
                        h.set_entry_type(tar::EntryType::Regular);
                        h.set_mode(mode);
                        h.set_size(len);
                        tar.append_data(&mut h, path, f.take(len)).map_err(io)?;
                    }
                    Item::Bytes(b) => {
                        h.set_entry_type(tar::EntryType::Regular);
                        h.set_mode(mode);
                        h.set_size(b.len() as u64);
                        tar.append_data(&mut h, path, &b[..]).map_err(io)?;
                    }
                    Item::Link(target) => {
                        h.set_entry_type(tar::EntryType::Symlink);
                        h.set_mode(0o777);
                        h.set_size(0);
                        tar.append_link(&mut h, path, target).map_err(io)?;
                    }
                }
            }
            tar.finish().map_err(|e| EngineError::io(what.clone(), e))?;
        }
        let blob = pending.commit(None)?;
        drop(view);

        let mut config = state.config.clone();
        let mut diff_ids: Vec<Value> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        diff_ids.push(json!(blob.digest.to_string()));
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        let kw = if is_add { "ADD" } else { "COPY" };
        let kind = if single_dir { "dir" } else { "file" };
        let created = now_rfc3339(opts.source_date_epoch);
        push_history(
            &mut config,
            &created,
            &format!("/bin/sh -c #(nop) {kw} {kind}:{} in {dest} ", sources.hex()),
            false,
        );
        config["created"] = json!(created);
        let mut layers = state.layers.clone();
        layers.push(LayerSource {
            blob,
            media_type: Some("application/vnd.oci.image.layer.v1.tar".into()),
        });
        let bytes = serde_json::to_vec(&config).map_err(|e| EngineError::bad_input("build", e))?;
        let rec = self.add_image(&bytes, &layers, "build")?;
        out.line(&format!(" ---> {}", rec.id.short()));
        self.record_build_parent(&rec.id, state.image.as_ref())?;
        self.cache_store(&key, &rec.id)?;
        self.adopt(state, &rec.id, key)
    }

    /// Downloads ADD's URLs (on the host, not in a container) into temporary files, checking
    /// `checksum` and that a file name can be derived when the destination is a directory.
    /// Errors name the Dockerfile line, the URL and the cause; nothing is stored.
    fn fetch_remotes(
        &self,
        line: usize,
        urls: &[&str],
        checksum: Option<&Digest>,
        need_name: bool,
        out: &mut Output<'_>,
    ) -> Result<Vec<Remote>, EngineError> {
        let tmp = self.store.layers.dir().join("tmp");
        let mut remotes = Vec::with_capacity(urls.len());
        for url in urls {
            let fail = |cause: String| {
                EngineError::InvalidArgument(format!("Dockerfile:{line}: ADD {url}: {cause}"))
            };
            let name = url_file_name(url);
            if need_name && name.is_none() {
                return Err(fail("cannot determine filename from url".into()));
            }
            out.line(&format!("Downloading {url}"));
            let got = download(url, &tmp).map_err(fail)?;
            if let Some(want) = checksum.filter(|w| **w != got.digest) {
                return Err(fail(format!(
                    "checksum mismatch: expected {want}, got {}",
                    got.digest
                )));
            }
            tracing::debug!(url, digest = %got.digest, size = got.size, "downloaded an ADD source");
            remotes.push(Remote {
                url: url.to_string(),
                name,
                file: got.file,
                digest: got.digest,
                mtime: got.mtime,
            });
        }
        Ok(remotes)
    }

    /// A read-only overlay view of an image's files (for `COPY --from`).
    fn view_of(&self, id: &Digest) -> Result<View, EngineError> {
        let img = self
            .store
            .meta
            .read(|tx| tx.image(id))?
            .ok_or_else(|| EngineError::ImageNotFound(id.to_string()))?;
        let dir = tempfile::Builder::new()
            .prefix("berth-copy-from-")
            .tempdir_in(self.store.layers.dir().join("tmp"))
            .map_err(|e| EngineError::io("COPY --from: mount point", e))?;
        let mounted = !img.layers.is_empty();
        if mounted {
            self.store
                .layers
                .mount_overlay(&img.layers, None, dir.path())?;
        }
        Ok(View { dir, mounted })
    }
}

/// An ADD URL, downloaded.
struct Remote {
    url: String,
    /// The URL path's last segment: the file's name in a destination directory.
    name: Option<String>,
    file: tempfile::NamedTempFile,
    digest: Digest,
    /// From `Last-Modified`, else 0 (docker's).
    mtime: u64,
}

/// `--checksum`: only for a single URL source (BuildKit's rule), `sha256:<hex>`.
fn checksum_of(c: &CopyArgs, urls: usize) -> Result<Option<Digest>, String> {
    let Some(sum) = &c.checksum else {
        return Ok(None);
    };
    if c.srcs.len() + c.heredocs.len() != 1 {
        return Err("checksum can't be specified for multiple sources".into());
    }
    if urls != 1 {
        return Err("checksum can't be specified for non-HTTP(S) sources".into());
    }
    sum.parse()
        .map(Some)
        .map_err(|e| format!("--checksum={sum}: {e}"))
}

fn planned(
    kind: &EntryKind,
    path: &Path,
    mode: u32,
    link: &Option<PathBuf>,
) -> Result<Planned, EngineError> {
    let mtime = std::fs::symlink_metadata(path)
        .map(|m| u64::try_from(m.mtime()).unwrap_or(0))
        .unwrap_or(0);
    let item = match kind {
        EntryKind::Dir => Item::Dir,
        EntryKind::Symlink => Item::Link(link.clone().unwrap_or_default()),
        _ => Item::File(path.to_path_buf()),
    };
    Ok(Planned { item, mode, mtime })
}

/// Looks a path up through layer directories (top first), honouring whiteouts.
fn lookup(layers: &[PathBuf], rel: &str) -> Option<std::fs::Metadata> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return layers.first().and_then(|l| std::fs::metadata(l).ok());
    }
    for l in layers {
        if let Ok(m) = std::fs::symlink_metadata(l.join(rel)) {
            let whiteout =
                std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()) && m.rdev() == 0;
            return (!whiteout).then_some(m);
        }
    }
    None
}

/// The first layer's `rel` (`etc/passwd`, `etc/group`), resolved inside that layer's
/// directory: an image whose `/etc/passwd` is a symlink to an absolute path must not make the
/// build read the host's file of that name.
fn read_layer_file(layers: &[PathBuf], rel: &str) -> Option<String> {
    const LIMIT: u64 = 16 << 20;
    layers.iter().find_map(|l| {
        let root = berth_image::rootfd::Root::open(l).ok()?;
        let bytes = root.read_file(rel, LIMIT).ok()?;
        String::from_utf8(bytes).ok()
    })
}

/// ADD auto-extracts local tar archives (plain or gzip).
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    match detect_compression(&head[..n]) {
        Compression::Gzip => true,
        Compression::None => n >= 262 && &head[257..262] == b"ustar",
        Compression::Zstd => false,
    }
}

fn add_archive(
    path: &Path,
    dest: &str,
    plan: &mut BTreeMap<String, Planned>,
) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let reader: Box<dyn Read> = match detect_compression(&head[..n]) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        _ => Box::new(f),
    };
    let mut ar = tar::Archive::new(reader);
    for e in ar.entries()? {
        let mut e = e?;
        let rel: PathBuf = e
            .path()?
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        let rel = rel.to_string_lossy().into_owned();
        if rel.is_empty() {
            continue;
        }
        let target = if dest.is_empty() {
            rel
        } else {
            format!("{dest}/{rel}")
        };
        let mode = e.header().mode().unwrap_or(0o644);
        let mtime = e.header().mtime().unwrap_or(0);
        let item = match e.header().entry_type() {
            tar::EntryType::Directory => Item::Dir,
            tar::EntryType::Symlink => {
                Item::Link(e.link_name()?.map(|l| l.into_owned()).unwrap_or_default())
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut b = Vec::new();
                e.read_to_end(&mut b)?;
                Item::Bytes(b)
            }
            _ => continue,
        };
        plan.insert(target, Planned { item, mode, mtime });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_need_one_url_and_a_sha256() {
        let args = |srcs: &[&str], sum: &str| CopyArgs {
            srcs: srcs.iter().map(|s| s.to_string()).collect(),
            checksum: Some(sum.to_string()),
            ..Default::default()
        };
        let hex = "a".repeat(64);
        let ok = format!("sha256:{hex}");
        assert_eq!(
            checksum_of(&args(&["http://h/f"], &ok), 1).unwrap(),
            Some(Digest::from_hex(&hex).unwrap())
        );
        assert!(checksum_of(&args(&["http://h/f", "http://h/g"], &ok), 2)
            .unwrap_err()
            .contains("multiple sources"));
        assert!(checksum_of(&args(&["f"], &ok), 0)
            .unwrap_err()
            .contains("non-HTTP(S)"));
        assert!(checksum_of(&args(&["http://h/f"], "md5:00"), 1)
            .unwrap_err()
            .contains("--checksum=md5:00"));
        assert_eq!(checksum_of(&CopyArgs::default(), 0).unwrap(), None);
    }
}
