//! One blob from the registry into a sink: streamed and counted (the sink hashes as it writes),
//! resumed with `Range` after a dropped connection, committed only when digest and size match.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_image::Digest;

use crate::blob::{BlobSink, PendingBlob};
use crate::client::transport::{read_limited, Body, Session};
use crate::client::{ClientError, Event};
use crate::manifest::Descriptor;

/// How a download attempt ended badly.
enum Failure {
    /// The connection broke: try again from where the sink stands.
    Retry(ClientError),
    /// Give up but keep what was written (a later pull resumes it).
    Keep(ClientError),
    /// The content is wrong: give up and discard it.
    Discard(ClientError),
}

const PROGRESS_STEP: u64 = 1 << 20;

/// Fetches a small blob (a config) into memory, verified.
pub(crate) fn fetch_small(
    s: &Session<'_>,
    desc: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, ClientError> {
    let what = format!("blob {}", desc.digest);
    if desc.size > limit {
        return Err(ClientError::TooLarge { what, limit });
    }
    let url = s.url(&format!("blobs/{}", desc.digest))?;
    let resp = s.send("GET", &url, &[], Body::Empty)?;
    match resp.status() {
        200 => {}
        404 => {
            return Err(ClientError::BlobUnknown {
                repository: s.repository.clone(),
                digest: desc.digest.clone(),
            })
        }
        _ => return Err(s.status_error(resp, what)),
    }
    let bytes = read_limited(resp, desc.size).map_err(|e| ClientError::Io {
        what: what.clone(),
        source: e,
    })?;
    verify(&what, desc, Digest::of(&bytes), bytes.len() as u64)?;
    Ok(bytes)
}

fn verify(what: &str, desc: &Descriptor, digest: Digest, size: u64) -> Result<(), ClientError> {
    if size != desc.size {
        return Err(ClientError::SizeMismatch {
            what: what.to_owned(),
            expected: desc.size,
            actual: size,
        });
    }
    if digest != desc.digest {
        return Err(ClientError::DigestMismatch {
            what: what.to_owned(),
            expected: desc.digest.clone(),
            actual: digest,
        });
    }
    Ok(())
}

/// Downloads `desc` into `sink`, retrying up to `retries` times with `Range` requests.
pub(crate) fn download(
    s: &Session<'_>,
    desc: &Descriptor,
    sink: &dyn BlobSink,
    retries: u32,
    progress: &(dyn Fn(Event) + Sync),
    cancel: &AtomicBool,
) -> Result<(), ClientError> {
    let mut pending = sink.begin_blob(desc)?;
    progress(Event::BlobStarted {
        digest: desc.digest.clone(),
        size: desc.size,
        offset: pending.written(),
    });
    let mut attempt = 0;
    loop {
        match attempt_once(s, desc, pending.as_mut(), progress, cancel) {
            Ok(()) => break,
            Err(Failure::Retry(e)) if attempt < retries && !cancel.load(Ordering::Relaxed) => {
                attempt += 1;
                let _ = pending.flush();
                tracing::warn!(digest = %desc.digest, offset = pending.written(), error = %e, "blob download interrupted, resuming");
                progress(Event::BlobRetry {
                    digest: desc.digest.clone(),
                    offset: pending.written(),
                    error: e.to_string(),
                });
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
            }
            Err(Failure::Retry(e) | Failure::Keep(e)) => {
                let _ = pending.flush();
                return Err(e);
            }
            Err(Failure::Discard(e)) => {
                pending.abort();
                return Err(e);
            }
        }
    }
    // The sink hashed every byte as it was written: commit verifies digest and size, and
    // discards the content when either is wrong.
    pending.commit()?;
    progress(Event::BlobDone {
        digest: desc.digest.clone(),
        size: desc.size,
    });
    Ok(())
}

fn attempt_once(
    s: &Session<'_>,
    desc: &Descriptor,
    pending: &mut dyn PendingBlob,
    progress: &(dyn Fn(Event) + Sync),
    cancel: &AtomicBool,
) -> Result<(), Failure> {
    let what = format!("blob {}", desc.digest);
    let mut offset = pending.written();
    let url = s
        .url(&format!("blobs/{}", desc.digest))
        .map_err(Failure::Keep)?;
    let headers: Vec<(&str, String)> = if offset > 0 {
        vec![("Range", format!("bytes={offset}-"))]
    } else {
        Vec::new()
    };
    let resp = s
        .send("GET", &url, &headers, Body::Empty)
        .map_err(|e| match e {
            ClientError::Transport { .. } => Failure::Retry(e),
            other => Failure::Keep(other),
        })?;
    match resp.status() {
        200 if offset > 0 => {
            // The server ignored Range: start over.
            pending
                .reset()
                .map_err(|e| Failure::Keep(ClientError::Blob(e)))?;
            offset = 0;
        }
        200 => {}
        206 => {
            let start = resp
                .header("content-range")
                .and_then(|v| v.trim().strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(offset) {
                pending
                    .reset()
                    .map_err(|e| Failure::Keep(ClientError::Blob(e)))?;
                return Err(Failure::Retry(ClientError::Status {
                    what,
                    status: 206,
                    code: None,
                    message: format!(
                        "answered a range request for byte {offset} with another range"
                    ),
                }));
            }
        }
        416 if offset == desc.size => return Ok(()),
        404 => {
            return Err(Failure::Keep(ClientError::BlobUnknown {
                repository: s.repository.clone(),
                digest: desc.digest.clone(),
            }))
        }
        500..=599 => return Err(Failure::Retry(s.status_error(resp, what))),
        _ => return Err(Failure::Keep(s.status_error(resp, what))),
    }
    let remaining = desc.size - offset;
    if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len != remaining {
            return Err(Failure::Discard(ClientError::SizeMismatch {
                what,
                expected: desc.size,
                actual: offset + len,
            }));
        }
    }
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 256 << 10];
    let mut next_report = offset + PROGRESS_STEP;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Failure::Keep(ClientError::Io {
                what: what.clone(),
                source: std::io::Error::other("cancelled"),
            }));
        }
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Failure::Retry(ClientError::Transport {
                    url: url.to_string(),
                    reason: format!("after {} of {} bytes: {e}", pending.written(), desc.size),
                }))
            }
        };
        if n == 0 {
            break;
        }
        if pending.written() + n as u64 > desc.size {
            return Err(Failure::Discard(ClientError::SizeMismatch {
                what,
                expected: desc.size,
                actual: pending.written() + n as u64,
            }));
        }
        pending.write_all(&buf[..n]).map_err(|e| {
            // A partial that filled the disk helps no later pull (it would fill it again)
            // and holds the space the user needs to make room: it goes.
            let full = [rustix::io::Errno::NOSPC, rustix::io::Errno::DQUOT]
                .iter()
                .any(|c| e.raw_os_error() == Some(c.raw_os_error()));
            let err = ClientError::Blob(crate::blob::BlobError::io(&desc.digest, e));
            if full {
                Failure::Discard(err)
            } else {
                Failure::Keep(err)
            }
        })?;
        if pending.written() >= next_report {
            next_report = pending.written() + PROGRESS_STEP;
            progress(Event::BlobProgress {
                digest: desc.digest.clone(),
                done: pending.written(),
                total: desc.size,
            });
        }
    }
    if pending.written() < desc.size {
        return Err(Failure::Retry(ClientError::Transport {
            url: url.to_string(),
            reason: format!(
                "connection closed after {} of {} bytes",
                pending.written(),
                desc.size
            ),
        }));
    }
    Ok(())
}
