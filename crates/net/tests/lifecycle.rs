//! Privileged: refusals leave nothing behind, teardown is exact over many cycles, and a crash
//! is reconciled.

mod common;

use std::net::TcpListener;

use berth_net::{parse_publish, NetError, Network};
use common::*;

/// Everything berth could leave behind, for before/after comparisons.
#[derive(Debug, PartialEq)]
struct Snapshot {
    bridge_ports: String,
    vb_links: Vec<String>,
    hp_any: Vec<serde_json::Value>,
    hp_ip: Vec<serde_json::Value>,
    records: Vec<String>,
    netns_files: Vec<String>,
    attachments: usize,
}

fn snapshot(fx: &Fx, known_veths: &[String]) -> Snapshot {
    let mut vb_links: Vec<String> = links()
        .into_iter()
        .filter(|l| known_veths.contains(l))
        .collect();
    vb_links.sort();
    let mut records = files(&fx.cfg.state_dir.join("containers"));
    records.sort();
    let mut netns_files = files(&fx.netns_dir());
    netns_files.sort();
    Snapshot {
        bridge_ports: sh(&["ip", "-o", "link", "show", "master", &fx.cfg.bridge]),
        vb_links,
        hp_any: map_elements(&fx.cfg.table, "hp_any"),
        hp_ip: map_elements(&fx.cfg.table, "hp_ip"),
        records,
        netns_files,
        attachments: fx.net.attachments().len(),
    }
}

#[test]
fn port_conflicts_name_the_holder_and_change_nothing() {
    if !privileged("port_conflicts_name_the_holder_and_change_nothing") {
        return;
    }
    let mut fx = fixture(10);
    let port = TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ns1 = fx.net.create_netns("c1").unwrap();
    let a1 = fx
        .net
        .attach(
            "c1",
            &ns1,
            "web",
            &[],
            &parse_publish(&format!("{port}:8000")).unwrap(),
        )
        .unwrap();
    let ns2 = fx.net.create_netns("c2").unwrap();
    let before = snapshot(&fx, std::slice::from_ref(&a1.veth_host));

    // Held by berth's own records (also when one side is 127.0.0.1-only).
    for spec in [format!("{port}:9000"), format!("127.0.0.1:{port}:9000")] {
        let e = fx
            .net
            .attach("c2", &ns2, "api", &[], &parse_publish(&spec).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("port {port} is already in use by another container: web")
        );
        assert!(matches!(e, NetError::PortInUseByContainer { .. }));
        assert_eq!(snapshot(&fx, std::slice::from_ref(&a1.veth_host)), before);
    }
    // The same number over UDP is a different port.
    let ok = fx
        .net
        .attach(
            "c2",
            &ns2,
            "api",
            &[],
            &parse_publish(&format!("{port}:53/udp")).unwrap(),
        )
        .unwrap();
    fx.net.detach("c2").unwrap();
    assert!(!links().contains(&ok.veth_host));
    let ns2 = fx.net.create_netns("c2").unwrap();

    // Held by a process on the host; the first (free) port of the request is not kept either.
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let hport = held.local_addr().unwrap().port();
    let free = TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut ports = parse_publish(&format!("{free}:80")).unwrap();
    ports.extend(parse_publish(&format!("{hport}:81")).unwrap());
    let e = fx.net.attach("c2", &ns2, "api", &[], &ports).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("port {hport} is already in use on the host")
    );
    assert_eq!(snapshot(&fx, std::slice::from_ref(&a1.veth_host)), {
        let mut b = before;
        b.netns_files = vec!["c1".into(), "c2".into()];
        b
    });
    drop(held);

    // A host address that is not ours is refused too, before anything is made.
    let e = fx
        .net
        .attach(
            "c2",
            &ns2,
            "api",
            &[],
            &parse_publish("192.0.2.254:5000:80").unwrap(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("not an address of this host"), "{e}");
    assert_eq!(fx.net.attachments().len(), 1);

    fx.net.detach("c2").unwrap();
    fx.net.detach("c1").unwrap();
}

#[test]
fn fifty_attach_detach_cycles_leave_nothing() {
    if !privileged("fifty_attach_detach_cycles_leave_nothing") {
        return;
    }
    let mut fx = fixture(11);
    let empty = snapshot(&fx, &[]);
    let rules = rule_count(&fx.cfg.table);
    let mut veths = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..50 {
        let id = format!("cycle{i:02}{}", hex(8));
        let ns = fx.net.create_netns(&id).unwrap();
        let mut ports = parse_publish("8000").unwrap();
        ports.extend(parse_publish("127.0.0.1::53/udp").unwrap());
        let a = fx.net.attach(&id, &ns, &id, &[], &ports).unwrap();
        veths.push(a.veth_host.clone());
        assert_eq!(map_elements(&fx.cfg.table, "hp_any").len(), 1);
        assert_eq!(map_elements(&fx.cfg.table, "hp_ip").len(), 1);
        fx.net.detach(&id).unwrap();
    }
    eprintln!(
        "50 create_netns+attach+detach cycles in {:?}",
        start.elapsed()
    );
    let after = snapshot(&fx, &veths);
    assert_eq!(
        after, empty,
        "veths, DNAT entries, leases or namespaces leaked"
    );
    assert_eq!(rule_count(&fx.cfg.table), rules);
    assert!(mounts_under(&fx.netns_dir()).is_empty());
    // Leases were released: the next container gets an address again.
    let ns = fx.net.create_netns("last").unwrap();
    let a = fx.net.attach("last", &ns, "last", &[], &[]).unwrap();
    assert!(fx.cfg.subnet.contains(a.ip));
    fx.net.detach("last").unwrap();
}

#[test]
fn reconcile_after_a_crash() {
    if !privileged("reconcile_after_a_crash") {
        return;
    }
    let mut fx = fixture(12);
    let ns1 = fx.net.create_netns("dead").unwrap();
    let dead = fx
        .net
        .attach("dead", &ns1, "dead", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let ns2 = fx.net.create_netns("alive").unwrap();
    let alive = fx
        .net
        .attach("alive", &ns2, "alive", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let ns3 = fx.net.create_netns("halfmade").unwrap();
    let half = fx.net.attach("halfmade", &ns3, "half", &[], &[]).unwrap();
    // A namespace created for a container that died before attach, and an unrecorded veth.
    fx.net.create_netns("ghost").unwrap();
    sh(&[
        "ip",
        "link",
        "add",
        "vbdeadbeef",
        "type",
        "veth",
        "peer",
        "name",
        "vbdeadbeex",
    ]);
    sh(&["ip", "link", "set", "vbdeadbeef", "master", &fx.cfg.bridge]);
    // kill -9 in the middle of attaching "halfmade": its record is still marked not ready.
    let rec = fx.cfg.state_dir.join("containers/halfmade.json");
    let text = std::fs::read_to_string(&rec).unwrap();
    std::fs::write(&rec, text.replace("\"ready\": true", "\"ready\": false")).unwrap();

    // Next start: a new process opens the state and reconciles; only "alive" and
    // "halfmade" still exist as containers.
    let mut net = Network::open(fx.cfg.clone()).unwrap();
    let live = |id: &str| id == "alive" || id == "halfmade";
    let cleaned = net.reconcile(&live).unwrap();
    assert_eq!(cleaned, vec!["dead".to_string()]);

    let l = links();
    assert!(!l.contains(&dead.veth_host), "dead container's veth");
    assert!(!l.contains(&half.veth_host), "half-made endpoint's veth");
    assert!(!l.contains(&"vbdeadbeef".to_string()), "orphan veth");
    assert!(l.contains(&alive.veth_host), "live container untouched");
    let hp = map_elements(&fx.cfg.table, "hp_any");
    assert_eq!(hp.len(), 1, "{hp:?}");
    assert_eq!(hp[0][0]["concat"][1], alive.ports[0].host_port);
    let mut recs = files(&fx.cfg.state_dir.join("containers"));
    recs.sort();
    assert_eq!(recs, vec!["alive.json".to_string()]);
    let mut nss = files(&fx.netns_dir());
    nss.sort();
    assert_eq!(nss, vec!["alive".to_string(), "halfmade".to_string()]);
    assert_eq!(net.attachments(), vec![alive]);
    // Reconciling again finds nothing to do.
    assert!(net.reconcile(&live).unwrap().is_empty());
    net.detach("alive").unwrap();
    net.detach("halfmade").unwrap();
    assert!(files(&fx.netns_dir()).is_empty());
}

#[test]
fn detach_tolerates_gone_objects_and_reports_every_failure() {
    if !privileged("detach_tolerates_gone_objects_and_reports_every_failure") {
        return;
    }
    let mut fx = fixture(13);
    let ns = fx.net.create_netns("c1").unwrap();
    let a = fx
        .net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    // Things already gone are not failures: someone deleted the veth and the nft table.
    sh(&["ip", "link", "del", &a.veth_host]);
    sh(&["nft", "delete", "table", "ip", &fx.cfg.table]);
    fx.net.detach("c1").unwrap();
    assert!(fx.net.attachments().is_empty());
    assert!(!ns.exists());

    // Real failures: the record and the namespace file cannot be removed (immutable dirs).
    // Every other step still runs, both failures are reported, and the record stays so that
    // a later detach finishes the job.
    let _ = Network::open(fx.cfg.clone()).unwrap();
    let ns = fx.net.create_netns("c2").unwrap();
    let a = fx
        .net
        .attach("c2", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let dirs = [fx.cfg.state_dir.join("containers"), fx.netns_dir()];
    let locked = dirs
        .iter()
        .all(|d| try_sh(&["chattr", "+i", d.to_str().unwrap()]));
    if !locked {
        eprintln!("SKIPPED part (chattr +i unsupported here): failure reporting");
    } else {
        let errs = fx.net.detach("c2").unwrap_err();
        for d in &dirs {
            try_sh(&["chattr", "-i", d.to_str().unwrap()]);
        }
        assert_eq!(errs.len(), 2, "{errs:?}");
        let text = NetError::from_many(errs).to_string();
        assert!(text.contains("containers/c2.json"), "{text}");
        assert!(text.contains("netns/c2"), "{text}");
        assert!(!links().contains(&a.veth_host), "the veth went anyway");
        assert!(
            map_elements(&fx.cfg.table, "hp_any").is_empty(),
            "so did the DNAT"
        );
        assert_eq!(fx.net.attachments().len(), 1, "record kept for a retry");
    }
    for d in &dirs {
        try_sh(&["chattr", "-i", d.to_str().unwrap()]);
    }
    fx.net.detach("c2").unwrap();
    assert!(fx.net.attachments().is_empty());
    assert!(files(&fx.netns_dir()).is_empty());
}

#[test]
fn concurrent_processes_share_the_state_safely() {
    if !privileged("concurrent_processes_share_the_state_safely") {
        return;
    }
    let fx = fixture(14);
    // Six "processes" (own Network, own lock file descriptor) attach three containers each.
    let results: Vec<Vec<berth_net::Attachment>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let cfg = fx.cfg.clone();
                s.spawn(move || {
                    let mut net = Network::open(cfg).unwrap();
                    (0..3)
                        .map(|i| {
                            let id = format!("t{t}c{i}");
                            let ns = net.create_netns(&id).unwrap();
                            net.attach(&id, &ns, &id, &[], &parse_publish("8000").unwrap())
                                .unwrap()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<_> = results.into_iter().flatten().collect();
    let ips: std::collections::HashSet<_> = all.iter().map(|a| a.ip).collect();
    let ports: std::collections::HashSet<_> = all.iter().map(|a| a.ports[0].host_port).collect();
    assert_eq!(
        (ips.len(), ports.len()),
        (18, 18),
        "no address or port handed out twice"
    );
    assert_eq!(fx.net.attachments().len(), 18);
    assert_eq!(map_elements(&fx.cfg.table, "hp_any").len(), 18);
    std::thread::scope(|s| {
        for t in 0..6 {
            let cfg = fx.cfg.clone();
            s.spawn(move || {
                let mut net = Network::open(cfg).unwrap();
                for i in 0..3 {
                    net.detach(&format!("t{t}c{i}")).unwrap();
                }
            });
        }
    });
    assert!(fx.net.attachments().is_empty());
    assert!(map_elements(&fx.cfg.table, "hp_any").is_empty());
    assert!(files(&fx.netns_dir()).is_empty());
    let left = sh(&["ip", "-o", "link", "show", "master", &fx.cfg.bridge]);
    assert!(left.trim().is_empty(), "{left}");
}
