//! `pull`, `push`, `login`, `logout`, `registry serve|gc`.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use berth_engine::Engine;
use berth_registry::client::Event;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryCommand};
use crate::output::write_out;

/// docker's plain progress lines: one per layer and state.
fn progress(quiet: bool, verb: &'static str) -> impl Fn(Event) + Sync {
    let seen = Mutex::new(BTreeSet::new());
    move |e: Event| {
        if quiet {
            return;
        }
        let line = match &e {
            Event::BlobExists { digest, .. } => Some(format!(
                "{}: {}",
                digest.short(),
                if verb == "Push" {
                    "Layer already exists"
                } else {
                    "Already exists"
                }
            )),
            Event::BlobStarted { digest, offset, .. } if *offset > 0 => {
                Some(format!("{}: Resuming at {offset} bytes", digest.short()))
            }
            Event::BlobStarted { digest, .. } => Some(format!(
                "{}: {}",
                digest.short(),
                if verb == "Push" {
                    "Preparing"
                } else {
                    "Pulling fs layer"
                }
            )),
            Event::BlobRetry { digest, error, .. } => {
                Some(format!("{}: Retrying ({error})", digest.short()))
            }
            Event::BlobMounted { digest, from } => {
                Some(format!("{}: Mounted from {from}", digest.short()))
            }
            Event::BlobDone { digest, .. } => Some(format!(
                "{}: {}",
                digest.short(),
                if verb == "Push" {
                    "Pushed"
                } else {
                    "Pull complete"
                }
            )),
            Event::MirrorFailed { mirror, error } => Some(format!(
                "mirror {mirror} failed ({error}); trying the next source"
            )),
            _ => None,
        };
        if let Some(l) = line {
            if seen.lock().map(|mut s| s.insert(l.clone())).unwrap_or(true) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{l}");
                let _ = out.flush();
            }
        }
    }
}

pub fn pull(engine: &mut Engine, a: PullArgs) -> anyhow::Result<()> {
    if a.all_tags {
        anyhow::bail!("pull --all-tags is not supported: pull each tag");
    }
    let reference = berth_image::Reference::parse(&a.name)?.with_default_tag();
    if !a.quiet {
        write_out(&format!(
            "{}: Pulling from {}\n",
            reference.tag().unwrap_or("latest"),
            reference.path()
        ))?;
    }
    let (_, repo_digest) =
        engine.pull(&a.name, a.platform.as_deref(), &progress(a.quiet, "Pull"))?;
    if a.quiet {
        return write_out(&format!("{reference}\n"));
    }
    let digest = repo_digest.rsplit('@').next().unwrap_or_default();
    write_out(&format!(
        "Digest: {digest}\nStatus: Downloaded newer image for {}\n{reference}\n",
        reference.familiar()
    ))
}

pub fn push(engine: &mut Engine, a: PushArgs) -> anyhow::Result<()> {
    if a.all_tags {
        anyhow::bail!("push --all-tags is not supported: push each tag");
    }
    let reference = berth_image::Reference::parse(&a.name)?.with_default_tag();
    if !a.quiet {
        write_out(&format!(
            "The push refers to repository [{}]\n",
            reference.name()
        ))?;
    }
    let digest = engine.push(&a.name, &progress(a.quiet, "Push"))?;
    if !a.quiet {
        write_out(&format!(
            "{}: digest: {digest}\n",
            reference.tag().unwrap_or("latest")
        ))?;
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
            cfg.htpasswd = a.htpasswd;
            cfg.private_by_default = a.private_by_default;
            if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
                cfg.tls = Some(server::TlsFiles { cert, key });
            }
            eprintln!(
                "berth registry: serving {} on {}",
                a.root.display(),
                a.listen
            );
            server::serve(cfg)?;
            Ok(())
        }
        RegistryCommand::Gc(a) => {
            let storage = server::Storage::open(&a.root)?;
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
