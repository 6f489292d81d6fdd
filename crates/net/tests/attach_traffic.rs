//! Privileged: attach containers (namespaces we create) and send real traffic to them —
//! directly, through published ports on 127.0.0.1 and on the host's address, and from a
//! second container through the host port (hairpin).

mod common;

use std::net::Ipv4Addr;

use berth_net::{parse_publish, FirewallGap, Network};
use common::*;

/// `release` (the end of a run): ports and lease freed at once, the veth pair left to the
/// kernel, which deletes it when the unmounted namespace dies.
#[test]
fn release_frees_ports_and_lease_and_the_kernel_takes_the_veth() {
    if !privileged("release_frees_ports_and_lease_and_the_kernel_takes_the_veth") {
        return;
    }
    let mut fx = fixture(8);
    let ns = fx.net.create_netns("r1").unwrap();
    let att = fx
        .net
        .attach("r1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    assert!(links().contains(&att.veth_host));

    let started = std::time::Instant::now();
    fx.net.release("r1").unwrap();
    let took = started.elapsed();
    assert!(map_elements(&fx.cfg.table, "hp_any").is_empty());
    assert!(fx.net.attachments().is_empty());
    assert!(!ns.exists(), "netns file removed");
    assert!(mounts_under(&fx.netns_dir()).is_empty());
    // The lease is free: another container may take the same address at once.
    let ns2 = fx.net.create_netns("r2").unwrap();
    let spec = berth_net::EndpointSpec {
        ip: Some(att.ip),
        ..Default::default()
    };
    let again = fx.net.connect("r2", &ns2, &spec).unwrap();
    assert_eq!(again.ip, att.ip);
    // The kernel's namespace cleanup runs in a worker: wait for it (bounded), not for RCU.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while links().contains(&att.veth_host) {
        assert!(
            std::time::Instant::now() < deadline,
            "veth {} outlived its namespace",
            att.veth_host
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("release took {took:?}");
    fx.net.detach("r2").unwrap();
}

#[test]
fn attach_configures_eth0_and_detach_removes_everything() {
    if !privileged("attach_configures_eth0_and_detach_removes_everything") {
        return;
    }
    let mut fx = fixture(1);
    let ns = fx.net.create_netns("c1").unwrap();
    assert!(berth_net::is_netns(&ns));
    let att = fx
        .net
        .attach(
            "c1",
            &ns,
            "web",
            &["www".into()],
            &parse_publish("8000").unwrap(),
        )
        .unwrap();
    assert_eq!(att.ip, Ipv4Addr::new(10, 201, 1, 2));
    assert_eq!(att.gateway, Ipv4Addr::new(10, 201, 1, 1));
    assert_eq!(att.prefix_len, 24);
    assert_eq!(att.mac, "02:42:0a:c9:01:02");
    assert_eq!(att.ifname, "eth0");
    assert!(att.veth_host.starts_with("vb") && att.veth_host.len() == 10);
    assert_ne!(att.ports[0].host_port, 0, "a random host port was chosen");

    let inside = in_netns(&ns, || {
        (
            sh(&["ip", "-o", "addr", "show"]),
            sh(&["ip", "route", "show"]),
            sh(&["ip", "-o", "link", "show"]),
        )
    });
    assert!(
        inside.0.contains("eth0    inet 10.201.1.2/24"),
        "{}",
        inside.0
    );
    assert!(
        inside.0.contains("lo    inet 127.0.0.1/8"),
        "lo is up: {}",
        inside.0
    );
    assert!(
        inside.1.contains("default via 10.201.1.1 dev eth0"),
        "{}",
        inside.1
    );
    assert!(inside.2.contains("02:42:0a:c9:01:02"), "{}", inside.2);

    // Host side: the veth is a port of our bridge, the bridge has the gateway address.
    let ports = sh(&["ip", "-o", "link", "show", "master", &fx.cfg.bridge]);
    assert!(ports.contains(&att.veth_host), "{ports}");
    let br = sh(&["ip", "-o", "-4", "addr", "show", "dev", &fx.cfg.bridge]);
    assert!(br.contains("10.201.1.1/24"), "{br}");
    assert_eq!(map_elements(&fx.cfg.table, "hp_any").len(), 1);
    assert_eq!(fx.net.attachments(), vec![att.clone()]);

    fx.net.detach("c1").unwrap();
    assert!(!links().contains(&att.veth_host));
    assert!(map_elements(&fx.cfg.table, "hp_any").is_empty());
    assert!(fx.net.attachments().is_empty());
    assert!(!ns.exists(), "netns file removed");
    assert!(mounts_under(&fx.netns_dir()).is_empty());
    // Detaching again is a no-op.
    fx.net.detach("c1").unwrap();
}

#[test]
fn traffic_direct_published_loopback_host_address_and_hairpin() {
    if !privileged("traffic_direct_published_loopback_host_address_and_hairpin") {
        return;
    }
    let mut fx = fixture(2);
    let ns1 = fx.net.create_netns("c1").unwrap();
    // One random host port on every address, one fixed port on 127.0.0.1 only.
    let fixed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut ports = parse_publish("8000").unwrap();
    ports.extend(parse_publish(&format!("127.0.0.1:{fixed}:8000")).unwrap());
    let a1 = fx.net.attach("c1", &ns1, "web", &[], &ports).unwrap();
    let hp = a1.ports[0].host_port;
    assert_eq!(a1.ports[1].host_port, fixed);
    fx.serve(&ns1, "0.0.0.0", 8000, "hello from c1");

    // (a) host → container IP.
    assert_eq!(http_get(sa(a1.ip, 8000)).unwrap(), "hello from c1");
    // (b) published port on 127.0.0.1 (random and fixed mappings).
    assert_eq!(
        http_get(sa(Ipv4Addr::LOCALHOST, hp)).unwrap(),
        "hello from c1"
    );
    assert_eq!(
        http_get(sa(Ipv4Addr::LOCALHOST, fixed)).unwrap(),
        "hello from c1"
    );
    // (c) published port on the host's own address (the 127.0.0.1-only one is not there).
    let host = host_address().expect("the host has a global IPv4 address");
    assert_eq!(http_get(sa(host, hp)).unwrap(), "hello from c1");
    assert!(http_get(sa(host, fixed)).is_err(), "127.0.0.1-only mapping");

    // (d) a second container on the same bridge: the host port (hairpin) and c1's own IP.
    let ns2 = fx.net.create_netns("c2").unwrap();
    let a2 = fx.net.attach("c2", &ns2, "client", &[], &[]).unwrap();
    assert_eq!(a2.ip, Ipv4Addr::new(10, 201, 2, 3));
    assert_eq!(http_get_in(&ns2, sa(a1.ip, 8000)).unwrap(), "hello from c1");
    assert_eq!(
        http_get_in(&ns2, sa(a2.gateway, hp)).unwrap(),
        "hello from c1"
    );
    assert_eq!(http_get_in(&ns2, sa(host, hp)).unwrap(), "hello from c1");
    // A container reaching its own published port through the host (bridge hairpin mode).
    assert_eq!(http_get_in(&ns1, sa(host, hp)).unwrap(), "hello from c1");

    // After detach the published port is gone from every address.
    fx.net.detach("c1").unwrap();
    assert!(http_get(sa(Ipv4Addr::LOCALHOST, hp)).is_err());
    assert!(http_get(sa(host, hp)).is_err());
    fx.net.detach("c2").unwrap();
}

#[test]
fn open_is_idempotent_and_state_survives_a_restart() {
    if !privileged("open_is_idempotent_and_state_survives_a_restart") {
        return;
    }
    let mut fx = fixture(3);
    let rules = rule_count(&fx.cfg.table);
    let ns = fx.net.create_netns("c1").unwrap();
    let att = fx
        .net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    fx.serve(&ns, "0.0.0.0", 8000, "still here");
    let hp = att.ports[0].host_port;

    // A second process (or the next CLI run) opens the same state: nothing duplicated,
    // nothing lost, traffic unaffected.
    let again = Network::open(fx.cfg.clone()).unwrap();
    let _third = Network::open(fx.cfg.clone()).unwrap();
    assert_eq!(rule_count(&fx.cfg.table), rules);
    assert_eq!(again.attachments(), vec![att.clone()]);
    assert_eq!(map_elements(&fx.cfg.table, "hp_any").len(), 1);
    assert_eq!(http_get(sa(Ipv4Addr::LOCALHOST, hp)).unwrap(), "still here");

    // A flushed table (a firewall reload) is not rewritten by the next open (opens sync only
    // after boot), but verify reports the damage and repair rebuilds the table from state.
    assert_eq!(fx.net.verify_firewall().unwrap(), vec![]);
    sh(&["nft", "flush", "table", "ip", &fx.cfg.table]);
    assert!(http_get(sa(Ipv4Addr::LOCALHOST, hp)).is_err());
    let _ = Network::open(fx.cfg.clone()).unwrap();
    assert!(http_get(sa(Ipv4Addr::LOCALHOST, hp)).is_err());
    // `flush table` empties the chains (the sets keep their elements).
    let gaps = fx.net.verify_firewall().unwrap();
    assert!(
        gaps.contains(&FirewallGap::Layout {
            table: fx.cfg.table.clone(),
            what: "2 of the 2 rules of chain hostports".into(),
        }),
        "{gaps:?}"
    );
    fx.net.repair_firewall().unwrap();
    assert_eq!(http_get(sa(Ipv4Addr::LOCALHOST, hp)).unwrap(), "still here");
    assert_eq!(fx.net.verify_firewall().unwrap(), vec![]);

    // A changed default subnet is refused while used… and the old one kept.
    let mut cfg = fx.cfg.clone();
    cfg.subnet = "10.201.103.0/24".parse().unwrap();
    let moved = Network::open(cfg.clone()).unwrap();
    assert_eq!(moved.network("bridge").unwrap().subnet, fx.cfg.subnet);
    fx.net.detach("c1").unwrap();
    // …and taken once the network is empty.
    let moved = Network::open(cfg).unwrap();
    assert_eq!(
        moved.network("bridge").unwrap().gateway,
        Ipv4Addr::new(10, 201, 103, 1)
    );
}

#[test]
fn diagnose_reads_listeners_of_a_real_namespace() {
    if !privileged("diagnose_reads_listeners_of_a_real_namespace") {
        return;
    }
    let mut fx = fixture(4);
    let ns = fx.net.create_netns("c1").unwrap();
    let published = parse_publish("3000:8051").unwrap();
    fx.net.attach("c1", &ns, "web", &[], &published).unwrap();
    fx.serve(&ns, "0.0.0.0", 8501, "streamlit");
    let pid = fx.last_pid();
    fx.serve(&ns, "127.0.0.1", 9000, "admin");

    let by_pid = berth_net::diagnose::listeners(pid).unwrap();
    let by_ns = berth_net::diagnose::listeners_in_netns(&ns).unwrap();
    assert_eq!(by_pid, by_ns);
    let ports: Vec<(u16, String)> = by_ns.iter().map(|l| (l.port, l.addr.to_string())).collect();
    assert!(ports.contains(&(8501, "0.0.0.0".into())), "{ports:?}");
    assert!(ports.contains(&(9000, "127.0.0.1".into())), "{ports:?}");

    let hints = berth_net::diagnose::hint("web", &published, &by_ns);
    assert_eq!(
        hints,
        vec!["warning: web: nothing listens on 8051/tcp inside the container; it listens on 8501/tcp — publish it with -p 3000:8501"]
    );
    let right = parse_publish("3000:8501").unwrap();
    assert!(berth_net::diagnose::hint("web", &right, &by_ns).is_empty());
    fx.net.detach("c1").unwrap();
}

#[test]
fn firewall_none_touches_no_firewall() {
    if !privileged("firewall_none_touches_no_firewall") {
        return;
    }
    let mut fx = fixture(5);
    let mut cfg = fx.cfg.clone();
    cfg.firewall = berth_net::FirewallKind::None;
    cfg.table = format!("bt_{}", hex(8));
    cfg.state_dir = fx.state.path().join("none");
    cfg.bridge = format!("bt{}", hex(6));
    cfg.subnet = "10.201.6.0/24".parse().unwrap();
    fx.bridges.push(cfg.bridge.clone());
    let mut net = Network::open(cfg.clone()).unwrap();
    assert!(
        !try_sh(&["nft", "list", "table", "ip", &cfg.table]),
        "no table"
    );
    let ns = net.create_netns("c1").unwrap();
    let a = net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    assert_ne!(
        a.ports[0].host_port, 0,
        "ports are still chosen and recorded"
    );
    net.destroy().unwrap();
    assert!(!links().contains(&cfg.bridge));
}

#[test]
fn a_containers_first_packets_are_not_lost_while_namespaces_come_and_go() {
    if !privileged("a_containers_first_packets_are_not_lost_while_namespaces_come_and_go") {
        return;
    }
    // The bridge hears that a new port has carrier from the kernel's link watcher, which
    // runs later — much later while other namespaces are torn down. Frames sent before it ran
    // were dropped: one connection in twenty stalled for the SYN retransmission.
    let mut fx = fixture(60);
    let ns1 = fx.net.create_netns("c1").unwrap();
    let a1 = fx.net.attach("c1", &ns1, "web", &[], &[]).unwrap();
    fx.serve(&ns1, "0.0.0.0", 8000, "hello");

    // Containers started and removed beside the test, as on a busy host.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut other = fixture(61);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("churn{}", n % 4);
                let ns = other.net.create_netns(&id).unwrap();
                other.net.attach(&id, &ns, &id, &[], &[]).unwrap();
                other.net.release(&id).unwrap();
                other.net.remove_netns(&id).unwrap();
                n += 1;
            }
        })
    };
    let mut lost = Vec::new();
    for i in 0..200 {
        let id = format!("k{i}");
        let ns = fx.net.create_netns(&id).unwrap();
        fx.net.attach(&id, &ns, &id, &[], &[]).unwrap();
        // One second is the SYN retransmission timeout: only a first SYN that got through
        // connects in time.
        if let Err(e) = http_get_in(&ns, sa(a1.ip, 8000)) {
            lost.push(format!("{id}: {e}"));
        }
        fx.net.detach(&id).unwrap();
        fx.net.remove_netns(&id).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    assert!(lost.is_empty(), "first connections lost: {lost:?}");
}
