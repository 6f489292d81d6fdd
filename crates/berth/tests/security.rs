//! Security cases (issue 14): what a container must not be able to do to the host, each a test
//! that failed on the code before its fix.
//!
//! The loopback case (CVE-2020-8558 class): berth's bridges have `route_localnet` (the host's
//! own 127.0.0.1 traffic to a published port is DNATed out through them), so a frame a
//! container sends to the gateway's MAC with destination 127.0.0.1 was routed to the host's
//! loopback services. The test sends such a frame from inside a container's network namespace
//! with a raw packet socket (the default CAP_NET_RAW is all a container needs for it), and, as a
//! control that the frame is well made, the same frame addressed to the gateway's IP, which
//! must arrive.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)]

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::Sandbox;

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame carrying one UDP datagram (UDP checksum 0: none, as IPv4 allows).
fn udp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0];
    let total = 20 + udp_len;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Sends `frame` out of `eth0` of the network namespace of process `pid`, from a thread that
/// joins that namespace (the container's own view: its interface, its CAP_NET_RAW).
fn send_from_netns(pid: &str, frame: Vec<u8>, times: usize) {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        // SAFETY: a NUL-terminated name that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(c"eth0".as_ptr()) };
        assert!(ifindex > 0, "eth0: {}", std::io::Error::last_os_error());
        // SAFETY: a plain socket(2) call; the fd is owned right after.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(
            raw >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `raw` is a fresh fd owned by nothing else.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        for _ in 0..times {
            // SAFETY: `frame` and `addr` outlive the call; the lengths are theirs.
            let n = unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    std::ptr::addr_of!(addr).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(
                n,
                frame.len() as isize,
                "{}",
                std::io::Error::last_os_error()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .join()
    .unwrap();
}

fn received(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, _)| buf[..n].to_vec())
}

#[test]
fn a_container_cannot_reach_a_host_loopback_service_with_a_crafted_frame() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    s.ok(&["run", "-d", "--name", "prober", "busybox", "sleep", "300"]);
    let pid = s.inspect("prober", "{{.State.Pid}}");
    let ip: Ipv4Addr = s
        .inspect("prober", "{{.NetworkSettings.IPAddress}}")
        .parse()
        .unwrap();
    let gw: Ipv4Addr = s
        .inspect("prober", "{{.NetworkSettings.Gateway}}")
        .parse()
        .unwrap();
    let ctr_mac = mac(&s.inspect("prober", "{{.NetworkSettings.MacAddress}}"));
    let (bridge, ..) = s.net_names();
    let gw_mac = mac(&std::fs::read_to_string(format!("/sys/class/net/{bridge}/address")).unwrap());

    // The control: the same kind of frame to the gateway's own address arrives.
    let on_gateway = UdpSocket::bind((gw, 0)).unwrap();
    on_gateway
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let port = on_gateway.local_addr().unwrap().port();
    send_from_netns(
        &pid,
        udp_frame(gw_mac, ctr_mac, ip, gw, port, b"to-gateway"),
        3,
    );
    assert_eq!(
        received(&on_gateway).as_deref(),
        Some(&b"to-gateway"[..]),
        "the crafted frame reaches the host at the gateway address (else this test proves nothing)"
    );

    // The attack: a host service bound to 127.0.0.1 must hear nothing from a container.
    let on_loopback = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    on_loopback
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let port = on_loopback.local_addr().unwrap().port();
    send_from_netns(
        &pid,
        udp_frame(
            gw_mac,
            ctr_mac,
            ip,
            Ipv4Addr::LOCALHOST,
            port,
            b"to-loopback",
        ),
        4,
    );
    assert_eq!(
        received(&on_loopback),
        None,
        "a container reached a service on the host's 127.0.0.1"
    );
    s.ok(&["rm", "-f", "prober"]);
}

/// A static program that pushes `argv[1]` into its controlling terminal's input with
/// TIOCSTI, then asks for TIOCLINUX's console selection; prints what each returned.
const STI_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
int main(int argc, char **argv) {
    int fd = open("/dev/tty", O_RDWR);
    if (fd < 0) { printf("no-tty %d\n", errno); return 1; }
    int injected = 0;
    for (const char *p = argv[1]; *p; p++)
        if (ioctl(fd, TIOCSTI, p) == 0) injected++;
    char sel = 2; /* TIOCL_SETSEL-like subcode: only a virtual console takes it */
    int vt = ioctl(fd, TIOCLINUX, &sel);
    printf("injected %d linux %d errno %d\n", injected, vt, vt < 0 ? errno : 0);
    return 0;
}
"#;

#[test]
fn a_containers_terminal_is_its_own_tiocsti_and_tioclinux_stay_inside() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sti.c"), STI_C).unwrap();
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.path().join("sti"))
        .arg(dir.path().join("sti.c"))
        .status()
        .expect("gcc (the test images need it too)");
    assert!(built.success());
    // On the caller's terminal (script's pty): the container injects a command line, then the
    // caller's shell reads a line. Input pushed into the *container's* pty never reaches it.
    let berth = env!("CARGO_BIN_EXE_berth");
    let volume = format!("{}:/t:ro", dir.path().display());
    let line = format!(
        "{berth} run --rm -t --network none -v {volume} busybox /t/sti 'echo ESCAPED\n'; \
         if read -t 1 got; then echo \"host read: $got\"; else echo host read nothing; fi"
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("BERTH_ROOT", s.root())
        .env("BERTH_RUNROOT", s.run_root())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The injection worked, inside: all 13 characters went into the container's own input.
    assert!(text.contains("injected 13"), "{text}");
    // TIOCLINUX is for virtual consoles: a pty refuses it.
    assert!(text.contains("linux -1"), "{text}");
    assert!(text.contains("host read nothing"), "{text}");
    assert!(!text.contains("host read: echo ESCAPED"), "{text}");
}
