//! Layer tarball → directory, safely.
//!
//! [`unpack`] reads a layer blob once (plain, gzip or zstd), hashes the compressed bytes and the
//! uncompressed tar in the same pass, and writes the entries into an empty directory (a layer's
//! `diff/`), converting whiteouts to their overlayfs form: `.wh.NAME` becomes a character device
//! 0:0 named `NAME`, `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on its directory.
//!
//! Nothing outside `dest` is ever created, modified or read: paths are normalised lexically (a
//! leading `/` is stripped, `..` that climbs above the root is refused), parents are opened one
//! component at a time with `O_NOFOLLOW` (a parent that is a symlink is refused), whatever already
//! sits at an entry's name is removed first (so a symlink is replaced, never written through), and
//! hardlinks never follow a symlink target. On error the caller deletes `dest`.
//!
//! ```no_run
//! use berth_image::layer::{unpack, UnpackOptions};
//! let blob = std::fs::File::open("/tmp/layer.tar.gz").unwrap();
//! let done = unpack(blob, "/tmp/diff".as_ref(), &UnpackOptions::default()).unwrap();
//! println!("{} ({} bytes of files)", done.diff_id, done.size);
//! ```

mod extract;
mod pack;
mod path;
mod tree;

use std::io::{self, BufReader, Cursor, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::digest::{Digest, Hasher};

pub use extract::Refusal;
pub use pack::{pack, pack_dir, pack_entry, PackOptions, Packed};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Recognises gzip (`1f 8b`) and zstd (`28 b5 2f fd`) by their magic bytes; anything else is
/// taken as a plain tar.
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// What [`unpack`] may create.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Create character and block devices found in the tar. When false they are refused (the
    /// whiteout devices that [`unpack`] itself makes are always created). FIFOs are always allowed.
    pub allow_devices: bool,
    /// Give entries the uid/gid recorded in the tar (needs root); otherwise they belong to us.
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    /// Devices and ownership are kept when running as root, as Docker does.
    fn default() -> Self {
        let root = rustix::process::geteuid().is_root();
        Self {
            allow_devices: root,
            same_owner: root,
        }
    }
}

/// The result of unpacking one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream (the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// sha256 of the bytes read from the reader (the manifest's layer digest).
    pub compressed_digest: Digest,
    /// Number of bytes read from the reader.
    pub compressed_size: u64,
    /// Sum of the sizes of the regular files written.
    pub size: u64,
}

/// Why a layer could not be unpacked. `dest` may hold a partial tree: delete it.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The stream is not a readable (possibly compressed) tar.
    #[error("read layer stream: {0}")]
    Read(io::Error),
    /// An entry would break out of the destination or is not allowed.
    #[error("layer entry {path:?}: {reason}")]
    Refused { path: String, reason: Refusal },
    /// An entry's data ends before its declared size.
    #[error("layer entry {path:?}: truncated: {got} of {expected} bytes")]
    Truncated {
        path: String,
        expected: u64,
        got: u64,
    },
    /// A filesystem operation failed while writing an entry.
    #[error("layer entry {path:?}: {op}: {error}")]
    Io {
        path: String,
        op: &'static str,
        error: io::Error,
    },
    /// The destination directory could not be opened.
    #[error("open layer destination {path}: {error}")]
    Destination { path: String, error: io::Error },
}

/// Unpacks the layer in `reader` into the existing empty directory `dest`.
///
/// The whole stream is read, including anything after the tar's end-of-archive marker, so both
/// digests cover every byte.
pub fn unpack(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<Unpacked, LayerError> {
    unpack_tapped(Tap::Hash(Hasher::new(reader)), open_dest(dest)?, opts)
}

/// [`unpack`] into an open directory: one resolved inside a running container's root for
/// `cp`, so that nothing between the resolution and the writes is looked up by path again.
/// Everything below it is reached as [`unpack`] reaches it (no symlink followed).
pub fn unpack_into(
    reader: impl Read,
    dest: OwnedFd,
    opts: &UnpackOptions,
) -> Result<Unpacked, LayerError> {
    unpack_tapped(
        Tap::Hash(Hasher::new(reader)),
        tree::Tree::from_fd(dest),
        opts,
    )
}

fn open_dest(dest: &Path) -> Result<tree::Tree, LayerError> {
    tree::Tree::open(dest).map_err(|error| LayerError::Destination {
        path: dest.display().to_string(),
        error,
    })
}

/// [`unpack`] of a blob whose digest is known: the caller guarantees that `reader` yields
/// exactly the bytes that were verified against `digest` (a download hashed as it was stored).
/// The raw stream is not hashed again; `compressed_digest` is `digest`, and so is `diff_id`
/// when the layer is not compressed. The diff ID of a compressed layer is still computed.
pub fn unpack_verified(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
    digest: &Digest,
) -> Result<Unpacked, LayerError> {
    unpack_tapped(
        Tap::Known(reader, digest.clone(), 0),
        open_dest(dest)?,
        opts,
    )
}

/// The raw stream of a layer: hashed, or counted when its digest is known already.
enum Tap<R> {
    Hash(Hasher<R>),
    Known(R, Digest, u64),
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Tap::Hash(h) => h.read(buf),
            Tap::Known(r, _, count) => {
                let n = r.read(buf)?;
                *count += n as u64;
                Ok(n)
            }
        }
    }
}

impl<R> Tap<R> {
    fn finish(self) -> (Digest, u64) {
        match self {
            Tap::Hash(h) => {
                let (digest, size, _) = h.finish();
                (digest, size)
            }
            Tap::Known(_, digest, size) => (digest, size),
        }
    }
}

fn unpack_tapped<R: Read>(
    mut raw: Tap<R>,
    dest: tree::Tree,
    opts: &UnpackOptions,
) -> Result<Unpacked, LayerError> {
    let mut head = [0u8; 4];
    let got = read_head(&mut raw, &mut head).map_err(LayerError::Read)?;
    let compression = detect_compression(&head[..got]);
    let source = Cursor::new(head[..got].to_vec()).chain(raw);
    let decoder = Decoder::new(compression, source).map_err(LayerError::Read)?;
    if compression == Compression::None {
        // The blob is the tar: one hash is both digests (hashing is most of a pull's CPU).
        let mut plain = decoder;
        let size = extract::extract(tar::Archive::new(&mut plain), dest, opts)?;
        io::copy(&mut plain, &mut io::sink()).map_err(LayerError::Read)?;
        let (digest, compressed_size) = plain.into_inner().into_inner().1.finish();
        tracing::debug!(diff_id = %digest, size, "unpacked uncompressed layer");
        return Ok(Unpacked {
            diff_id: digest.clone(),
            compressed_digest: digest,
            compressed_size,
            size,
        });
    }
    let mut plain = Hasher::new(decoder);

    let size = extract::extract(tar::Archive::new(&mut plain), dest, opts)?;

    io::copy(&mut plain, &mut io::sink()).map_err(LayerError::Read)?;
    let (diff_id, _, decoder) = plain.finish();
    let mut source = decoder.into_inner();
    io::copy(&mut source, &mut io::sink()).map_err(LayerError::Read)?;
    let (compressed_digest, compressed_size) = source.into_inner().1.finish();
    tracing::debug!(%diff_id, %compressed_digest, ?compression, size, "unpacked layer");
    Ok(Unpacked {
        diff_id,
        compressed_digest,
        compressed_size,
        size,
    })
}

fn read_head(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A decompressor that gives its source back, so trailing bytes can be drained and hashed.
enum Decoder<R: Read> {
    Plain(R),
    Gzip(flate2::read::MultiGzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<R>>),
}

impl<R: Read> Decoder<R> {
    fn new(compression: Compression, source: R) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Self::Plain(source),
            Compression::Gzip => Self::Gzip(flate2::read::MultiGzDecoder::new(source)),
            Compression::Zstd => Self::Zstd(zstd::stream::read::Decoder::new(source)?),
        })
    }

    fn into_inner(self) -> R {
        match self {
            Self::Plain(r) => r,
            Self::Gzip(d) => d.into_inner(),
            Self::Zstd(d) => d.finish().into_inner(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(d) => d.read(buf),
            Self::Zstd(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_pick_the_decompressor() {
        assert_eq!(detect_compression(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            detect_compression(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(detect_compression(&[0x28, 0xb5, 0x2f]), Compression::None);
        assert_eq!(detect_compression(b"etc/"), Compression::None);
        assert_eq!(detect_compression(b""), Compression::None);
    }
}
