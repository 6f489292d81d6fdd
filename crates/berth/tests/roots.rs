//! Two roots on one host (a second install, the test suite beside a real install) never disturb
//! each other: each gets its own bridge, subnet and nft table without being told, and a
//! published host port is held for the container's life.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Duration;

use common::{http_get, wait_for, Berth, Sandbox};

/// A sandbox that leaves its network names to berth, as a second install would.
fn own_root() -> Option<Sandbox> {
    let mut berth = Berth::new();
    berth.own_net_names = true;
    let s = Sandbox::from(berth)?;
    s.busybox("busybox:latest");
    Some(s)
}

fn recorded(s: &Sandbox) -> serde_json::Value {
    let text = std::fs::read_to_string(s.root().join("net/config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A busybox httpd serving `text` on a random published host port; returns that port.
fn site(s: &Sandbox, name: &str, text: &str) -> u16 {
    let www = s.root().join(format!("www-{name}"));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), text).unwrap();
    let vol = format!("{}:/www:ro", www.display());
    s.ok(&[
        "run", "-d", "--name", name, "-v", &vol, "-p", "8000", "busybox", "httpd", "-f", "-p",
        "8000", "-h", "/www",
    ]);
    let out = s.ok(&["port", name, "8000/tcp"]);
    out.trim().rsplit(':').next().unwrap().parse().unwrap()
}

fn serves(port: u16, text: &str) -> bool {
    http_get(&format!("http://127.0.0.1:{port}/")).as_deref() == Some(text)
}

#[test]
fn two_roots_run_published_containers_side_by_side() {
    let (Some(a), Some(b)) = (own_root(), own_root()) else {
        return;
    };
    let site_a = site(&a, "site", "root a\n");
    let site_b = site(&b, "site", "root b\n");
    let (ra, rb) = (recorded(&a), recorded(&b));
    for key in ["bridge", "table", "subnet"] {
        assert_ne!(ra[key], rb[key], "both roots use the same {key}");
    }
    assert_ne!(
        ra["bridge"], "berth0",
        "a root of its own took the default bridge"
    );
    assert!(wait_for(Duration::from_secs(5), || serves(
        site_a, "root a\n"
    ) && serves(
        site_b, "root b\n"
    )));

    // 50 start/stop cycles in each root, alternating; both sites answer throughout, and no
    // address is ever handed out by both roots.
    let mut ips: [HashSet<String>; 2] = Default::default();
    for i in 0..50 {
        for (k, s) in [&a, &b].into_iter().enumerate() {
            let name = format!("cycle{i}");
            // It listens on what it publishes, so `run -d` has no reason to wait for a
            // listener before it returns.
            s.ok(&[
                "run", "-d", "--name", &name, "-p", "8000", "busybox", "httpd", "-f", "-p", "8000",
            ]);
            let ip = s.inspect(&name, "{{.NetworkSettings.IPAddress}}");
            assert!(!ip.is_empty(), "{name} has no address");
            ips[k].insert(ip);
            s.ok(&["rm", "-f", &name]);
        }
        assert!(
            serves(site_a, "root a\n"),
            "root a's site went dark in cycle {i}"
        );
        assert!(
            serves(site_b, "root b\n"),
            "root b's site went dark in cycle {i}"
        );
    }
    let shared: Vec<_> = ips[0].intersection(&ips[1]).collect();
    assert!(
        shared.is_empty(),
        "addresses leased by both roots: {shared:?}"
    );
}

#[test]
fn a_published_host_port_is_held_while_the_container_runs() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let port = site(&s, "web", "held\n");
    assert!(wait_for(Duration::from_secs(5), || serves(port, "held\n")));
    // A host program starting later cannot take the port (std sets SO_REUSEADDR, as most
    // servers do); docker refuses the same way.
    for addr in ["0.0.0.0", "127.0.0.1"] {
        let e = TcpListener::bind((addr, port)).expect_err("the host took a published port");
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{addr}:{port}");
    }
    // The hold takes no traffic: the site still answers.
    assert!(serves(port, "held\n"));
    s.ok(&["rm", "-f", "web"]);
    TcpListener::bind(("0.0.0.0", port)).expect("the port is free again after rm");
}
