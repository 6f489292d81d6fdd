//! The firewall as the kernel sees it (root only): berth programs nftables from its own process
//! (no `nft` is spawned), an open after a sync leaves the table alone, a stale sync record
//! (another boot) makes the open sync, and verify/repair find and undo damage.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_net::{parse_publish, FirewallGap, Network, NetworkSpec};
use common::*;

/// Elements of map `map` as nft prints them (`tcp . 80 : 10.0.0.2 . 8000`).
fn map_text(table: &str, map: &str) -> String {
    sh(&["nft", "list", "map", "ip", table, map])
}

#[test]
fn no_nft_process_is_spawned() {
    if !privileged("no_nft_process_is_spawned") {
        return;
    }
    // An `nft` first in PATH that records being run and fails loudly.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("nft-was-run");
    let fake = bin.path().join("nft");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho 'fake nft: berth must not spawn nft' >&2\nexit 1\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    // nextest runs each test in a process of its own, so PATH is ours to change.
    std::env::set_var("PATH", format!("{}:{path}", bin.path().display()));

    let mut fx = fixture(50);
    let ns = fx.net.create_netns("c1").unwrap();
    let att = fx
        .net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let bridge = format!("bt{}", hex(6));
    fx.bridges.push(bridge.clone());
    let spec = NetworkSpec {
        name: format!("n{}", hex(6)),
        subnet: Some("10.201.51.0/24".parse().unwrap()),
        gateway: None,
        internal: true,
        bridge: Some(bridge),
    };
    fx.net.create_network(&spec).unwrap();
    fx.net.ensure_neighbours().unwrap();
    assert_eq!(fx.net.verify_firewall().unwrap(), vec![]);
    fx.net.repair_firewall().unwrap();
    fx.net.remove_network(&spec.name).unwrap();
    fx.net.detach("c1").unwrap();
    fx.net.destroy().unwrap();

    std::env::set_var("PATH", path);
    assert!(!att.ports.is_empty());
    assert!(
        !log.exists(),
        "berth ran nft: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        !try_sh(&["nft", "list", "table", "ip", &fx.cfg.table]),
        "destroy deleted the table without nft"
    );
}

#[test]
fn open_after_a_sync_leaves_the_table_alone_and_repair_rewrites_it() {
    if !privileged("open_after_a_sync_leaves_the_table_alone_and_repair_rewrites_it") {
        return;
    }
    let mut fx = fixture(52);
    let t = fx.cfg.table.clone();
    let ns = fx.net.create_netns("c1").unwrap();
    let att = fx
        .net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let hp = att.ports[0].host_port;
    let ours = format!("tcp . {hp} : {} . 8000", att.ip);
    assert!(map_text(&t, "hp_any").contains(&ours));

    // Something nobody recorded: an element and a counting rule.
    let foreign = "tcp . 1 : 10.201.52.99 . 1";
    sh(&[
        "nft",
        "add",
        "element",
        "ip",
        &t,
        "hp_any",
        &format!("{{ {foreign} }}"),
    ]);
    sh(&["nft", "add", "rule", "ip", &t, "forward", "counter"]);
    let rules = rule_count(&t);

    // The next CLI run opens the same state: no rewrite, so both stay.
    drop(Network::open(fx.cfg.clone()).unwrap());
    drop(Network::open(fx.cfg.clone()).unwrap());
    assert!(
        map_text(&t, "hp_any").contains(foreign),
        "open rewrote the table"
    );
    assert_eq!(rule_count(&t), rules);
    assert_eq!(
        fx.net.verify_firewall().unwrap(),
        vec![],
        "extras are no gap"
    );

    // Repair is the full sync: the foreign element and rule go, ours stays.
    fx.net.repair_firewall().unwrap();
    let m = map_text(&t, "hp_any");
    assert!(!m.contains(foreign), "{m}");
    assert!(m.contains(&ours), "{m}");
    assert_eq!(rule_count(&t), rules - 1);

    // Verify reports an element deleted behind berth's back.
    sh(&[
        "nft",
        "delete",
        "element",
        "ip",
        &t,
        "hp_any",
        &format!("{{ tcp . {hp} }}"),
    ]);
    assert_eq!(
        fx.net.verify_firewall().unwrap(),
        vec![FirewallGap::Port {
            container_id: "c1".into(),
            mapping: format!("{hp}/tcp -> {}:8000", att.ip),
        }]
    );
    fx.net.repair_firewall().unwrap();
    assert_eq!(fx.net.verify_firewall().unwrap(), vec![]);
    fx.net.detach("c1").unwrap();
}

/// Rewrites the sync record as if it came from another boot.
fn age_sync_record(state_dir: &Path) {
    let marker = state_dir.join("firewall-synced.json");
    let text = std::fs::read_to_string(&marker).expect("a sync leaves a record");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old = v["boot_id"].as_str().unwrap();
    std::fs::write(
        &marker,
        text.replace(old, "00000000-0000-0000-0000-000000000000"),
    )
    .unwrap();
}

#[test]
fn open_syncs_after_a_reboot_and_after_the_table_went_away() {
    if !privileged("open_syncs_after_a_reboot_and_after_the_table_went_away") {
        return;
    }
    let mut fx = fixture(53);
    let t = fx.cfg.table.clone();
    let ns = fx.net.create_netns("c1").unwrap();
    let att = fx
        .net
        .attach("c1", &ns, "web", &[], &parse_publish("8000").unwrap())
        .unwrap();
    let ours = format!("tcp . {} : {} . 8000", att.ports[0].host_port, att.ip);

    // A record from another boot: the open syncs (the kernel's rules died with that boot).
    let foreign = "tcp . 1 : 10.201.53.99 . 1";
    sh(&[
        "nft",
        "add",
        "element",
        "ip",
        &t,
        "hp_any",
        &format!("{{ {foreign} }}"),
    ]);
    age_sync_record(&fx.cfg.state_dir);
    drop(Network::open(fx.cfg.clone()).unwrap());
    let m = map_text(&t, "hp_any");
    assert!(!m.contains(foreign) && m.contains(&ours), "{m}");

    // The table deleted behind berth's back: the next publish fails, and forgets the sync so
    // that the open after it rebuilds the table.
    sh(&["nft", "delete", "table", "ip", &t]);
    assert_eq!(
        fx.net.verify_firewall().unwrap(),
        vec![FirewallGap::Table { table: t.clone() }]
    );
    let ns2 = fx.net.create_netns("c2").unwrap();
    let ports = parse_publish("127.0.0.1::9000").unwrap();
    assert!(fx.net.attach("c2", &ns2, "api", &[], &ports).is_err());
    fx.net = Network::open(fx.cfg.clone()).unwrap();
    assert!(map_text(&t, "hp_any").contains(&ours));
    let att2 = fx.net.attach("c2", &ns2, "api", &[], &ports).unwrap();
    assert_eq!(att2.ports[0].host_ip, Some(Ipv4Addr::LOCALHOST.into()));
    assert_eq!(fx.net.verify_firewall().unwrap(), vec![]);
    fx.net.detach("c2").unwrap();
    fx.net.detach("c1").unwrap();
}
