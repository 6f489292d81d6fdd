//! `berth serve [-H unix://PATH]… [--docker-socket]`: the Docker Engine API on unix sockets.

use std::sync::Arc;

use anyhow::{bail, Context};
use berth_api::{Listen, ServeConfig, TlsFiles};
use berth_engine::Engine;

use crate::cli::ServeArgs;

/// docker's well-known socket, which every client tries when DOCKER_HOST is unset.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

fn listen(host: &str, args: &ServeArgs) -> anyhow::Result<Listen> {
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Listen::Unix(path.into()));
    }
    if host == "fd://" {
        return Ok(Listen::Systemd);
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let (Some(ca), Some(cert), Some(key), true) = (
            args.tlscacert.clone(),
            args.tlscert.clone(),
            args.tlskey.clone(),
            args.tlsverify,
        ) else {
            bail!(
                "-H {host}: plain TCP would give anyone who can reach the port root on this host; \
                 serve it with --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (clients then \
                 need a certificate signed by CA), or use a unix socket"
            );
        };
        let addr = addr
            .parse()
            .with_context(|| format!("-H {host}: an address like tcp://0.0.0.0:2376"))?;
        return Ok(Listen::Tcp {
            addr,
            tls: TlsFiles { ca, cert, key },
        });
    }
    bail!("-H {host}: use unix://PATH or fd://")
}

pub fn run(engine: Engine, args: ServeArgs) -> anyhow::Result<()> {
    let mut listeners: Vec<Listen> = args
        .host
        .iter()
        .map(|h| listen(h, &args))
        .collect::<Result<_, _>>()?;
    if args.docker_socket {
        if std::os::unix::net::UnixStream::connect(DOCKER_SOCKET).is_ok() {
            eprintln!(
                "warning: {DOCKER_SOCKET} is served by another engine (dockerd?); not taking it"
            );
        } else {
            listeners.push(Listen::Unix(DOCKER_SOCKET.into()));
        }
    }
    berth_api::serve(
        Arc::new(engine),
        ServeConfig {
            listen: listeners,
            group: args.group,
        },
    )
    .context("berth serve")
}
