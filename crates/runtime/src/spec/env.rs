//! The container's environment, merged the way Docker does (moby `daemon/commit.go` `merge`,
//! `container.CreateDaemonEnvironment`, `ReplaceOrAppendEnvValues`) plus the `HOME` runc adds.

/// Docker's `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// `PATH`, `HOSTNAME` and (with a tty) `TERM=xterm` first; then the user's `-e` entries, then
/// the image's entries the user did not set; a later entry replaces an earlier one with the
/// same key in place, and a bare `KEY` (no `=`) removes it. `HOME` comes last, from the
/// passwd entry, unless something already set it.
pub fn merge_env(
    image_env: &[String],
    container_env: &[String],
    home: &str,
    hostname: &str,
    tty: bool,
) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_string());
    }

    // Container config env: the user's entries, then the image's that the user did not name.
    let user_keys: Vec<&str> = container_env.iter().map(|e| key(e)).collect();
    let config_env = container_env
        .iter()
        .chain(image_env.iter().filter(|e| !user_keys.contains(&key(e))));

    // Replace in place or append; a bare key unsets.
    let mut slots: Vec<Option<String>> = env.into_iter().map(Some).collect();
    for entry in config_env {
        let k = key(entry);
        let existing = slots
            .iter()
            .position(|s| s.as_deref().is_some_and(|s| key(s) == k));
        match (entry.contains('='), existing) {
            (true, Some(i)) => slots[i] = Some(entry.clone()),
            (true, None) => slots.push(Some(entry.clone())),
            (false, Some(i)) => slots[i] = None,
            (false, None) => {}
        }
    }
    let mut env: Vec<String> = slots.into_iter().flatten().collect();
    if !env.iter().any(|e| key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn env_table() {
        let path = format!("PATH={DEFAULT_PATH}");
        type Row<'a> = (&'a str, &'a [&'a str], &'a [&'a str], bool, Vec<String>);
        let rows: Vec<Row> = vec![
            (
                "defaults only",
                &[],
                &[],
                false,
                v(&[&path, "HOSTNAME=abc", "HOME=/root"]),
            ),
            (
                "tty adds TERM",
                &[],
                &[],
                true,
                v(&[&path, "HOSTNAME=abc", "TERM=xterm", "HOME=/root"]),
            ),
            (
                "image PATH replaces default in place",
                &["PATH=/opt/bin:/bin", "LANG=C.UTF-8"],
                &[],
                false,
                v(&[
                    "PATH=/opt/bin:/bin",
                    "HOSTNAME=abc",
                    "LANG=C.UTF-8",
                    "HOME=/root",
                ]),
            ),
            (
                "user env before image env, user wins",
                &["LANG=C.UTF-8", "PORT=80"],
                &["PORT=8000", "DEBUG=1"],
                false,
                v(&[
                    &path,
                    "HOSTNAME=abc",
                    "PORT=8000",
                    "DEBUG=1",
                    "LANG=C.UTF-8",
                    "HOME=/root",
                ]),
            ),
            (
                "user overrides HOSTNAME and TERM",
                &[],
                &["HOSTNAME=web", "TERM=dumb"],
                true,
                v(&[&path, "HOSTNAME=web", "TERM=dumb", "HOME=/root"]),
            ),
            (
                "explicit HOME wins over passwd",
                &["HOME=/app"],
                &[],
                false,
                v(&[&path, "HOSTNAME=abc", "HOME=/app"]),
            ),
            (
                "bare key unsets a default",
                &["LANG=C.UTF-8"],
                &["TERM"],
                true,
                v(&[&path, "HOSTNAME=abc", "LANG=C.UTF-8", "HOME=/root"]),
            ),
            (
                "bare key hides the image's value",
                &["LANG=C.UTF-8"],
                &["LANG"],
                false,
                v(&[&path, "HOSTNAME=abc", "HOME=/root"]),
            ),
            (
                "later user entry replaces earlier",
                &[],
                &["A=1", "A=2"],
                false,
                v(&[&path, "HOSTNAME=abc", "A=2", "HOME=/root"]),
            ),
            (
                "value may contain =",
                &["OPTS=-Dx=y"],
                &[],
                false,
                v(&[&path, "HOSTNAME=abc", "OPTS=-Dx=y", "HOME=/root"]),
            ),
        ];
        for (name, image, user, tty, want) in rows {
            assert_eq!(
                merge_env(&v(image), &v(user), "/root", "abc", tty),
                want,
                "{name}"
            );
        }
    }
}
