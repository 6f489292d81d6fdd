//! Small request bodies (manifests, forms) read whole, with a limit.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

/// How much of an oversized body is read and dropped before the refusal goes out.
const DRAIN: usize = 64 << 20;

/// Why a body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is longer than the limit (bytes).
    TooLarge(usize),
    /// The connection failed while it was being read.
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(limit) if limit % (1 << 20) == 0 => {
                write!(f, "it is over {} MiB", limit >> 20)
            }
            Self::TooLarge(limit) => write!(f, "it is over {} KiB", limit.div_ceil(1 << 10)),
            Self::Read(e) => write!(f, "{e}"),
        }
    }
}

/// Reads `body` whole when it is at most `limit` bytes. A longer one is read on and dropped,
/// up to [`DRAIN`] bytes in all, before the caller answers: a client that sends its whole
/// request before reading the answer (most do) then reads the refusal, where a connection
/// closed on its unread request is reset and the client sees only "broken pipe". A body
/// longer still gets the refusal at once, and the reset.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN {
            return Err(BodyError::TooLarge(limit));
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(Bytes::from(kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_body_up_to_the_limit_is_read_and_a_longer_one_refused() {
        let read = |n: usize| block_on(read_limited(Body::from(vec![7u8; n]), 10));
        assert_eq!(read(10).unwrap().len(), 10);
        assert!(matches!(read(11), Err(BodyError::TooLarge(10))));
        assert!(matches!(read(DRAIN + 1), Err(BodyError::TooLarge(10))));
        assert_eq!(
            BodyError::TooLarge(64 << 10).to_string(),
            "it is over 64 KiB"
        );
        assert_eq!(BodyError::TooLarge(4 << 20).to_string(), "it is over 4 MiB");
    }
}
