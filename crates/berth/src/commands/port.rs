//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]` and `berth port --check CONTAINER`.

use berth_engine::Engine;

use crate::cli::PortArgs;
use crate::output::write_out;

pub fn run(engine: &Engine, args: PortArgs) -> anyhow::Result<()> {
    if args.check {
        // The kernel's rules first: a port whose DNAT entry is gone answers nothing, whatever
        // listens inside.
        let gaps = engine.firewall_gaps(&args.container)?;
        if !gaps.is_empty() {
            for g in &gaps {
                eprintln!("error: {g}");
            }
            eprintln!(
                "{}: its published ports are not (all) in the kernel's rules; `berth restart {}` puts them back",
                args.container, args.container
            );
            return Err(crate::Exit::code(1).into());
        }
        let hints = engine.port_hints(&args.container, std::time::Duration::from_secs(1))?;
        if hints.is_empty() {
            let ports = engine.published_ports(&args.container)?;
            if ports.is_empty() {
                return write_out(&format!("{}: no published ports\n", args.container));
            }
            let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
            return write_out(&format!(
                "{}: every published port has a listener ({})\n",
                args.container,
                list.join(", ")
            ));
        }
        for h in &hints {
            eprintln!("{h}");
        }
        return Err(crate::Exit::code(1).into());
    }
    let ports = engine.published_ports(&args.container)?;
    let wanted = args.port.as_deref().map(|p| {
        let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        (num.to_string(), proto.to_string())
    });
    let mut out = String::new();
    for p in &ports {
        let host = match p.host_ip {
            Some(ip) => format!("{ip}:{}", p.host_port),
            None => format!("0.0.0.0:{}", p.host_port),
        };
        match &wanted {
            Some((num, proto)) => {
                if p.container_port.to_string() == *num && p.proto.to_string() == *proto {
                    out.push_str(&format!("{host}\n"));
                }
            }
            None => out.push_str(&format!("{}/{} -> {host}\n", p.container_port, p.proto)),
        }
    }
    if let (Some((num, proto)), true) = (&wanted, out.is_empty()) {
        anyhow::bail!(
            "no public port '{num}/{proto}' published for {}",
            args.container
        );
    }
    write_out(&out)
}
