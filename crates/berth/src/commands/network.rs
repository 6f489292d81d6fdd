//! `berth network create|ls|inspect|rm|connect|disconnect|prune`.

use berth_engine::Engine;
use serde_json::json;

use crate::cli::{
    ContainerPruneArgs, NetworkCommand, NetworkConnectArgs, NetworkCreateArgs, NetworkInspectArgs,
    NetworkLsArgs, NetworkRmArgs,
};
use crate::output::{print_list, print_objects, write_out};

pub fn run(engine: &Engine, cmd: NetworkCommand) -> anyhow::Result<()> {
    match cmd {
        NetworkCommand::Create(a) => create(engine, a),
        NetworkCommand::Ls(a) => ls(engine, a),
        NetworkCommand::Inspect(a) => inspect(engine, a),
        NetworkCommand::Rm(a) => rm(engine, a),
        NetworkCommand::Connect(a) => {
            engine.network_connect(&a.network, &a.container, &a.alias)?;
            Ok(())
        }
        NetworkCommand::Disconnect(NetworkConnectArgs {
            network, container, ..
        }) => {
            engine.network_disconnect(&network, &container)?;
            Ok(())
        }
        NetworkCommand::Prune(a) => prune(engine, a),
    }
}

fn create(engine: &Engine, a: NetworkCreateArgs) -> anyhow::Result<()> {
    if a.driver != "bridge" {
        anyhow::bail!(
            "network create: driver {:?} is not supported: berth networks are bridges",
            a.driver
        );
    }
    let subnet = a
        .subnet
        .as_deref()
        .map(str::parse::<berth_net::Ipv4Net>)
        .transpose()?;
    let info = engine.create_network(&berth_net::NetworkSpec {
        name: a.name.clone(),
        subnet,
        gateway: a.gateway,
        internal: a.internal,
        bridge: None,
    })?;
    write_out(&format!("{}\n", info.id))
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
];

fn ls(engine: &Engine, a: NetworkLsArgs) -> anyhow::Result<()> {
    let mut items = Vec::new();
    for n in engine.network_resources()? {
        let id = n["Id"].as_str().unwrap_or_default();
        let id = if a.no_trunc {
            id
        } else {
            &id[..id.len().min(12)]
        };
        items.push(
            json!({"ID": id, "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
            "Internal": n["Internal"], "IPv6": n["EnableIPv6"], "Labels": ""}),
        );
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else {
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_list(format, default, HEADERS, &items)
}

fn inspect(engine: &Engine, a: NetworkInspectArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &a.networks {
        match engine.network_resource(name) {
            Ok(n) => out.push(n),
            Err(e) if e.is_not_found() => {
                eprintln!("Error: No such network: {name}");
                failed = true;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    print_objects(a.format.as_deref(), &out)?;
    if failed {
        return Err(crate::Exit::code(1).into());
    }
    Ok(())
}

fn rm(engine: &Engine, a: NetworkRmArgs) -> anyhow::Result<()> {
    super::for_each_name(&a.networks, |name| {
        engine.remove_network(name)?;
        write_out(&format!("{name}\n"))
    })
}

fn prune(engine: &Engine, a: ContainerPruneArgs) -> anyhow::Result<()> {
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let mut out = String::new();
    let removed = engine.prune_networks()?;
    if !removed.is_empty() {
        out.push_str("Deleted Networks:\n");
        for name in removed {
            out.push_str(&name);
            out.push('\n');
        }
    }
    write_out(&out)
}
