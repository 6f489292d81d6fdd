//! Privileged: user-defined networks (own bridges and subnets, names through /etc/hosts,
//! internal networks, isolation) and living next to Docker's drop-policy FORWARD chain.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_net::{parse_publish, write_in_place, EndpointSpec, NetError, NetworkSpec};
use common::*;

/// The address of `name` in a hosts file.
fn resolve(hosts: &str, name: &str) -> Option<Ipv4Addr> {
    hosts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let ip = f.next()?.parse().ok()?;
        f.any(|n| n == name).then_some(ip)
    })
}

#[test]
fn user_network_lifecycle_names_and_isolation() {
    if !privileged("user_network_lifecycle_names_and_isolation") {
        return;
    }
    let mut fx = fixture(20);
    let name = format!("front{}", hex(6));
    let bridge = format!("bt{}", hex(6));
    fx.bridges.push(bridge.clone());
    let spec = NetworkSpec {
        name: name.clone(),
        subnet: Some("10.201.21.0/24".parse().unwrap()),
        gateway: Some(Ipv4Addr::new(10, 201, 21, 254)),
        internal: false,
        bridge: Some(bridge.clone()),
    };
    let info = fx.net.create_network(&spec).unwrap();
    assert_eq!(info.bridge, bridge);
    assert_eq!(info.id.len(), 64);
    assert!(!info.predefined);
    let br = sh(&["ip", "-o", "-4", "addr", "show", "dev", &bridge]);
    assert!(br.contains("10.201.21.254/24"), "{br}");
    let names: Vec<String> = fx
        .net
        .networks()
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, vec!["bridge".to_string(), name.clone()]);

    // Refusals.
    assert!(matches!(
        fx.net.create_network(&spec),
        Err(NetError::NetworkExists(_))
    ));
    let overlapping = NetworkSpec {
        name: format!("x{}", hex(6)),
        subnet: Some("10.201.21.128/25".parse().unwrap()),
        ..NetworkSpec::default()
    };
    let e = fx.net.create_network(&overlapping).unwrap_err();
    assert!(matches!(e, NetError::SubnetOverlap { .. }), "{e}");
    let host_lan = NetworkSpec {
        name: format!("x{}", hex(6)),
        subnet: Some("127.0.0.0/8".parse().unwrap()),
        ..NetworkSpec::default()
    };
    let e = fx.net.create_network(&host_lan).unwrap_err();
    assert!(
        e.to_string()
            .contains("overlaps reserved range 127.0.0.0/8"),
        "{e}"
    );
    // A subnet the host already routes elsewhere (its LAN) is refused, naming the route.
    let lan = sh(&["ip", "-4", "-o", "route", "show"])
        .lines()
        .filter(|l| !l.starts_with("default") && !l.contains(" dev bt") && !l.contains(" dev br-"))
        .find_map(|l| {
            l.split_whitespace()
                .next()?
                .parse::<berth_net::Ipv4Net>()
                .ok()
        });
    if let Some(lan) = lan {
        let clash = NetworkSpec {
            name: format!("x{}", hex(6)),
            subnet: Some(lan),
            ..NetworkSpec::default()
        };
        let e = fx.net.create_network(&clash).unwrap_err();
        assert!(
            e.to_string().contains(&format!("overlaps route {lan}")),
            "{e}"
        );
    }
    let predefined = NetworkSpec {
        name: "bridge".into(),
        ..NetworkSpec::default()
    };
    assert!(matches!(
        fx.net.create_network(&predefined),
        Err(NetError::NetworkPredefined(_))
    ));

    // Two containers on the network, the second with an alias; hosts files on the host side.
    let hosts_dir = fx.state.path().join("hosts");
    std::fs::create_dir_all(&hosts_dir).unwrap();
    let hosts_path = |id: &str| hosts_dir.join(id);
    let write = |id: &str, text: &str| write_in_place(&hosts_path(id), text).unwrap();
    let attach = |fx: &mut Fx, id: &str, cname: &str, aliases: &[&str]| {
        let ns = fx.net.create_netns(id).unwrap();
        let a = fx
            .net
            .connect(
                id,
                &ns,
                &EndpointSpec {
                    network: name.clone(),
                    name: cname.into(),
                    hostname: Some(format!("{cname}-host")),
                    aliases: aliases.iter().map(|s| s.to_string()).collect(),
                    ..EndpointSpec::default()
                },
            )
            .unwrap();
        fx.net
            .refresh_hosts(std::slice::from_ref(&name), &write)
            .unwrap();
        (ns, a)
    };
    let (ns_web, web) = attach(&mut fx, "webid", "web", &["www"]);
    assert_eq!(
        web.ip,
        Ipv4Addr::new(10, 201, 21, 1),
        "gateway is .254, so .1 is free"
    );
    assert_eq!(web.gateway, Ipv4Addr::new(10, 201, 21, 254));
    fx.serve(&ns_web, "0.0.0.0", 8000, "web by name");
    let ino = std::fs::metadata(hosts_path("webid")).unwrap().ino();
    let (ns_db, db) = attach(&mut fx, "dbid", "db", &[]);

    let web_hosts = std::fs::read_to_string(hosts_path("webid")).unwrap();
    assert!(
        web_hosts.contains(&format!("{}\tweb-host\n", web.ip)),
        "{web_hosts}"
    );
    assert_eq!(resolve(&web_hosts, "db"), Some(db.ip), "{web_hosts}");
    let db_hosts = fx.net.hosts_for("dbid").unwrap();
    assert_eq!(resolve(&db_hosts, "web"), Some(web.ip));
    assert_eq!(resolve(&db_hosts, "www"), Some(web.ip), "alias");
    assert_eq!(resolve(&db_hosts, "webid"), Some(web.ip), "short ID");
    // db reaches web by the name in its hosts file.
    let ip = resolve(&db_hosts, "www").unwrap();
    assert_eq!(http_get_in(&ns_db, sa(ip, 8000)).unwrap(), "web by name");

    // A container started later appears in the earlier ones' files, same inode.
    let (_ns_late, late) = attach(&mut fx, "lateid", "late", &["cache"]);
    let web_hosts = std::fs::read_to_string(hosts_path("webid")).unwrap();
    assert_eq!(resolve(&web_hosts, "cache"), Some(late.ip), "{web_hosts}");
    assert_eq!(std::fs::metadata(hosts_path("webid")).unwrap().ino(), ino);

    // Isolation: a container on the default network reaches neither web's IP nor is it
    // listed; but it does reach web through a published port.
    let ns_other = fx.net.create_netns("otherid").unwrap();
    fx.net
        .attach("otherid", &ns_other, "other", &[], &[])
        .unwrap();
    assert!(resolve(&fx.net.hosts_for("otherid").unwrap(), "web").is_none());
    assert!(
        http_get_in(&ns_other, sa(web.ip, 8000)).is_err(),
        "isolated"
    );

    // Disconnect: gone from the others' hosts files after a refresh.
    fx.net.disconnect("lateid", &name).unwrap();
    fx.net
        .refresh_hosts(std::slice::from_ref(&name), &write)
        .unwrap();
    let web_hosts = std::fs::read_to_string(hosts_path("webid")).unwrap();
    assert!(resolve(&web_hosts, "cache").is_none(), "{web_hosts}");
    assert!(matches!(
        fx.net.disconnect("lateid", &name).unwrap_err()[0],
        NetError::NotAttached { .. }
    ));

    // Removal is refused while containers are attached, then removes bridge and entries.
    let e = fx.net.remove_network(&name).unwrap_err();
    assert!(matches!(e, NetError::NetworkInUse { .. }), "{e}");
    for id in ["webid", "dbid", "lateid", "otherid"] {
        fx.net.detach(id).unwrap();
    }
    fx.net.remove_network(&name).unwrap();
    assert!(!links().contains(&bridge));
    let sets = sh(&["nft", "list", "set", "ip", &fx.cfg.table, "bridges"]);
    assert!(!sets.contains(&bridge), "{sets}");
    assert!(matches!(
        fx.net.remove_network(&name),
        Err(NetError::NetworkNotFound(_))
    ));
}

#[test]
fn internal_network_and_pool_subnets() {
    if !privileged("internal_network_and_pool_subnets") {
        return;
    }
    let mut fx = fixture(22);
    let mut cfg = fx.cfg.clone();
    cfg.pool = "10.201.200.0/23".parse().unwrap();
    let mut net = berth_net::Network::open(cfg).unwrap();
    let a = net
        .create_network(&NetworkSpec {
            name: format!("i{}", hex(6)),
            internal: true,
            bridge: Some(format!("bt{}", hex(6))),
            ..NetworkSpec::default()
        })
        .unwrap();
    fx.bridges.push(a.bridge.clone());
    assert_eq!(a.subnet.to_string(), "10.201.200.0/24");
    assert!(a.internal);
    let b = net
        .create_network(&NetworkSpec {
            name: format!("p{}", hex(6)),
            bridge: Some(format!("bt{}", hex(6))),
            ..NetworkSpec::default()
        })
        .unwrap();
    fx.bridges.push(b.bridge.clone());
    assert_eq!(
        b.subnet.to_string(),
        "10.201.201.0/24",
        "next free /24 of the pool"
    );

    let ns = net.create_netns("c1").unwrap();
    let spec = EndpointSpec {
        network: a.name.clone(),
        name: "c1".into(),
        ..EndpointSpec::default()
    };
    let att = net.connect("c1", &ns, &spec).unwrap();
    let routes = in_netns(&ns, || sh(&["ip", "route", "show"]));
    assert!(
        !routes.contains("default"),
        "internal: no default route: {routes}"
    );
    let internal = sh(&["nft", "list", "set", "ip", &fx.cfg.table, "internal"]);
    assert!(internal.contains(&a.bridge), "{internal}");
    // Second network for the same container: eth1, and still no default route.
    let spec_b = EndpointSpec {
        network: b.name.clone(),
        name: "c1".into(),
        ..EndpointSpec::default()
    };
    let att_b = net.connect("c1", &ns, &spec_b).unwrap();
    assert_eq!(
        (att.ifname.as_str(), att_b.ifname.as_str()),
        ("eth0", "eth1")
    );
    assert!(matches!(
        net.connect("c1", &ns, &spec_b),
        Err(NetError::AlreadyAttached { .. })
    ));
    assert_eq!(net.container_attachments("c1").len(), 2);
    net.detach("c1").unwrap();
    net.remove_network(&a.name).unwrap();
    net.remove_network(&b.name).unwrap();
}

/// Runs `body` on a thread in a brand-new network namespace, so that the Docker-like firewall
/// it builds never touches the host's.
fn in_fresh_netns(body: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        sh(&["ip", "link", "set", "lo", "up"]);
        body();
    })
    .join()
    .unwrap();
}

/// An "upstream" machine: a namespace joined to ours by a veth, 198.51.100.2 ↔ .1.
fn upstream(fx: &mut Fx) -> std::path::PathBuf {
    let up = fx.net.create_netns("upstream").unwrap();
    sh(&[
        "ip",
        "link",
        "add",
        "uplink",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        up.to_str().unwrap(),
    ]);
    sh(&["ip", "addr", "add", "198.51.100.1/24", "dev", "uplink"]);
    sh(&["ip", "link", "set", "uplink", "up"]);
    in_netns(&up, || {
        sh(&["ip", "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
        sh(&["ip", "link", "set", "eth0", "up"]);
    });
    fx.serve(&up, "198.51.100.2", 9000, "upstream");
    up
}

fn docker_like_firewall(with_docker_user: bool) {
    let mut script = String::from(
        "add table ip filter\n\
         add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }\n",
    );
    if with_docker_user {
        script.push_str(
            "add chain ip filter DOCKER-USER\nadd rule ip filter FORWARD jump DOCKER-USER\n",
        );
    }
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn berth_rules(chain: &str) -> usize {
    sh(&["nft", "-a", "list", "chain", "ip", "filter", chain])
        .lines()
        .filter(|l| l.contains("comment \"berth:"))
        .count()
}

fn outbound_and_published_work(fx: &Fx, ns: &Path, hp: u16) -> (bool, bool) {
    let out =
        http_get_in(ns, sa(Ipv4Addr::new(198, 51, 100, 2), 9000)).is_ok_and(|b| b == "upstream");
    let up = fx.netns_dir().join("upstream");
    let inbound = http_get_in(&up, sa(Ipv4Addr::new(198, 51, 100, 1), hp)).is_ok_and(|b| b == "c1");
    (out, inbound)
}

#[test]
fn good_neighbour_with_dockers_drop_policy() {
    if !privileged("good_neighbour_with_dockers_drop_policy") {
        return;
    }
    in_fresh_netns(|| {
        docker_like_firewall(true);
        let mut fx = fixture(30);
        let _up = upstream(&mut fx);
        let ns = fx.net.create_netns("c1").unwrap();
        let a = fx
            .net
            .attach("c1", &ns, "c1", &[], &parse_publish("8000").unwrap())
            .unwrap();
        fx.serve(&ns, "0.0.0.0", 8000, "c1");
        let hp = a.ports[0].host_port;

        // berth's accept rules went into DOCKER-USER; Docker's FORWARD is as it was.
        assert_eq!(berth_rules("DOCKER-USER"), 2);
        assert_eq!(berth_rules("FORWARD"), 0);
        let fwd = sh(&["nft", "list", "chain", "ip", "filter", "FORWARD"]);
        assert!(
            fwd.contains("policy drop") && fwd.contains("jump DOCKER-USER"),
            "{fwd}"
        );
        if try_sh(&["iptables", "-V"]) {
            let s = sh(&["iptables", "-S", "DOCKER-USER"]);
            assert!(
                s.contains(&format!(
                    "-i {} -m comment --comment \"berth:",
                    fx.cfg.bridge
                )),
                "{s}"
            );
        }
        assert_eq!(outbound_and_published_work(&fx, &ns, hp), (true, true));

        // Control: without berth's rules Docker's policy drops both directions…
        for l in sh(&["nft", "-a", "list", "chain", "ip", "filter", "DOCKER-USER"]).lines() {
            if let Some(h) = l.split("# handle ").nth(1).filter(|_| l.contains("berth:")) {
                sh(&[
                    "nft",
                    "delete",
                    "rule",
                    "ip",
                    "filter",
                    "DOCKER-USER",
                    "handle",
                    h.trim(),
                ]);
            }
        }
        assert_eq!(outbound_and_published_work(&fx, &ns, hp), (false, false));
        // …and the monitors' periodic check puts them back.
        fx.net.ensure_neighbours().unwrap();
        assert_eq!(berth_rules("DOCKER-USER"), 2);
        assert_eq!(outbound_and_published_work(&fx, &ns, hp), (true, true));

        // Docker without DOCKER-USER (older or customised): the top of FORWARD.
        sh(&["nft", "delete", "table", "ip", "filter"]);
        docker_like_firewall(false);
        assert_eq!(outbound_and_published_work(&fx, &ns, hp), (false, false));
        fx.net.ensure_neighbours().unwrap();
        assert_eq!(berth_rules("FORWARD"), 2);
        assert_eq!(outbound_and_published_work(&fx, &ns, hp), (true, true));

        // Teardown takes berth's rules out of Docker's table and leaves the rest alone.
        fx.net.detach("c1").unwrap();
        fx.net.destroy().unwrap();
        assert_eq!(berth_rules("FORWARD"), 0);
        assert!(sh(&["nft", "list", "chain", "ip", "filter", "FORWARD"]).contains("policy drop"));
    });
}
