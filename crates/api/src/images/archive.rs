//! `GET /images/get`, `GET /images/{name}/get` (docker save) and `POST /images/load`.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_engine::image::LoadEvent;
use http_body_util::BodyExt;
use serde_json::json;

use crate::error::ApiError;
use crate::Api;

/// Streams the named images as one docker-save tar. Every name is resolved first, so a
/// missing image is a 404 rather than a cut-off archive.
pub async fn save(api: Api, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image named: give names=IMAGE"));
    }
    {
        let names = names.clone();
        api.run(move |e| names.iter().try_for_each(|n| e.resolve_image(n).map(drop)))
            .await?;
    }
    let (body, out, _hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        // Once bytes are out the status is sent: a failure can only cut the archive short,
        // which the client's tar reader reports.
        if let Err(e) = engine.save(&names, out) {
            tracing::warn!(error = %e, "image save stopped");
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// Loads the archive in the body; docker's `{"stream":"Loaded image: …\n"}` lines.
pub async fn load(api: Api, body: Body) -> Result<Response, ApiError> {
    let input = body_reader(body);
    let events = api.run(move |e| e.load(input)).await?;
    let mut lines = String::new();
    for event in events {
        let text = match event {
            LoadEvent::Image(name) => format!("Loaded image: {name}\n"),
            LoadEvent::ImageId(id) => format!("Loaded image ID: {id}\n"),
        };
        lines.push_str(&json!({ "stream": text }).to_string());
        lines.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], lines).into_response())
}

/// A request body as a blocking `Read`, for engine calls that consume a stream on their
/// thread (load, import). A body that fails midway is a read error, never an early end, so a
/// cut-off upload cannot pass for a whole archive. (Would belong in `stream.rs`, which is
/// not this module's to change.)
pub fn body_reader(body: Body) -> impl Read + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let chunk = match frame {
                Ok(f) => match f.into_data() {
                    Ok(data) => Ok(data),
                    Err(_) => continue, // trailers carry no bytes
                },
                Err(e) => Err(std::io::Error::other(format!("request body: {e}"))),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    BodyReader {
        rx,
        buf: Bytes::new(),
    }
}

struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.buf = chunk?,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}
