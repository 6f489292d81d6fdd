//! Port diagnosis: `/proc/net/*` parsing and the hints, table-tested (no privileges needed).
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use berth_net::diagnose::{hint, parse_proc_net, Listener};
use berth_net::{parse_publish, PortMapping, Proto};

/// (what, published, listeners, expected hints)
type Row = (
    &'static str,
    Vec<PortMapping>,
    Vec<Listener>,
    Vec<&'static str>,
);

fn l(addr: &str, port: u16, proto: Proto) -> Listener {
    Listener {
        port,
        proto,
        addr: addr.parse::<IpAddr>().unwrap(),
    }
}

fn p(specs: &[&str]) -> Vec<PortMapping> {
    specs
        .iter()
        .flat_map(|s| parse_publish(s).unwrap())
        .collect()
}

#[test]
fn hint_table() {
    use Proto::{Tcp, Udp};
    let trap = "warning: web: nothing listens on 8051/tcp inside the container; it listens on 8501/tcp — publish it with -p 3000:8501";
    let bind = "warning: web: the app listens only on 127.0.0.1:8501 inside the container, which is unreachable from outside it — make the app bind 0.0.0.0";
    let rows: Vec<Row> = vec![
        // The tutorial's trap: published 8051, Streamlit listens on 8501.
        ("trap", p(&["3000:8051"]), vec![l("0.0.0.0", 8501, Tcp)], vec![trap]),
        // Publishing the right port: silence, whatever the wildcard family.
        ("right port", p(&["3000:8501"]), vec![l("0.0.0.0", 8501, Tcp)], vec![]),
        ("dual-stack ::", p(&["3000:8501"]), vec![l("::", 8501, Tcp)], vec![]),
        ("specific address", p(&["3000:8501"]), vec![l("10.213.0.2", 8501, Tcp)], vec![]),
        // Bound to loopback only: unreachable through any published port.
        ("127.0.0.1 only", p(&["3000:8501"]), vec![l("127.0.0.1", 8501, Tcp)], vec![bind]),
        (
            "::1 only",
            p(&["3000:8501"]),
            vec![l("::1", 8501, Tcp)],
            vec!["warning: web: the app listens only on [::1]:8501 inside the container, which is unreachable from outside it — make the app bind 0.0.0.0"],
        ),
        (
            "v4-mapped loopback",
            p(&["3000:8501"]),
            vec![l("::ffff:127.0.0.1", 8501, Tcp)],
            vec!["warning: web: the app listens only on [::ffff:127.0.0.1]:8501 inside the container, which is unreachable from outside it — make the app bind 0.0.0.0"],
        ),
        ("loopback and wildcard", p(&["3000:8501"]), vec![l("127.0.0.1", 8501, Tcp), l("0.0.0.0", 8501, Tcp)], vec![]),
        // Nothing at all yet.
        ("nothing", p(&["3000:8051"]), vec![], vec!["warning: web: nothing listens on 8051/tcp inside the container"]),
        // Wrong port, and the only other listener is loopback-only.
        (
            "wrong port, loopback candidate",
            p(&["3000:8051"]),
            vec![l("127.0.0.1", 8501, Tcp)],
            vec!["warning: web: nothing listens on 8051/tcp inside the container; it listens on 127.0.0.1:8501 only — make the app bind 0.0.0.0 and publish it with -p 3000:8501"],
        ),
        // Several candidates; loopback-only ones are not offered when reachable ones exist.
        (
            "several candidates",
            p(&["3000:8051"]),
            vec![l("0.0.0.0", 9000, Tcp), l("0.0.0.0", 8501, Tcp), l("127.0.0.1", 7000, Tcp)],
            vec!["warning: web: nothing listens on 8051/tcp inside the container; it listens on 8501/tcp, 9000/tcp — publish one of them, e.g. -p 3000:8501"],
        ),
        // A listener on another *published* port is not a candidate.
        (
            "other port is published",
            p(&["3000:8051", "4000:8501"]),
            vec![l("0.0.0.0", 8501, Tcp)],
            vec!["warning: web: nothing listens on 8051/tcp inside the container"],
        ),
        // Protocols are matched: a TCP listener does not satisfy a UDP mapping.
        (
            "udp vs tcp",
            p(&["5353:53/udp"]),
            vec![l("0.0.0.0", 53, Tcp), l("0.0.0.0", 5300, Udp)],
            vec!["warning: web: nothing listens on 53/udp inside the container; it listens on 5300/udp — publish it with -p 5353:5300/udp"],
        ),
        ("udp right", p(&["5353:53/udp"]), vec![l("0.0.0.0", 53, Udp)], vec![]),
        // The suggestion keeps the host address, and a random host port stays random.
        (
            "keeps host ip",
            p(&["127.0.0.1:3000:8051"]),
            vec![l("0.0.0.0", 8501, Tcp)],
            vec!["warning: web: nothing listens on 8051/tcp inside the container; it listens on 8501/tcp — publish it with -p 127.0.0.1:3000:8501"],
        ),
        (
            "random host port",
            p(&["8051"]),
            vec![l("0.0.0.0", 8501, Tcp)],
            vec!["warning: web: nothing listens on 8051/tcp inside the container; it listens on 8501/tcp — publish it with -p 8501"],
        ),
        // A range: one line per dead port.
        (
            "range",
            p(&["8000-8001:8000-8001"]),
            vec![l("0.0.0.0", 8000, Tcp)],
            vec!["warning: web: nothing listens on 8001/tcp inside the container"],
        ),
    ];
    for (what, published, listeners, want) in rows {
        assert_eq!(hint("web", &published, &listeners), want, "{what}");
    }
}

#[test]
fn proc_net_parsing() {
    // Real lines (x86-64, little-endian): LISTEN on 0.0.0.0:8501 and 127.0.0.1:9000, one
    // established connection (not a listener).
    let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2135 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0200D50A:2135 0300D50A:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
";
    let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
";
    let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3001 2 0000000000000000 0
  101: 0200D50A:A000 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 3002 2 0000000000000000 0
";
    if cfg!(target_endian = "little") {
        assert_eq!(
            parse_proc_net(tcp, Proto::Tcp),
            vec![
                l("0.0.0.0", 8501, Proto::Tcp),
                l("127.0.0.1", 9000, Proto::Tcp)
            ]
        );
        assert_eq!(
            parse_proc_net(tcp6, Proto::Tcp),
            vec![l("::", 8080, Proto::Tcp), l("::1", 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_proc_net(udp, Proto::Udp),
            vec![l("0.0.0.0", 53, Proto::Udp)]
        );
    }
    assert!(parse_proc_net("header only\n", Proto::Tcp).is_empty());
    assert!(parse_proc_net("h\n 0: garbage line\n", Proto::Tcp).is_empty());
}

#[test]
fn listeners_of_this_process_include_a_socket_we_bind() {
    let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let pid = i32::try_from(std::process::id()).unwrap();
    let ls = berth_net::diagnose::listeners(pid).unwrap();
    assert!(ls.contains(&l("127.0.0.1", port, Proto::Tcp)), "{ls:?}");
    assert!(berth_net::diagnose::listeners(i32::MAX).is_err());
}
