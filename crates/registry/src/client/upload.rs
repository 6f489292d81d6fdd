//! One blob to the registry: HEAD, mount, or upload — monolithic (POST then one streamed PUT)
//! for small blobs, chunked (PATCH with Content-Range) for large ones.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use url::Url;

use crate::blob::BlobSource;
use crate::client::transport::{Body, Session};
use crate::client::{ClientConfig, ClientError, Event};
use crate::manifest::Descriptor;

pub(crate) fn push_blob(
    s: &Session<'_>,
    desc: &Descriptor,
    source: &dyn BlobSource,
    mounts: &[String],
    cfg: &ClientConfig,
    progress: &(dyn Fn(Event) + Sync),
    cancel: &AtomicBool,
) -> Result<(), ClientError> {
    let what = format!("blob {}", desc.digest);
    let url = s.url(&format!("blobs/{}", desc.digest))?;
    let head = s.send("HEAD", &url, &[], Body::Empty)?;
    match head.status() {
        200 => {
            progress(Event::BlobExists {
                digest: desc.digest.clone(),
                size: desc.size,
            });
            return Ok(());
        }
        401 | 403 | 429 => return Err(s.status_error(head, what)),
        _ => {}
    }
    let mut location = None;
    for from in mounts {
        let mut mount = s.url("blobs/uploads/")?;
        mount
            .query_pairs_mut()
            .append_pair("mount", &desc.digest.to_string())
            .append_pair("from", from);
        let resp = s.send("POST", &mount, &[], Body::Empty)?;
        match resp.status() {
            201 => {
                progress(Event::BlobMounted {
                    digest: desc.digest.clone(),
                    from: from.clone(),
                });
                return Ok(());
            }
            202 => {
                location = Some(upload_location(s, &mount, &resp)?);
                break;
            }
            401 | 403 | 429 => return Err(s.status_error(resp, what)),
            _ => {}
        }
    }
    let location = match location {
        Some(l) => l,
        None => {
            let start = s.url("blobs/uploads/")?;
            let resp = s.send("POST", &start, &[], Body::Empty)?;
            if resp.status() != 202 {
                return Err(s.status_error(resp, format!("start upload of {what}")));
            }
            upload_location(s, &start, &resp)?
        }
    };
    let size = source.blob_size(&desc.digest)?;
    if size != desc.size {
        return Err(ClientError::SizeMismatch {
            what: format!("local {what}"),
            expected: desc.size,
            actual: size,
        });
    }
    progress(Event::BlobStarted {
        digest: desc.digest.clone(),
        size,
        offset: 0,
    });
    let reader = Counting::new(source.open_blob(&desc.digest)?, desc, progress, cancel);
    if size <= cfg.monolithic_limit {
        let mut put = location;
        put.query_pairs_mut()
            .append_pair("digest", &desc.digest.to_string());
        let headers = [("Content-Type", "application/octet-stream".to_owned())];
        let resp = s.send("PUT", &put, &headers, Body::Stream(Box::new(reader), size))?;
        finish(s, resp, &what)?;
    } else {
        chunked(s, location, desc, reader, cfg.chunk_size.max(1), &what)?;
    }
    progress(Event::BlobDone {
        digest: desc.digest.clone(),
        size,
    });
    Ok(())
}

fn chunked(
    s: &Session<'_>,
    mut location: Url,
    desc: &Descriptor,
    mut reader: Counting<'_>,
    chunk: u64,
    what: &str,
) -> Result<(), ClientError> {
    let mut offset = 0u64;
    while offset < desc.size {
        let n = chunk.min(desc.size - offset);
        let headers = [
            ("Content-Type", "application/octet-stream".to_owned()),
            ("Content-Range", format!("{offset}-{}", offset + n - 1)),
        ];
        let body = Body::Stream(Box::new((&mut reader).take(n)), n);
        let resp = s.send("PATCH", &location, &headers, body)?;
        if resp.status() != 202 {
            return Err(s.status_error(resp, format!("upload {what} at byte {offset}")));
        }
        location = upload_location(s, &location, &resp)?;
        offset += n;
    }
    location
        .query_pairs_mut()
        .append_pair("digest", &desc.digest.to_string());
    let resp = s.send("PUT", &location, &[], Body::Empty)?;
    finish(s, resp, what)
}

fn finish(s: &Session<'_>, resp: ureq::Response, what: &str) -> Result<(), ClientError> {
    if matches!(resp.status(), 201 | 204) {
        Ok(())
    } else {
        Err(s.status_error(resp, format!("complete upload of {what}")))
    }
}

fn upload_location(s: &Session<'_>, from: &Url, resp: &ureq::Response) -> Result<Url, ClientError> {
    let loc = resp.header("location").ok_or_else(|| ClientError::Status {
        what: format!("upload to {}", s.repository),
        status: resp.status(),
        code: None,
        message: "no Location header".into(),
    })?;
    s.join(from, loc)
}

/// Reports progress and honours cancellation while a blob streams out.
struct Counting<'a> {
    inner: Box<dyn Read + Send>,
    desc: &'a Descriptor,
    done: u64,
    next: u64,
    progress: &'a (dyn Fn(Event) + Sync),
    cancel: &'a AtomicBool,
}

impl<'a> Counting<'a> {
    fn new(
        inner: Box<dyn Read + Send>,
        desc: &'a Descriptor,
        progress: &'a (dyn Fn(Event) + Sync),
        cancel: &'a AtomicBool,
    ) -> Self {
        Counting {
            inner,
            desc,
            done: 0,
            next: 1 << 20,
            progress,
            cancel,
        }
    }
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done >= self.next {
            self.next = self.done + (1 << 20);
            (self.progress)(Event::BlobProgress {
                digest: self.desc.digest.clone(),
                done: self.done,
                total: self.desc.size,
            });
        }
        Ok(n)
    }
}
