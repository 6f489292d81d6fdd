//! Privileged: links, addresses and routes are configured over netlink by berth itself, with no
//! helper process — and what that costs.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_net::{parse_publish, EndpointSpec, NetworkSpec};
use common::*;

/// Puts a directory holding an `ip` that fails loudly (and leaves a mark) in front of `PATH`
/// for as long as it lives, so any `ip` that berth-net spawns breaks the operation under test.
struct PoisonedIp {
    dir: tempfile::TempDir,
    old_path: String,
}

impl PoisonedIp {
    fn install() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("ip");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"ip $*\" >> {}\necho 'berth-net must not spawn ip' >&2\nexit 97\n",
                dir.path().join("called").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let old_path = std::env::var("PATH").unwrap_or_default();
        // nextest runs each test in its own process, so no other thread reads PATH meanwhile.
        std::env::set_var("PATH", format!("{}:{old_path}", dir.path().display()));
        PoisonedIp { dir, old_path }
    }

    /// The `ip` command lines that were run, one per line (empty when none).
    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("called")).unwrap_or_default()
    }
}

impl Drop for PoisonedIp {
    fn drop(&mut self) {
        std::env::set_var("PATH", &self.old_path);
    }
}

#[test]
fn poisoned_ip_is_what_a_spawned_ip_runs() {
    if !privileged("poisoned_ip_is_what_a_spawned_ip_runs") {
        return;
    }
    // The guard of the test below must be able to catch a spawned `ip`.
    let poison = PoisonedIp::install();
    let out = std::process::Command::new("ip")
        .args(["link", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(97));
    assert_eq!(poison.calls(), "ip link show\n");
}

#[test]
fn network_lifecycle_spawns_no_ip() {
    if !privileged("network_lifecycle_spawns_no_ip") {
        return;
    }
    // The fixture's Drop cleans up with the real `ip`: it must outlive the guard.
    let mut fx = fixture(40);
    let bridge = format!("br-{}", hex(6));
    fx.bridges.push(bridge.clone());
    let poison = PoisonedIp::install();
    let mut hairpin = String::new();
    let outcome = (|| -> Result<(), berth_net::NetError> {
        // Opening again sets up the existing bridge; attaching reads the uplink's MTU.
        fx.net = berth_net::Network::open(fx.cfg.clone())?;
        let ns = fx.net.create_netns("nl1")?;
        let att = fx
            .net
            .attach("nl1", &ns, "web", &[], &parse_publish("8000")?)?;
        hairpin = std::fs::read_to_string(format!(
            "/sys/class/net/{}/brport/hairpin_mode",
            att.veth_host
        ))
        .unwrap_or_default();
        fx.net.create_network(&NetworkSpec {
            name: "nlnet".into(),
            subnet: Some("10.201.41.0/24".parse()?),
            bridge: Some(bridge.clone()),
            ..NetworkSpec::default()
        })?;
        let spec = EndpointSpec {
            network: "nlnet".into(),
            name: "web".into(),
            ..EndpointSpec::default()
        };
        fx.net.connect("nl1", &ns, &spec)?;
        fx.net
            .disconnect("nl1", "nlnet")
            .map_err(berth_net::NetError::from_many)?;
        fx.net
            .detach("nl1")
            .map_err(berth_net::NetError::from_many)?;
        fx.net.remove_network("nlnet")
    })();
    let calls = poison.calls();
    drop(poison);
    assert_eq!(calls, "", "berth-net ran ip");
    outcome.unwrap();
    assert_eq!(hairpin.trim(), "1", "the host end is in hairpin mode");
    assert!(!links().contains(&bridge), "bridge {bridge} was deleted");
    drop(fx);
}

/// Mean and best of `n` timings.
fn summary(mut t: Vec<Duration>) -> String {
    t.sort();
    let mean = t.iter().sum::<Duration>() / u32::try_from(t.len()).unwrap();
    format!(
        "mean {:.2} ms, median {:.2} ms, best {:.2} ms over {} runs",
        mean.as_secs_f64() * 1e3,
        t[t.len() / 2].as_secs_f64() * 1e3,
        t[0].as_secs_f64() * 1e3,
        t.len()
    )
}

/// `cargo nextest run -p berth-net --run-ignored only --no-capture bench_connect_detach`
#[test]
#[ignore = "benchmark: run by hand with --no-capture"]
fn bench_connect_detach() {
    if !privileged("bench_connect_detach") {
        return;
    }
    let mut fx = fixture(41);
    let spec = EndpointSpec {
        name: "bench".into(),
        ..EndpointSpec::default()
    };
    let (mut netns, mut connect, mut detach) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        let id = format!("bench{i}");
        let t = Instant::now();
        let ns: PathBuf = fx.net.create_netns(&id).unwrap();
        netns.push(t.elapsed());
        let t = Instant::now();
        fx.net.connect(&id, Path::new(&ns), &spec).unwrap();
        connect.push(t.elapsed());
        let t = Instant::now();
        fx.net.detach(&id).unwrap();
        detach.push(t.elapsed());
    }
    eprintln!("create_netns: {}", summary(netns));
    eprintln!("connect:      {}", summary(connect));
    eprintln!("detach:       {}", summary(detach));
}

/// A link's attributes as `ip -d -j link show` prints them, in the calling thread's namespace.
fn link_json(dev: &str) -> serde_json::Value {
    let out = sh(&["ip", "-d", "-j", "link", "show", "dev", dev]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

#[test]
fn links_carry_the_mtu_the_mac_the_master_and_the_routes_asked_for() {
    if !privileged("links_carry_the_mtu_the_mac_the_master_and_the_routes_asked_for") {
        return;
    }
    let mut fx = fixture(42);
    // The bridge takes the MTU only when it is created: start over with one.
    fx.net.destroy().unwrap();
    fx.cfg.mtu = Some(1400);
    fx.net = berth_net::Network::open(fx.cfg.clone()).unwrap();
    let bridge = format!("br-{}", hex(6));
    fx.bridges.push(bridge.clone());
    fx.net
        .create_network(&NetworkSpec {
            name: "second".into(),
            subnet: Some("10.201.43.0/24".parse().unwrap()),
            bridge: Some(bridge.clone()),
            ..NetworkSpec::default()
        })
        .unwrap();
    let ns = fx.net.create_netns("m1").unwrap();
    let a0 = fx.net.attach("m1", &ns, "m", &[], &[]).unwrap();
    let spec = EndpointSpec {
        network: "second".into(),
        name: "m".into(),
        ..EndpointSpec::default()
    };
    let a1 = fx.net.connect("m1", &ns, &spec).unwrap();

    let br = link_json(&fx.cfg.bridge);
    assert_eq!(br["mtu"], 1400);
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert!(br["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    for (att, bridge) in [(&a0, &fx.cfg.bridge), (&a1, &bridge)] {
        let host = link_json(&att.veth_host);
        assert_eq!(host["mtu"], 1400, "{host}");
        assert_eq!(&host["master"], bridge.as_str(), "{host}");
        assert!(host["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        assert_eq!(
            host["linkinfo"]["info_slave_data"]["hairpin"], true,
            "{host}"
        );
    }
    let (eth0, eth1, routes) = in_netns(&ns, || {
        (
            link_json("eth0"),
            link_json("eth1"),
            sh(&["ip", "-4", "route", "show"]),
        )
    });
    for (link, att) in [(&eth0, &a0), (&eth1, &a1)] {
        assert_eq!(link["mtu"], 1400, "{link}");
        assert_eq!(link["address"], att.mac.as_str(), "{link}");
        assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    }
    // Only the first network gives the default route.
    let defaults: Vec<&str> = routes
        .lines()
        .filter(|l| l.starts_with("default"))
        .collect();
    assert_eq!(defaults.len(), 1, "{routes}");
    assert!(
        defaults[0].starts_with(&format!("default via {} dev eth0", a0.gateway)),
        "{routes}"
    );
    assert!(routes.contains("10.201.43.0/24 dev eth1"), "{routes}");
    fx.net.detach("m1").unwrap();
    fx.net.remove_network("second").unwrap();
}

#[test]
fn a_bridge_name_taken_by_another_kind_of_link_is_refused() {
    if !privileged("a_bridge_name_taken_by_another_kind_of_link_is_refused") {
        return;
    }
    let name = format!("bt{}", hex(6));
    let peer = format!("bt{}", hex(6));
    sh(&[
        "ip", "link", "add", &name, "type", "veth", "peer", "name", &peer,
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut cfg = berth_net::NetConfig::new(state.path().join("net"));
    cfg.bridge = name.clone();
    cfg.subnet = "10.201.44.0/24".parse().unwrap();
    cfg.table = format!("bt_{}", hex(8));
    let table = cfg.table.clone();
    let got = berth_net::Network::open(cfg);
    try_sh(&["ip", "link", "del", &name]);
    try_sh(&["nft", "delete", "table", "ip", &table]);
    let err = got.expect_err("a veth is not a bridge").to_string();
    assert!(err.contains("is not a bridge"), "{err}");
    assert!(err.contains(&name), "{err}");
}
