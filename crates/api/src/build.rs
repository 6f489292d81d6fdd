//! `POST /build`: docker's classic builder. The body is the context as a tar (plain, gzip or
//! zstd: the engine tells by the magic bytes), unpacked into a private directory that goes
//! when the build ends; the answer is docker's JSON lines — `{"stream": …}` for every line
//! `berth build` prints, `{"aux": {"ID": …}}` for the image, and `{"errorDetail": …}` when the
//! build fails after its first line. A build that fails before printing anything (a bad tar,
//! a malformed Dockerfile, a bad tag) is an error status, as docker answers it. A client that
//! hangs up cancels the build: its RUN containers are killed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use berth_engine::build::{BuildEvent, BuildOptions, TarContext};
use berth_engine::EngineError;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::stream::ChannelWriter;
use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new().route("/build", post(build))
}

/// The largest context taken, as sent (compressed or not): it is unpacked to disk, so this
/// bounds the disk one request can fill.
const MAX_CONTEXT: u64 = 2 << 30;

/// What the query asks, parsed. Parameters of docker's that do not change what berth builds
/// (`rm`, `forcerm`, `cachefrom`, resource limits) are accepted and not used: RUN containers
/// are always removed, and the cache is the local one.
#[derive(Debug, Default)]
struct Params {
    dockerfile: Option<PathBuf>,
    tags: Vec<String>,
    build_args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    pull: bool,
    quiet: bool,
    network: berth_engine::container::NetworkMode,
}

fn is_set(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true")
}

/// A JSON object of strings from the query; `null` values (a `--build-arg NAME` the client
/// had no value for) are left out, so the Dockerfile's default applies.
fn json_map(key: &str, v: &str) -> Result<BTreeMap<String, String>, ApiError> {
    if v.is_empty() {
        return Ok(BTreeMap::new());
    }
    let parsed: BTreeMap<String, Option<String>> = serde_json::from_str(v)
        .map_err(|e| ApiError::bad_request(format!("invalid {key} {v:?}: {e}")))?;
    Ok(parsed
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect())
}

/// The Dockerfile's path in the context: relative, and not out of it.
fn dockerfile_path(v: &str) -> Result<Option<PathBuf>, ApiError> {
    if v.is_empty() {
        return Ok(None);
    }
    let p = PathBuf::from(v);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ApiError::bad_request(format!(
            "invalid dockerfile {v:?}: a path inside the build context"
        )));
    }
    Ok(Some(p))
}

fn params(pairs: &[(String, String)]) -> Result<Params, ApiError> {
    let mut p = Params::default();
    for (k, v) in pairs {
        match k.as_str() {
            "dockerfile" => p.dockerfile = dockerfile_path(v)?,
            "t" if !v.is_empty() => p.tags.push(v.clone()),
            "buildargs" => p.build_args = json_map(k, v)?,
            "labels" => p.labels = json_map(k, v)?,
            "target" => p.target = Some(v.clone()).filter(|t| !t.is_empty()),
            "nocache" => p.no_cache = is_set(v),
            // docker-py sends `pull=True`; older clients send the image to pull.
            "pull" => p.pull = !v.is_empty() && !matches!(v.as_str(), "0" | "false" | "False"),
            "q" => p.quiet = is_set(v),
            "networkmode" => p.network = v.parse().map_err(ApiError::from)?,
            "cachefrom" if !v.is_empty() => {
                serde_json::from_str::<Vec<String>>(v)
                    .map_err(|e| ApiError::bad_request(format!("invalid cachefrom {v:?}: {e}")))?;
            }
            "platform" if !v.is_empty() && !v.starts_with("linux") => {
                return Err(ApiError::bad_request(format!(
                    "invalid platform {v:?}: berth builds linux images"
                )))
            }
            "remote" if !v.is_empty() => {
                return Err(ApiError::bad_request(
                    "remote build contexts are not supported: send the context as the body",
                ))
            }
            "version" if v == "2" => {
                return Err(ApiError::bad_request(
                    "BuildKit (version=2) is not supported: berth has the classic builder",
                ))
            }
            _ => {}
        }
    }
    Ok(p)
}

async fn build(
    State(api): State<Api>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let p = params(&pairs)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_CONTEXT) {
        return Err(too_large());
    }
    let context = receive_context(&api, body).await?;
    let dockerfile = p.dockerfile.clone();
    let context = tokio::task::spawn_blocking(move || {
        check_dockerfile(context.path(), dockerfile.as_deref()).map(|()| context)
    })
    .await
    .map_err(|e| ApiError::internal(format!("build: context check failed: {e}")))??;

    let (body, out, hangup) = crate::stream::body();
    let opts = BuildOptions {
        context: context.path().to_path_buf(),
        dockerfile: p.dockerfile,
        tags: p.tags,
        build_args: p.build_args,
        target: p.target,
        labels: p.labels,
        no_cache: p.no_cache,
        pull: p.pull,
        network: p.network,
        source_date_epoch: None,
        cancel: hangup,
    };
    let (started, answer) = oneshot::channel();
    let lines = Lines::new(out, p.quiet, started);
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let result = engine.build(&opts, &|e| lines.event(e));
        // The context goes as soon as the build no longer reads it.
        drop(context);
        lines.finish(result);
    });
    match answer.await {
        Ok(Ok(())) => Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::internal(
            "build: the build ended without an answer",
        )),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("build context too large: the limit is {MAX_CONTEXT} bytes"),
    )
}

/// Streams the request body into the engine's unpacker on a blocking thread, stopping at
/// [`MAX_CONTEXT`]. On any failure the partial context is already gone (it is a temporary
/// directory that the failed value drops).
async fn receive_context(api: &Api, mut body: Body) -> Result<TarContext, ApiError> {
    let (mut tx, rx) = tokio::io::duplex(256 << 10);
    let engine = api.engine.clone();
    let unpack = tokio::task::spawn_blocking(move || {
        engine.context_from_tar(tokio_util::io::SyncIoBridge::new(rx))
    });
    let mut sent = 0u64;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Err(e) => {
                failure = Some(ApiError::bad_request(format!(
                    "build: reading the context failed: {e}"
                )));
                break;
            }
        };
        sent += data.len() as u64;
        if sent > MAX_CONTEXT {
            failure = Some(too_large());
            break;
        }
        // The unpacker stopped reading (a bad tar): its error is the answer.
        if tx.write_all(&data).await.is_err() {
            break;
        }
    }
    // End of stream for the unpacker (a cut-off one when a failure stopped the loop).
    drop(tx);
    let unpacked = unpack
        .await
        .map_err(|e| ApiError::internal(format!("build: unpacking the context failed: {e}")))?;
    match (failure, unpacked) {
        (Some(e), _) => Err(e),
        (None, r) => r.map_err(ApiError::from),
    }
}

/// docker's answer for a Dockerfile that is not in the context, checked before the build so
/// that it is a 400 and not a missing-file 404; a symlink out of the context is refused.
fn check_dockerfile(context: &Path, dockerfile: Option<&Path>) -> Result<(), ApiError> {
    let rel = dockerfile.unwrap_or(Path::new("Dockerfile"));
    let missing = || {
        ApiError::bad_request(format!(
            "Cannot locate specified Dockerfile: {}",
            rel.display()
        ))
    };
    let real = context.join(rel).canonicalize().map_err(|_| missing())?;
    let root = context
        .canonicalize()
        .map_err(|e| ApiError::internal(format!("build: the context directory: {e}")))?;
    if !real.starts_with(&root) || !real.is_file() {
        return Err(missing());
    }
    Ok(())
}

/// The build's answer as docker's JSON lines, with `berth build`'s plain text.
struct Lines {
    quiet: bool,
    state: Mutex<LinesState>,
}

struct LinesState {
    out: ChannelWriter,
    /// Told when the first line goes out (or the build ended before any): until then an
    /// error can still be the response's status.
    started: Option<oneshot::Sender<Result<(), ApiError>>>,
    /// Stages running alongside others, whose lines get a `[name] ` prefix.
    concurrent: BTreeMap<usize, String>,
    /// `Successfully built` and the tags: held until the image's ID is sent, which docker
    /// sends first.
    held: Option<Vec<String>>,
}

impl Lines {
    fn new(
        out: ChannelWriter,
        quiet: bool,
        started: oneshot::Sender<Result<(), ApiError>>,
    ) -> Self {
        Self {
            quiet,
            state: Mutex::new(LinesState {
                out,
                started: Some(started),
                concurrent: BTreeMap::new(),
                held: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn event(&self, e: BuildEvent<'_>) {
        let mut st = self.lock();
        let (stage, text) = match e {
            BuildEvent::Note(text) => {
                if text.starts_with("Successfully built ") {
                    st.held = Some(Vec::new());
                }
                if let Some(held) = st.held.as_mut() {
                    held.push(text.to_string());
                    return;
                }
                (None, text)
            }
            BuildEvent::StageStarted {
                stage,
                name,
                concurrent,
            } => {
                if concurrent {
                    st.concurrent.insert(stage, name.to_string());
                }
                return;
            }
            BuildEvent::StageDone { stage } => {
                st.concurrent.remove(&stage);
                return;
            }
            BuildEvent::StepDone { .. } => return,
            BuildEvent::Step {
                stage,
                header: text,
            }
            | BuildEvent::Detail { stage, text }
            | BuildEvent::Output { stage, text } => (Some(stage), text),
        };
        if self.quiet {
            return;
        }
        let line = match stage.and_then(|s| st.concurrent.get(&s)) {
            Some(name) => text.lines().map(|l| format!("[{name}] {l}\n")).collect(),
            None => format!("{text}\n"),
        };
        st.send(&json!({ "stream": line }));
    }

    /// The end: the image's ID and the held lines, or the error — as the status when no line
    /// went out yet.
    fn finish(&self, result: Result<berth_image::Digest, EngineError>) {
        let mut st = self.lock();
        let held = st.held.take().unwrap_or_default();
        match result {
            Ok(id) => {
                st.send(&json!({"aux": {"ID": id.to_string()}}));
                if self.quiet {
                    st.send(&json!({ "stream": format!("{id}\n") }));
                }
                for text in held.iter().filter(|_| !self.quiet) {
                    st.send(&json!({ "stream": format!("{text}\n") }));
                }
            }
            Err(e) => {
                if let Some(started) = st.started.take() {
                    // Nothing went out (a quiet build, or a failure before the first step):
                    // the status tells, with docker's words for a failed RUN.
                    let status = crate::error::status_of(e.kind());
                    let answer = match docker_failure(&e) {
                        (Some(_), message) => ApiError::new(status, message),
                        (None, _) => ApiError::from(e),
                    };
                    let _ = started.send(Err(answer));
                    return;
                }
                for text in held {
                    st.send(&json!({ "stream": format!("{text}\n") }));
                }
                st.send(&error_line(&e));
            }
        }
    }
}

impl LinesState {
    fn send(&mut self, v: &Value) {
        if let Some(started) = self.started.take() {
            let _ = started.send(Ok(()));
        }
        let mut line = v.to_string();
        line.push('\n');
        // A client that hung up: the build is cancelled through the body's drop.
        let _ = self.out.write_all(line.as_bytes());
    }
}

/// docker's error line; a failed RUN in docker's words and with its exit code.
fn error_line(e: &EngineError) -> Value {
    let (code, message) = docker_failure(e);
    let mut detail = json!({ "message": message });
    if let Some(code) = code {
        detail["code"] = json!(code);
    }
    json!({"errorDetail": detail, "error": message})
}

/// A failed RUN's exit code and docker's message for it; other errors' own message.
fn docker_failure(e: &EngineError) -> (Option<i32>, String) {
    match e {
        EngineError::BuildFailed(f) => (
            Some(f.code),
            format!(
                "The command '{}' returned a non-zero code: {}",
                run_command(&f.header),
                f.code
            ),
        ),
        e => (None, e.to_string()),
    }
}

/// The command of a RUN step's header as docker quotes it: `/bin/sh -c …` for the shell
/// form, the words for the exec form, without the instruction's `--flags`.
fn run_command(header: &str) -> String {
    let text = header
        .split_once(" : ")
        .or_else(|| header.split_once("trigger: "))
        .map_or(header, |(_, t)| t);
    let mut rest = text
        .split_once(char::is_whitespace)
        .map_or("", |(_, r)| r)
        .trim_start();
    while rest.starts_with("--") {
        rest = rest
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r)
            .trim_start();
    }
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(words) => words.join(" "),
        Err(_) => format!("/bin/sh -c {rest}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::testing::{app, call};

    /// A ustar archive of `(path, content)` files.
    pub fn tar(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, content) in files {
            let mut h = [0u8; 512];
            h[..path.len()].copy_from_slice(path.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[108..115].copy_from_slice(b"0000000");
            h[116..123].copy_from_slice(b"0000000");
            h[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
            h[136..147].copy_from_slice(b"00000000000");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(content.as_bytes());
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    /// POSTs a context; the status and the answer's JSON lines (or its error body).
    pub async fn post_build(
        app: &axum::Router,
        query: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<Value>) {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/v1.44/build?{query}"))
            .header("content-type", "application/x-tar")
            .body(Body::from(body))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let lines = String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!(l)))
            .collect();
        (status, lines)
    }

    /// The `stream` texts of an answer, concatenated.
    pub fn stream_text(lines: &[Value]) -> String {
        lines.iter().filter_map(|l| l["stream"].as_str()).collect()
    }

    fn aux_id(lines: &[Value]) -> String {
        let ids: Vec<&str> = lines
            .iter()
            .filter_map(|l| l["aux"]["ID"].as_str())
            .collect();
        assert_eq!(ids.len(), 1, "{lines:?}");
        ids[0].to_string()
    }

    #[tokio::test]
    async fn scratch_build_streams_docker_lines_and_tags() {
        let (_dir, app) = app();
        let df = "FROM scratch\nCOPY hello.txt /hello.txt\nLABEL a=b\n";
        let ctx = tar(&[("Dockerfile", df), ("hello.txt", "hi\n")]);
        let (s, lines) = post_build(
            &app,
            "t=app:latest&t=app:v2&labels=%7B%22x%22%3A%22y%22%7D",
            ctx.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{lines:?}");
        let text = stream_text(&lines);
        assert!(
            text.starts_with(
                "Step 1/3 : FROM scratch\nStep 2/3 : COPY hello.txt /hello.txt\n ---> "
            ),
            "{text}"
        );
        let id = aux_id(&lines);
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
        let short = &id[7..19];
        assert!(text.ends_with(&format!(
            "Successfully built {short}\nSuccessfully tagged app:latest\nSuccessfully tagged app:v2\n"
        )), "{text}");
        // docker sends the ID before "Successfully built".
        let aux_at = lines.iter().position(|l| l.get("aux").is_some()).unwrap();
        let built_at = lines
            .iter()
            .position(|l| {
                l["stream"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Successfully built"))
            })
            .unwrap();
        assert!(aux_at < built_at, "{lines:?}");
        assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");

        // Again: from the cache, the same image; quietly, only the ID.
        let (_, again) = post_build(&app, "t=app:latest", ctx.clone()).await;
        assert!(
            stream_text(&again).contains(" ---> Using cache\n"),
            "{again:?}"
        );
        let (s, quiet) = post_build(&app, "q=1&labels=%7B%22x%22%3A%22y%22%7D", ctx).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            quiet,
            vec![
                json!({"aux": {"ID": id}}),
                json!({"stream": format!("{id}\n")})
            ]
        );
    }

    #[tokio::test]
    async fn bad_contexts_and_dockerfiles_are_400_before_any_line() {
        let (dir, app) = app();
        let (s, v) = post_build(&app, "", b"this is not a tar archive at all".repeat(40)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v:?}");
        assert!(v[0]["message"].as_str().unwrap().contains("tar"), "{v:?}");
        let (s, v) = post_build(&app, "", tar(&[("Dockerfile", "FROMM scratch\n")])).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v:?}");
        let (s, v) = post_build(
            &app,
            "dockerfile=other",
            tar(&[("Dockerfile", "FROM scratch\n")]),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v:?}");
        assert_eq!(v[0]["message"], "Cannot locate specified Dockerfile: other");
        let (s, _) = post_build(
            &app,
            "dockerfile=../../etc/passwd",
            tar(&[("Dockerfile", "FROM scratch\n")]),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = post_build(
            &app,
            "t=UPPER:case",
            tar(&[("Dockerfile", "FROM scratch\n")]),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, _) = post_build(
            &app,
            "platform=windows/amd64",
            tar(&[("Dockerfile", "FROM scratch\n")]),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        // A COPY of a missing file fails after the first line: an error line, not a status.
        let (s, lines) = post_build(
            &app,
            "",
            tar(&[("Dockerfile", "FROM scratch\nCOPY nope /\n")]),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let last = lines.last().unwrap();
        assert!(
            last["error"].as_str().is_some_and(|e| e.contains("nope")),
            "{lines:?}"
        );
        assert_eq!(last["error"], last["errorDetail"]["message"]);
        // No context is left behind by any of them.
        let leftovers: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| p.contains("build-context-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_context_declared_over_the_limit_is_413() {
        let (_dir, app) = app();
        let req = Request::builder()
            .method("POST")
            .uri("/build")
            .header("content-length", (super::MAX_CONTEXT + 1).to_string())
            .body(Body::from(tar(&[("Dockerfile", "FROM scratch\n")])))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) && out.len() < 10_000 {
                out.extend(walk(&e.path()));
            }
        }
        out
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// A router whose engine starts containers with the berth binary as their monitor (the
    /// test binary cannot be one), with the busybox test image imported as the CLI tests
    /// make it. `None` when the binary is not built.
    pub fn app_with_busybox(dir: &std::path::Path) -> Option<axum::Router> {
        let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let exe = std::env::var_os("BERTH_EXE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| ws.join("target/debug/berth"));
        if !exe.is_file() {
            return None;
        }
        let images = ws.join("target/test-images");
        let status = std::process::Command::new("flock")
            .arg(ws.join("target/test-images.lock"))
            .arg(ws.join("scripts/make-test-images.sh"))
            .arg(&images)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/make-test-images.sh");
        assert!(status.success(), "scripts/make-test-images.sh failed");
        let mut config = berth_engine::EngineConfig::new(dir);
        config.exe = exe;
        config.net = berth_net::NetSettings::new(
            dir.join("net"),
            berth_net::NetScope::Root,
            std::path::PathBuf::from(berth_engine::HOST_NET_LOCK),
        );
        let engine = berth_engine::Engine::open(config).expect("engine");
        let tar = std::fs::File::open(images.join("busybox-rootfs.tar")).expect("busybox tar");
        let opts = berth_engine::image::ImportOptions {
            reference: Some("busybox:latest".into()),
            changes: vec![r#"CMD ["sh"]"#.into()],
            message: None,
        };
        engine.import(tar, &opts).expect("import busybox");
        Some(crate::router(std::sync::Arc::new(engine)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_steps_stream_output_and_a_failing_run_is_an_error_line() {
        if !is_root() {
            eprintln!("SKIP run_steps_stream_output_and_a_failing_run_is_an_error_line: needs root (RUN containers)");
            return;
        }
        let dir = crate::testing::Root::new();
        let Some(app) = app_with_busybox(dir.path()) else {
            eprintln!("SKIP run_steps_stream_output_and_a_failing_run_is_an_error_line: no berth binary (cargo build -p berth, or set BERTH_EXE)");
            return;
        };
        let df = "FROM busybox\nRUN echo hello-from-run && echo second\n";
        let (s, lines) = post_build(&app, "t=runner", tar(&[("Dockerfile", df)])).await;
        assert_eq!(s, StatusCode::OK, "{lines:?}");
        let text = stream_text(&lines);
        assert!(
            text.contains("Step 2/2 : RUN echo hello-from-run && echo second\n ---> Running in "),
            "{text}"
        );
        assert!(text.contains("hello-from-run\nsecond\n"), "{text}");
        assert!(
            text.ends_with("Successfully tagged runner:latest\n"),
            "{text}"
        );
        aux_id(&lines);

        let df = "FROM busybox\nRUN echo before-failing\nRUN exit 3\n";
        let (s, lines) = post_build(&app, "t=broken", tar(&[("Dockerfile", df)])).await;
        assert_eq!(s, StatusCode::OK, "{lines:?}");
        assert!(
            stream_text(&lines).contains("before-failing\n"),
            "{lines:?}"
        );
        let msg = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
        assert_eq!(
            lines.last().unwrap(),
            &json!({"errorDetail": {"code": 3, "message": msg}, "error": msg})
        );
        // Quietly nothing went out before the failure: it is the status.
        let (s, v) = post_build(&app, "q=1", tar(&[("Dockerfile", df)])).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v:?}");
        assert_eq!(v, vec![json!({ "message": msg })]);
    }

    /// Whether a process with exactly this command line runs.
    fn process_runs(cmdline: &[u8]) -> bool {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == cmdline))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_hangs_up_cancels_the_build_and_its_run_container() {
        use http_body_util::BodyExt;
        if !is_root() {
            eprintln!("SKIP a_client_that_hangs_up_cancels_the_build_and_its_run_container: needs root (RUN containers)");
            return;
        }
        let dir = crate::testing::Root::new();
        let Some(app) = app_with_busybox(dir.path()) else {
            eprintln!("SKIP a_client_that_hangs_up_cancels_the_build_and_its_run_container: no berth binary (cargo build -p berth, or set BERTH_EXE)");
            return;
        };
        let df = "FROM busybox\nRUN echo started && sleep 4243\n";
        let req = Request::builder()
            .method("POST")
            .uri("/build?t=never")
            .body(Body::from(tar(&[("Dockerfile", df)])))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut seen = String::new();
        // The output line, not the step's header that also says it.
        while !seen.contains(r#"{"stream":"started\n"}"#) {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(30), body.frame())
                .await
                .expect("the RUN step's output in time")
                .expect("more output")
                .expect("a frame");
            if let Ok(data) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
        let sleeper = b"sleep\x004243\x00";
        // The shell forks and execs the sleep after it printed the line: look until it is
        // there (bounded), not at one instant (which failed twice in full runs).
        let started = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !process_runs(sleeper) && std::time::Instant::now() < started {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            process_runs(sleeper),
            "the RUN step's sleep should run: {seen}"
        );
        drop(body);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while process_runs(sleeper) {
            assert!(
                std::time::Instant::now() < deadline,
                "the RUN container outlived its client"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // The RUN container is removed once the killed step returns: the build's own
        // cleanup, which the client (gone) cannot wait for — so poll for it, bounded.
        loop {
            let (s, v) = call(&app, "GET", "/containers/json?all=1", None).await;
            assert_eq!(s, StatusCode::OK);
            if v == json!([]) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the RUN container was never removed: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (_, images) = call(&app, "GET", "/images/json", None).await;
        assert!(
            !images.to_string().contains("never:latest"),
            "nothing was tagged: {images}"
        );
    }
}
