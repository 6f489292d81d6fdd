//! Docker's Entrypoint/Cmd rules (moby `daemon/commit.go` `merge` and
//! `getEntrypointAndArgs`).

use super::{ContainerSpec, ImageConfig, SpecError};

/// The argv the container runs: entrypoint followed by cmd.
///
/// - `--entrypoint` replaces the image's entrypoint and drops the image's Cmd (Docker's
///   documented behaviour), even when it is the empty reset `--entrypoint ""`.
/// - Arguments after the image replace the image's Cmd.
/// - Shell-form `CMD`/`ENTRYPOINT` reach us already as `["/bin/sh", "-c", "…"]`.
pub fn resolve_command(
    container: &ContainerSpec,
    image: &ImageConfig,
) -> Result<Vec<String>, SpecError> {
    let (entrypoint, cmd): (&[String], &[String]) = match &container.entrypoint {
        Some(ep) => {
            // `--entrypoint ""` arrives as [""] from docker-compatible clients: a reset.
            let ep: &[String] = if ep.iter().all(String::is_empty) {
                &[]
            } else {
                ep
            };
            (ep, &container.cmd)
        }
        None => {
            let cmd = if container.cmd.is_empty() {
                image.cmd.as_deref().unwrap_or_default()
            } else {
                &container.cmd
            };
            (image.entrypoint.as_deref().unwrap_or_default(), cmd)
        }
    };
    let argv: Vec<String> = entrypoint.iter().chain(cmd).cloned().collect();
    match argv.first() {
        Some(first) if !first.is_empty() => Ok(argv),
        _ => Err(SpecError::NoCommand),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_cmd_table() {
        type Row<'a> = (
            &'a str,
            Option<&'a [&'a str]>, // image entrypoint
            Option<&'a [&'a str]>, // image cmd
            Option<&'a [&'a str]>, // --entrypoint
            &'a [&'a str],         // args
            Option<&'a [&'a str]>, // expected (None = no command)
        );
        let sh: &[&str] = &["/bin/sh", "-c", "python app.py"];
        let rows: &[Row] = &[
            (
                "image cmd only",
                None,
                Some(&["python3"]),
                None,
                &[],
                Some(&["python3"]),
            ),
            ("shell-form cmd", None, Some(sh), None, &[], Some(sh)),
            (
                "args override cmd",
                None,
                Some(&["python3"]),
                None,
                &["ls", "-l"],
                Some(&["ls", "-l"]),
            ),
            (
                "entrypoint + cmd",
                Some(&["/docker-entrypoint.sh"]),
                Some(&["nginx", "-g", "daemon off;"]),
                None,
                &[],
                Some(&["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
            ),
            (
                "args replace cmd, keep entrypoint",
                Some(&["/docker-entrypoint.sh"]),
                Some(&["nginx"]),
                None,
                &["sh"],
                Some(&["/docker-entrypoint.sh", "sh"]),
            ),
            (
                "--entrypoint drops image cmd",
                Some(&["/docker-entrypoint.sh"]),
                Some(&["nginx"]),
                Some(&["/bin/bash"]),
                &[],
                Some(&["/bin/bash"]),
            ),
            (
                "--entrypoint with args",
                None,
                Some(&["python3"]),
                Some(&["ls"]),
                &["-la", "/"],
                Some(&["ls", "-la", "/"]),
            ),
            (
                "--entrypoint reset + args",
                Some(&["/entry"]),
                Some(&["serve"]),
                Some(&[]),
                &["echo", "hi"],
                Some(&["echo", "hi"]),
            ),
            (
                "--entrypoint \"\" + args",
                Some(&["/entry"]),
                None,
                Some(&[""]),
                &["id"],
                Some(&["id"]),
            ),
            (
                "--entrypoint reset alone",
                Some(&["/entry"]),
                Some(&["serve"]),
                Some(&[]),
                &[],
                None,
            ),
            ("nothing at all", None, None, None, &[], None),
            ("empty image cmd", None, Some(&[]), None, &[], None),
            (
                "entrypoint only",
                Some(&["/bin/app"]),
                None,
                None,
                &[],
                Some(&["/bin/app"]),
            ),
            (
                "multi-word --entrypoint",
                None,
                Some(&["x"]),
                Some(&["/bin/sh", "-c"]),
                &["echo $HOME"],
                Some(&["/bin/sh", "-c", "echo $HOME"]),
            ),
        ];
        for (name, img_ep, img_cmd, ep, args, want) in rows {
            let image = ImageConfig {
                entrypoint: img_ep.map(v),
                cmd: img_cmd.map(v),
                ..Default::default()
            };
            let container = ContainerSpec {
                entrypoint: ep.map(v),
                cmd: v(args),
                ..Default::default()
            };
            let got = resolve_command(&container, &image);
            match want {
                Some(w) => assert_eq!(got, Ok(v(w)), "{name}"),
                None => assert_eq!(got, Err(SpecError::NoCommand), "{name}"),
            }
        }
    }

    #[test]
    fn no_command_message() {
        assert_eq!(SpecError::NoCommand.to_string(), "no command specified");
    }
}
