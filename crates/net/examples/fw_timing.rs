//! Times the firewall-heavy paths of berth-net on this host (needs root): `Network::open` on a
//! state directory that is already set up, and one attach + detach with a published port.
//!
//! `cargo run --release -p berth-net --example fw_timing [ROUNDS]`
//!
//! Uses its own bridge, subnet, nft table and temporary state directory, and removes them.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_net::{parse_publish, NetConfig, Network};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), berth_net::NetError> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("berth-fw-timing-{}", std::process::id()));
    let mut cfg = NetConfig::new(dir.join("net"));
    cfg.bridge = "btimingbr0".into();
    cfg.subnet = "10.209.77.0/24".parse()?;
    cfg.table = "bt_timing".into();
    let mut net = Network::open(cfg.clone())?;
    let ports = parse_publish("127.0.0.1:18077:80")?;

    let mut opens = Vec::new();
    let mut cycles = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        drop(Network::open(cfg.clone())?);
        opens.push(t.elapsed());

        let id = format!("timing{i}");
        let netns = net.create_netns(&id)?;
        let t = Instant::now();
        net.attach(&id, &netns, &id, &[], &ports)?;
        net.detach(&id).map_err(berth_net::NetError::from_many)?;
        cycles.push(t.elapsed());
    }
    eprintln!(
        "{rounds} rounds: Network::open median {:?} (min {:?}); attach+detach with -p median {:?} (min {:?})",
        median(opens.clone()),
        opens.iter().min().unwrap(),
        median(cycles.clone()),
        cycles.iter().min().unwrap(),
    );
    let r = net.destroy();
    let _ = std::fs::remove_dir_all(&dir);
    r.map_err(berth_net::NetError::from_many)
}
