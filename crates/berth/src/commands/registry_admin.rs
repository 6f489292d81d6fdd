//! `berth registry user add|passwd|rm|ls` and `berth registry repo ls|inspect|private|public|rm`:
//! managing a registry's users and repositories on the machine that serves it, without editing
//! its files by hand. A running `registry serve` sees each change at once (it re-reads the
//! htpasswd file when it changes, and repository settings on every request).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::Context;
use berth_registry::server::users::Htpasswd;
use berth_registry::server::{S3Config, Storage};

use crate::cli::{RegistryRepoArgs, RegistryRepoCommand, RegistryStorageArgs, RegistryUserCommand};
use crate::output::write_out;

pub fn user(cmd: RegistryUserCommand) -> anyhow::Result<()> {
    match cmd {
        RegistryUserCommand::Add(a) => {
            let mut users = Htpasswd::load(&a.file.htpasswd)?;
            let password = password(a.password_stdin)?;
            users.add(&a.name, &password)?;
            users.save()?;
            write_out(&format!("{}\n", a.name))
        }
        RegistryUserCommand::Passwd(a) => {
            let mut users = Htpasswd::load(&a.file.htpasswd)?;
            // Known before the password is asked for.
            if !users.names().any(|n| n == a.name) {
                anyhow::bail!("no such user: {}", a.name);
            }
            let password = password(a.password_stdin)?;
            users.set_password(&a.name, &password)?;
            users.save()?;
            write_out(&format!("{}\n", a.name))
        }
        RegistryUserCommand::Rm(a) => {
            let mut users = Htpasswd::load(&a.file.htpasswd)?;
            users.remove(&a.name)?;
            users.save()?;
            write_out(&format!("{}\n", a.name))
        }
        RegistryUserCommand::Ls(a) => {
            let users = Htpasswd::load(&a.htpasswd)?;
            let mut out = String::new();
            for n in users.names() {
                out.push_str(n);
                out.push('\n');
            }
            write_out(&out)
        }
    }
}

/// The new password: one line of stdin, or typed twice at an unechoed prompt.
fn password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut p = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut p)
            .context("read the password from stdin")?;
        return Ok(p.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = crate::password::prompt("Password: ")?;
    let again = crate::password::prompt("Password (again): ")?;
    if first != again {
        anyhow::bail!("the passwords differ: nothing changed");
    }
    Ok(first)
}

/// The S3 bucket `--storage` names, if any.
pub fn s3_config(a: &RegistryStorageArgs) -> anyhow::Result<Option<S3Config>> {
    let Some(url) = &a.storage else {
        return Ok(None);
    };
    Ok(Some(S3Config::from_url(
        url,
        a.s3_endpoint.as_deref(),
        a.s3_region.as_deref(),
    )?))
}

/// The registry's storage: the directory `root`, or the bucket `--storage` names (checked:
/// an unreachable store or refused credentials fail here, naming the bucket).
pub fn open_storage(root: &Path, a: &RegistryStorageArgs) -> anyhow::Result<Storage> {
    match s3_config(a)? {
        Some(cfg) => {
            let url = cfg.url();
            Storage::open_s3(cfg, root).with_context(|| format!("open the registry at {url}"))
        }
        None => {
            Storage::open(root).with_context(|| format!("open the registry at {}", root.display()))
        }
    }
}

pub fn repo(cmd: RegistryRepoCommand) -> anyhow::Result<()> {
    let open = |a: &RegistryRepoArgs| -> anyhow::Result<Storage> {
        let store = open_storage(&a.root.root, &a.root.storage)?;
        if !store.repo_exists(&a.name) {
            anyhow::bail!("no such repository: {}", a.name);
        }
        Ok(store)
    };
    match cmd {
        RegistryRepoCommand::Ls(a) => {
            let store = open_storage(&a.root, &a.storage)?;
            let mut rows = vec![vec![
                "REPOSITORY".to_string(),
                "VISIBILITY".to_string(),
                "TAGS".to_string(),
            ]];
            for r in store.repositories()? {
                let tags = store.tags(&r)?.unwrap_or_default();
                rows.push(vec![
                    r.clone(),
                    visibility(&store, &r),
                    tags.len().to_string(),
                ]);
            }
            write_out(&berth_format::tabwrite(&rows))
        }
        RegistryRepoCommand::Inspect(a) => {
            let store = open(&a)?;
            let meta = store.repo_meta(&a.name);
            let mut tags = Vec::new();
            for t in store.tags(&a.name)?.unwrap_or_default() {
                let digest = store.resolve_tag(&a.name, &t).map(|d| d.to_string());
                tags.push(serde_json::json!({"Tag": t, "Digest": digest}));
            }
            let v = serde_json::json!({
                "Name": a.name,
                "Owner": meta.as_ref().map(|m| m.owner.clone()),
                "Visibility": visibility(&store, &a.name),
                "Tags": tags,
            });
            write_out(&format!("{}\n", serde_json::to_string_pretty(&v)?))
        }
        RegistryRepoCommand::Private(a) => set_private(&open(&a)?, &a.name, true),
        RegistryRepoCommand::Public(a) => set_private(&open(&a)?, &a.name, false),
        RegistryRepoCommand::Rm(a) => {
            let store = open(&a)?;
            store.remove_repository(&a.name)?;
            write_out(&format!("{}\n", a.name))
        }
    }
}

fn set_private(store: &Storage, name: &str, private: bool) -> anyhow::Result<()> {
    store.set_private(name, private)?;
    write_out(&format!(
        "{name}: {}\n",
        if private { "private" } else { "public" }
    ))
}

/// `private` or `public` as the repository's own setting says (`access.json` may still
/// override it for the server).
fn visibility(store: &Storage, repo: &str) -> String {
    match store.repo_meta(repo) {
        Some(m) if m.private => "private".into(),
        Some(_) => "public".into(),
        None => "default".into(),
    }
}
