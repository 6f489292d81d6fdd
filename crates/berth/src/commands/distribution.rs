//! `pull`, `push`, `login`, `logout`, `registry serve|gc`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use berth_engine::distribution::progress::{self, Unextracted, Verb};
use berth_engine::Cancel;
use berth_engine::Engine;
use berth_image::Digest;
use berth_registry::client::Event;

use berth_image::Reference;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryCommand};
use crate::live::{progress_bar, time_left, Live};
use crate::output::write_out;

/// A layer's short ID and what it is doing (`transfer`, `extract`).
type Phase = (String, &'static str);

/// Where a pull reports: `berth pull` on stdout; `run` and `create` on stderr, since their
/// stdout is the container's (as docker's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Stdout,
    Stderr,
}

impl Report {
    fn writer(self) -> (Box<dyn Write + Send>, bool) {
        match self {
            Report::Stdout => (Box::new(std::io::stdout()), std::io::stdout().is_terminal()),
            Report::Stderr => (Box::new(std::io::stderr()), std::io::stderr().is_terminal()),
        }
    }

    fn write(self, text: &str) -> anyhow::Result<()> {
        match self {
            Report::Stdout => write_out(text),
            Report::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes())?;
                err.flush()?;
                Ok(())
            }
        }
    }
}

/// The progress of a pull or push: docker's plain lines (one per layer and state) when its
/// output is not a terminal, its live per-layer bars when it is.
struct Progress {
    live: Live<Box<dyn Write + Send>>,
    quiet: bool,
    verb: Verb,
    /// When each (layer, phase) started, and the bytes it had then, for the time left.
    starts: Mutex<HashMap<Phase, (Instant, u64)>>,
    /// Pulled layers downloaded and not yet shown unpacked.
    unextracted: Unextracted,
}

impl Progress {
    fn new(quiet: bool, verb: Verb) -> Self {
        Self::to(Report::Stdout, quiet, verb)
    }

    fn to(report: Report, quiet: bool, verb: Verb) -> Self {
        let (out, tty) = report.writer();
        Progress {
            live: Live::new(out, tty),
            quiet,
            verb,
            starts: Mutex::new(HashMap::new()),
            unextracted: Unextracted::default(),
        }
    }

    fn on(&self, e: Event) {
        if self.quiet {
            return;
        }
        if self.live.is_tty() {
            self.tty(&e);
        } else {
            self.plain(&e);
        }
    }

    /// docker's plain lines, exactly as berth always printed them: one per layer state, in
    /// the engine's words, a pulled layer complete once downloaded (no bytes, no unpacking).
    fn plain(&self, e: &Event) {
        match e {
            Event::BlobProgress { .. }
            | Event::LayerExtracting { .. }
            | Event::LayerExtracted { .. } => return,
            Event::BlobDone { digest, .. } if self.verb == Verb::Pull => {
                let key = digest.short();
                return self.live.set(key, &format!("{key}: Pull complete"));
            }
            _ => {}
        }
        let Some(s) = progress::status(self.verb, e) else {
            return;
        };
        match &s.id {
            Some(key) => self.live.set(key, &format!("{key}: {}", s.status)),
            None => self.live.print(&s.status),
        }
    }

    /// docker's live view: a line per layer, with bars while bytes move.
    fn tty(&self, e: &Event) {
        if self.verb == Verb::Pull {
            self.unextracted.see(e);
        }
        match e {
            Event::BlobStarted {
                digest,
                size,
                offset,
            } if *offset > 0 => {
                self.start(digest, "transfer", *offset);
                let key = digest.short();
                self.live
                    .print(&format!("{key}: Resuming at {offset} bytes"));
                return self.bar(digest, "transfer", "Downloading", *offset, *size);
            }
            Event::BlobStarted { digest, .. } => self.start(digest, "transfer", 0),
            Event::LayerExtracting { digest, done, .. } => self.start(digest, "extract", *done),
            Event::BlobRetry { digest, error, .. } => {
                return self
                    .live
                    .print(&format!("{}: Retrying ({error})", digest.short()));
            }
            _ => {}
        }
        let Some(s) = progress::status(self.verb, e) else {
            return;
        };
        match (&s.id, s.progress, e) {
            (None, _, _) => self.live.print(&s.status),
            (Some(_), Some((done, total)), Event::LayerExtracting { digest, .. }) => {
                self.bar(digest, "extract", &s.status, done, total)
            }
            (Some(_), Some((done, total)), Event::BlobProgress { digest, .. }) => {
                self.bar(digest, "transfer", &s.status, done, total)
            }
            (Some(key), _, _) => self.live.set(key, &format!("{key}: {}", s.status)),
        }
    }

    fn start(&self, digest: &Digest, phase: &'static str, at: u64) {
        self.starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((digest.short().to_string(), phase))
            .or_insert((Instant::now(), at));
    }

    fn bar(&self, digest: &Digest, phase: &'static str, state: &str, done: u64, total: u64) {
        let key = digest.short();
        let left = self
            .starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(key.to_string(), phase))
            .and_then(|(t, at)| {
                time_left(
                    done.saturating_sub(*at),
                    total.saturating_sub(done),
                    t.elapsed(),
                )
            });
        self.live.set_progress(
            key,
            &format!("{key}: {state}"),
            &progress_bar(done, total, left, self.live.width()),
        );
    }

    /// Ends the live view after a successful pull: a layer downloaded but not unpacked (its
    /// layer was already there) is complete too.
    fn succeeded(&self) {
        if self.live.is_tty() && !self.quiet {
            for s in self.unextracted.finish() {
                if let Some(key) = &s.id {
                    self.live.set(key, &format!("{key}: {}", s.status));
                }
            }
        }
        self.live.finish();
    }
}

pub fn pull(engine: &Engine, a: PullArgs) -> anyhow::Result<()> {
    if a.all_tags {
        return pull_all_tags(engine, &a);
    }
    let reference = pull_reporting(
        engine,
        &a.name,
        a.platform.as_deref(),
        a.quiet,
        Report::Stdout,
    )?;
    write_out(&format!("{reference}\n"))
}

/// Pulls `name` with docker's report on `report` (the header, the layers, the digest and
/// the status; not `pull`'s final reference line); returns the reference pulled.
pub fn pull_reporting(
    engine: &Engine,
    name: &str,
    platform: Option<&str>,
    quiet: bool,
    report: Report,
) -> anyhow::Result<Reference> {
    let reference = Reference::parse(name)?.with_default_tag();
    if !quiet {
        report.write(&format!(
            "{}: Pulling from {}\n",
            reference.tag().unwrap_or("latest"),
            reference.path()
        ))?;
    }
    // docker says whether the tag moved: compare what it named before and after.
    let before = engine.resolve_image(&reference.to_string()).ok();
    let progress = Progress::to(report, quiet, Verb::Pull);
    let (id, repo_digest) = engine.pull(name, platform, &|e| progress.on(e), &Cancel::new())?;
    progress.succeeded();
    if !quiet {
        let digest = repo_digest.rsplit('@').next().unwrap_or_default();
        let status = if before.as_ref() == Some(&id) {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        report.write(&format!(
            "Digest: {digest}\nStatus: {status} {}\n",
            reference.familiar()
        ))?;
    }
    Ok(reference)
}

/// `pull --all-tags REPO`: every tag the registry has, one after the other, as docker prints it.
fn pull_all_tags(engine: &Engine, a: &PullArgs) -> anyhow::Result<()> {
    use berth_engine::distribution::TagPull;
    let repo = berth_image::Reference::parse(&a.name)?;
    // Each tag's pull gets a progress view of its own, as docker draws them.
    let current: std::sync::Mutex<Option<Progress>> = std::sync::Mutex::new(None);
    let view = || {
        current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let quiet = a.quiet;
    let mut on_tag = |t: TagPull<'_>| -> Result<(), berth_engine::EngineError> {
        let written = match t {
            TagPull::Start { reference } => {
                *view() = Some(Progress::new(quiet, Verb::Pull));
                if quiet {
                    return Ok(());
                }
                write_out(&format!(
                    "{}: Pulling from {}\n",
                    reference.tag().unwrap_or("latest"),
                    reference.path()
                ))
            }
            TagPull::Done { repo_digest, .. } => {
                if let Some(p) = view().take() {
                    p.succeeded();
                }
                if quiet {
                    return Ok(());
                }
                let digest = repo_digest.rsplit('@').next().unwrap_or_default();
                write_out(&format!("Digest: {digest}\n"))
            }
        };
        written.map_err(|e| {
            berth_engine::EngineError::io(
                "write to standard output",
                std::io::Error::other(e.to_string()),
            )
        })
    };
    engine.pull_all_tags(
        &a.name,
        a.platform.as_deref(),
        &mut on_tag,
        &|e| {
            if let Some(p) = view().as_ref() {
                p.on(e);
            }
        },
        &Cancel::new(),
    )?;
    if a.quiet {
        return write_out(&format!("{}\n", repo.name()));
    }
    write_out(&format!(
        "Status: Downloaded newer image for {}\n{}\n",
        repo.familiar_name(),
        repo.name()
    ))
}

pub fn push(engine: &Engine, a: PushArgs) -> anyhow::Result<()> {
    // `push --all-tags REPO`: each local tag of the repository, as docker does.
    let names: Vec<String> = if a.all_tags {
        let repo = berth_image::Reference::parse(&a.name)?;
        engine
            .local_tags(&a.name)?
            .iter()
            .map(|t| repo.with_tag(t).map(|r| r.to_string()))
            .collect::<Result<_, _>>()?
    } else {
        vec![a.name.clone()]
    };
    let first = berth_image::Reference::parse(&a.name)?;
    if !a.quiet {
        write_out(&format!(
            "The push refers to repository [{}]\n",
            first.name()
        ))?;
    }
    for name in &names {
        let reference = berth_image::Reference::parse(name)?.with_default_tag();
        let progress = Progress::new(a.quiet, Verb::Push);
        let digest = engine.push(name, &|e| progress.on(e), &Cancel::new())?;
        progress.live.finish();
        if !a.quiet {
            write_out(&format!(
                "{}: digest: {digest}\n",
                reference.tag().unwrap_or("latest")
            ))?;
        }
    }
    Ok(())
}

fn registry_of(server: Option<&str>) -> String {
    server.unwrap_or("docker.io").to_string()
}

pub fn login(engine: &Engine, a: LoginArgs) -> anyhow::Result<()> {
    let registry = registry_of(a.server.as_deref());
    let user = match a.username {
        Some(u) => u,
        None => {
            if !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "login: give a username with -u when standard input is not a terminal"
                );
            }
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut u = String::new();
            std::io::stdin().lock().read_line(&mut u)?;
            u.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        let mut p = String::new();
        std::io::stdin().lock().read_line(&mut p)?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if std::io::stdin().is_terminal() {
        match crate::password::prompt("Password: ") {
            Ok(p) => p,
            // The shell's convention for Ctrl-C, with the terminal already put back.
            Err(crate::password::PromptError::Interrupted) => {
                return Err(crate::Exit::code(130).into())
            }
            Err(e) => anyhow::bail!("login: {e}"),
        }
    } else {
        anyhow::bail!("login: give the password with --password-stdin (or -p)");
    };
    engine.login(&registry, &user, &password)?;
    write_out("Login Succeeded\n")
}

pub fn logout(engine: &Engine, a: LogoutArgs) -> anyhow::Result<()> {
    let registry = registry_of(a.server.as_deref());
    if engine.logout(&registry)? {
        write_out(&format!("Removing login credentials for {registry}\n"))
    } else {
        write_out(&format!("Not logged in to {registry}\n"))
    }
}

pub fn registry(cmd: RegistryCommand) -> anyhow::Result<()> {
    use berth_registry::server;
    match cmd {
        RegistryCommand::Serve(a) => {
            let mut cfg = server::ServerConfig::new(&a.root, a.listen);
            cfg.s3 = super::registry_admin::s3_config(&a.storage)?;
            cfg.htpasswd = a.htpasswd;
            cfg.private_by_default = a.private_by_default;
            cfg.read_only = a.read_only;
            cfg.access_log = match a.access_log.as_str() {
                "off" => server::AccessLog::Off,
                "-" => server::AccessLog::Stdout,
                path => server::AccessLog::File(path.into()),
            };
            if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
                cfg.tls = Some(server::TlsFiles { cert, key });
            }
            let location = match &cfg.s3 {
                Some(s3) => s3.url(),
                None => a.root.display().to_string(),
            };
            eprintln!("berth registry: serving {location} on {}", a.listen);
            server::serve(cfg)?;
            Ok(())
        }
        RegistryCommand::User(c) => super::registry_admin::user(c),
        RegistryCommand::Repo(c) => super::registry_admin::repo(c),
        RegistryCommand::Gc(a) => {
            let storage = super::registry_admin::open_storage(&a.root, &a.storage)?;
            let report = storage.gc(&server::GcOptions {
                dry_run: a.dry_run,
                ..Default::default()
            })?;
            write_out(&format!(
                "{} blobs removed ({} bytes), {} kept, {} stale uploads removed\n",
                report.blobs_removed.len(),
                report.bytes_freed,
                report.blobs_kept,
                report.uploads_removed
            ))
        }
    }
}
