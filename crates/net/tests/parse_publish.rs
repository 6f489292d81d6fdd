//! Docker's `-p` grammar, table-tested through the public API.
#![allow(clippy::unwrap_used)]

use berth_net::{parse_publish, PortMapping, Proto};

fn m(ip: Option<&str>, h: u16, end: Option<u16>, c: u16, p: Proto) -> PortMapping {
    PortMapping {
        host_ip: ip.map(|s| s.parse().unwrap()),
        host_port: h,
        host_port_end: end,
        container_port: c,
        proto: p,
    }
}

#[test]
fn docker_grammar_table() {
    use Proto::{Tcp, Udp};
    let lo = Some("127.0.0.1");
    let rows: Vec<(&str, Vec<PortMapping>)> = vec![
        ("5000:8000", vec![m(None, 5000, None, 8000, Tcp)]),
        ("127.0.0.1:5000:8000", vec![m(lo, 5000, None, 8000, Tcp)]),
        ("8000", vec![m(None, 0, None, 8000, Tcp)]),
        ("8000/tcp", vec![m(None, 0, None, 8000, Tcp)]),
        ("5000:8000/udp", vec![m(None, 5000, None, 8000, Udp)]),
        ("5000:8000/UDP", vec![m(None, 5000, None, 8000, Udp)]),
        ("127.0.0.1::8000", vec![m(lo, 0, None, 8000, Tcp)]),
        ("0.0.0.0:80:80", vec![m(Some("0.0.0.0"), 80, None, 80, Tcp)]),
        (
            "[::1]:5000:8000",
            vec![m(Some("::1"), 5000, None, 8000, Tcp)],
        ),
        ("[::]::8000/udp", vec![m(Some("::"), 0, None, 8000, Udp)]),
        ("::1:5000:8000", vec![m(Some("::1"), 5000, None, 8000, Tcp)]),
        (
            "8000-8002:9000-9002",
            vec![
                m(None, 8000, None, 9000, Tcp),
                m(None, 8001, None, 9001, Tcp),
                m(None, 8002, None, 9002, Tcp),
            ],
        ),
        (
            "8000-8001",
            vec![m(None, 0, None, 8000, Tcp), m(None, 0, None, 8001, Tcp)],
        ),
        (
            "127.0.0.1:7000-7001:7000-7001/udp",
            vec![m(lo, 7000, None, 7000, Udp), m(lo, 7001, None, 7001, Udp)],
        ),
        ("5000-5010:80", vec![m(None, 5000, Some(5010), 80, Tcp)]),
        ("65535:1", vec![m(None, 65535, None, 1, Tcp)]),
    ];
    for (spec, want) in rows {
        assert_eq!(parse_publish(spec).unwrap(), want, "{spec}");
    }
}

#[test]
fn rejects_what_docker_rejects() {
    let rows = [
        ("", "empty"),
        ("5000:", "no container port"),
        ("abc", "invalid container port"),
        ("5000:abc", "invalid container port"),
        ("x:8000", "invalid host port"),
        ("5000:70000", "out of range"),
        ("5000:0", "container port 0"),
        ("5000:8000/sctp", "sctp is not supported"),
        ("5000:8000/icmp", "invalid protocol"),
        ("1.2.3:5000:8000", "invalid IP address"),
        ("8000-8002:9000-9001", "differ in length"),
        ("9002-9000", "start is after end"),
        ("5000 :8000", "whitespace"),
        ("-5:80", "invalid host port"),
    ];
    for (spec, want) in rows {
        let err = parse_publish(spec).unwrap_err().to_string();
        assert!(err.contains(want), "{spec:?}: {err}");
        assert!(err.starts_with("invalid publish spec"), "{err}");
    }
}
