//! A small synchronous rtnetlink client: one request and its acknowledgement, or one dump.
//!
//! The socket talks to the network namespace of the thread that opened it, so code running in
//! [`crate::sys::in_netns`] configures the container's namespace simply by opening its own.
//! Replies are read until the kernel's ACK (an `NLMSG_ERROR` with code 0) or error for the
//! request, or until `NLMSG_DONE` for a dump; the kernel's errno becomes
//! [`NetError::Netlink`], with its extended-ack message when it gave one.

use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, NLA_TYPE_MASK, NLMSG_DONE,
    NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::NetError;

/// Receive buffer: the kernel caps a dump datagram at 32 KiB; twice that leaves room.
const RECV_BUF: usize = 64 * 1024;
/// `NLMSGERR_ATTR_MSG`: the extended-ack attribute holding a human-readable message.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Dumps interrupted by a concurrent change (`NLM_F_DUMP_INTR`) are retried this many times.
const DUMP_TRIES: usize = 3;
/// Size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// An rtnetlink socket bound to the calling thread's network namespace.
pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Self, NetError> {
        let what = "open a netlink socket";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| NetError::io(what, e))?;
        socket.bind_auto().map_err(|e| NetError::io(what, e))?;
        // Both are hints: an old kernel without them still answers, only more tersely.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and waits for its ACK.
    pub(crate) fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetError> {
        self.exchange(what, msg, NLM_F_REQUEST | NLM_F_ACK | flags)
            .map(|_| ())
    }

    /// Sends a `GET` for one object and returns the kernel's answer (an error if none).
    pub(crate) fn get(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<RouteNetlinkMessage, NetError> {
        self.exchange(what, msg, NLM_F_REQUEST | NLM_F_ACK)?
            .0
            .pop()
            .ok_or_else(|| decode_error(what, "the kernel answered with no object"))
    }

    /// Dumps every object of a kind (`msg` is an empty `GET` of that kind).
    pub(crate) fn dump(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetError> {
        for _ in 1..DUMP_TRIES {
            let (out, interrupted) =
                self.exchange(what, msg.clone(), NLM_F_REQUEST | NLM_F_DUMP)?;
            if !interrupted {
                return Ok(out);
            }
            tracing::debug!(
                what,
                "netlink dump interrupted by a concurrent change; retrying"
            );
        }
        // Still racing: the last dump is as good as what `ip` would have printed.
        Ok(self.exchange(what, msg, NLM_F_REQUEST | NLM_F_DUMP)?.0)
    }

    /// Sends `msg` as the next request; returns its sequence number.
    fn send(&mut self, what: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, NetError> {
        self.seq = self.seq.wrapping_add(1);
        let packet = serialize(msg, flags, self.seq);
        self.socket
            .send(&packet, 0)
            .map_err(|e| NetError::io(format!("{what}: send netlink request"), e))?;
        Ok(self.seq)
    }

    /// Reads one datagram of the answer into `buf`.
    fn recv(&mut self, what: &str) -> Result<(), NetError> {
        self.buf.clear();
        // MSG_TRUNC makes `recv` return the datagram's real length: truncation shows.
        let n = self
            .socket
            .recv(&mut self.buf, libc::MSG_TRUNC)
            .map_err(|e| NetError::io(format!("{what}: read netlink reply"), e))?;
        if n > self.buf.len() {
            return Err(decode_error(what, "netlink reply larger than the buffer"));
        }
        Ok(())
    }

    /// What [`LinkFacts`] tells of the link `msg` (a `GET` of one link) names, `None` when
    /// there is no such link in the socket's namespace.
    ///
    /// Read from the raw reply instead of through netlink-packet-route: it parses every
    /// attribute, and for a bridge's link info data it formats an error context from the
    /// payload bytes whether or not the parse fails — about a millisecond per look-up here,
    /// paid by every process that opens the network layer.
    pub(crate) fn link_facts(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Option<LinkFacts>, NetError> {
        let seq = self.send(what, msg, NLM_F_REQUEST | NLM_F_ACK)?;
        let mut found = None;
        loop {
            self.recv(what)?;
            for (kind, mseq, body) in datagram_messages(&self.buf, what)? {
                if mseq != seq {
                    continue; // a stale answer to an earlier request
                }
                match kind {
                    RTM_NEWLINK => found = LinkFacts::parse(body).or(found),
                    NLMSG_ERROR if body.len() >= 4 => {
                        let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                        return match code {
                            0 => Ok(found),
                            c if c == -libc::ENODEV => Ok(None),
                            c => Err(kernel_error(what, c, None)),
                        };
                    }
                    NLMSG_DONE => return Ok(found),
                    _ => {}
                }
            }
        }
    }

    /// Sends one message and collects the objects of the answer, up to its ACK or `DONE`; the
    /// flag says whether a dump was interrupted (and may be inconsistent).
    fn exchange(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), NetError> {
        let seq = self.send(what, msg, flags)?;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            self.recv(what)?;
            let mut off = 0;
            while off < self.buf.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..])
                    .map_err(|e| decode_error(what, &e.to_string()))?;
                let len = reply.header.length as usize;
                if len < NLMSG_HDRLEN {
                    return Err(decode_error(
                        what,
                        "netlink message shorter than its header",
                    ));
                }
                off += len.next_multiple_of(4);
                if reply.header.sequence_number != seq {
                    continue; // a stale answer to an earlier request
                }
                interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok((out, interrupted)),
                        Some(code) => {
                            let detail = ext_ack_message(reply.header.flags, &e.header);
                            return Err(kernel_error(what, code.get(), detail));
                        }
                    },
                    NetlinkPayload::Done(d) if d.code != 0 => {
                        return Err(kernel_error(what, d.code, None));
                    }
                    NetlinkPayload::Done(_) => return Ok((out, interrupted)),
                    // Noop, Overrun: nothing the request is waiting for.
                    _ => {}
                }
            }
        }
    }
}

/// `RTM_NEWLINK` (linux/rtnetlink.h): a link's description, answer or notification.
const RTM_NEWLINK: u16 = 16;
/// `RTNLGRP_LINK`: the multicast group of link changes.
const RTNLGRP_LINK: u32 = 1;

/// The few facts about a link the hot path needs, read from a raw `RTM_NEWLINK` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkFacts {
    pub index: u32,
    /// `IFLA_INFO_KIND`: "bridge", "veth", …
    pub kind: Option<String>,
    /// `IFLA_BRPORT_STATE` when the link is a bridge port (`BR_STATE_*`).
    pub port_state: Option<u8>,
}

/// `BR_STATE_DISABLED` (linux/if_bridge.h): a port without carrier, or whose carrier the
/// bridge has not heard of yet.
pub(crate) const BR_STATE_DISABLED: u8 = 0;

impl LinkFacts {
    /// Parses an `RTM_NEWLINK` body: a `struct ifinfomsg` then attributes.
    fn parse(body: &[u8]) -> Option<LinkFacts> {
        // linux/if_link.h
        const IFINFOMSG_LEN: usize = 16;
        const IFLA_LINKINFO: u16 = 18;
        const IFLA_INFO_KIND: u16 = 1;
        const IFLA_INFO_SLAVE_KIND: u16 = 4;
        const IFLA_INFO_SLAVE_DATA: u16 = 5;
        const IFLA_BRPORT_STATE: u16 = 1;
        let index = u32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
        let mut facts = LinkFacts {
            index,
            kind: None,
            port_state: None,
        };
        let attr = |nla: &netlink_packet_core::NlaBuffer<&[u8]>| nla.kind() & NLA_TYPE_MASK;
        let Some(info) = NlasIterator::new(body.get(IFINFOMSG_LEN..)?)
            .filter_map(Result::ok)
            .find(|nla| attr(nla) == IFLA_LINKINFO)
        else {
            return Some(facts);
        };
        let text = |v: &[u8]| {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        };
        let mut port_kind = None;
        for nla in NlasIterator::new(info.value()).filter_map(Result::ok) {
            match attr(&nla) {
                IFLA_INFO_KIND => facts.kind = Some(text(nla.value())),
                IFLA_INFO_SLAVE_KIND => port_kind = Some(text(nla.value())),
                IFLA_INFO_SLAVE_DATA if port_kind.as_deref() == Some("bridge") => {
                    facts.port_state = NlasIterator::new(nla.value())
                        .filter_map(Result::ok)
                        .find(|a| attr(a) == IFLA_BRPORT_STATE)
                        .and_then(|a| a.value().first().copied());
                }
                _ => {}
            }
        }
        Some(facts)
    }
}

/// One message of a datagram: type, sequence number, body.
type RawMessage<'a> = (u16, u32, &'a [u8]);

/// The messages of one datagram.
fn datagram_messages<'a>(buf: &'a [u8], what: &str) -> Result<Vec<RawMessage<'a>>, NetError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let b = &buf[off..];
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(decode_error(what, "netlink message of a bad length"));
        }
        out.push((kind, seq, &b[NLMSG_HDRLEN..len]));
        off += len.next_multiple_of(4);
    }
    Ok(out)
}

/// A socket that hears of every link change in the calling thread's namespace: what lets a
/// caller wait for a state the kernel reaches asynchronously without polling for it.
pub(crate) struct LinkEvents {
    socket: Socket,
    buf: Vec<u8>,
}

impl LinkEvents {
    /// Subscribes; changes from now on are heard.
    pub(crate) fn subscribe() -> Result<Self, NetError> {
        let what = "listen for link changes";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| NetError::io(what, e))?;
        socket.bind_auto().map_err(|e| NetError::io(what, e))?;
        socket
            .add_membership(RTNLGRP_LINK)
            .map_err(|e| NetError::io(what, e))?;
        socket
            .set_non_blocking(true)
            .map_err(|e| NetError::io(what, e))?;
        Ok(LinkEvents {
            socket,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Waits up to `timeout` for a change to link `index`; says whether one came. Changes to
    /// other links are read and dropped. A lost notification (the socket's buffer overran)
    /// counts as a change: the caller looks again.
    pub(crate) fn wait_for(&mut self, index: u32, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, 0) {
                Ok(_) => {
                    let ours = datagram_messages(&self.buf, "link change")
                        .unwrap_or_default()
                        .iter()
                        .any(|(kind, _, body)| {
                            *kind == RTM_NEWLINK
                                && LinkFacts::parse(body).is_some_and(|f| f.index == index)
                        });
                    if ours {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
                    let fd = std::os::fd::AsFd::as_fd(&self.socket);
                    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
                    // A failed poll (EINTR) only means looking again.
                    let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                // ENOBUFS: notifications were dropped, ours may be among them.
                Err(_) => return true,
            }
        }
    }
}

/// The bytes of `msg` as request number `seq`.
pub(crate) fn serialize(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

/// The kernel's negative errno `code` for request `what`, as a [`NetError`].
pub(crate) fn kernel_error(what: &str, code: i32, detail: Option<String>) -> NetError {
    NetError::Netlink {
        what: what.to_string(),
        source: io::Error::from_raw_os_error(code.saturating_neg()),
        detail,
    }
}

fn decode_error(what: &str, why: &str) -> NetError {
    NetError::Netlink {
        what: what.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, why.to_string()),
        detail: None,
    }
}

/// The extended-ack message of an `NLMSG_ERROR` whose payload after the error code is
/// `rest`: the echoed request (only its header when `NLM_F_CAPPED`) then, with
/// `NLM_F_ACK_TLVS`, attributes.
pub(crate) fn ext_ack_message(flags: u16, rest: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || rest.len() < NLMSG_HDRLEN {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let len = u32::from_ne_bytes(rest[..4].try_into().ok()?) as usize;
        len.next_multiple_of(4)
    };
    let tlvs = rest.get(echoed..)?;
    NlasIterator::new(tlvs)
        .flatten()
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .map(|nla| {
            let v = nla.value();
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            String::from_utf8_lossy(&v[..end]).into_owned()
        })
        .filter(|s| !s.is_empty())
}

/// Whether `e` is the kernel saying errno is one of `codes` (positive, e.g. `libc::ENODEV`).
pub(crate) fn is_errno(e: &NetError, codes: &[i32]) -> bool {
    match e {
        NetError::Netlink { source, .. } => {
            source.raw_os_error().is_some_and(|c| codes.contains(&c))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NLMSG_ERROR;

    /// An `NLMSG_ERROR` datagram as the kernel sends it with `NETLINK_CAP_ACK` and
    /// `NETLINK_EXT_ACK`: code, the echoed header, then a `NLMSGERR_ATTR_MSG`.
    fn error_datagram(code: i32, seq: u32, msg: Option<&str>) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        let mut echoed = [0u8; NLMSG_HDRLEN];
        echoed[8..12].copy_from_slice(&seq.to_ne_bytes());
        payload.extend_from_slice(&echoed);
        let mut flags = NLM_F_CAPPED;
        if let Some(m) = msg {
            flags |= NLM_F_ACK_TLVS;
            let mut value = m.as_bytes().to_vec();
            value.push(0);
            let len = u16::try_from(4 + value.len()).unwrap();
            payload.extend_from_slice(&len.to_ne_bytes());
            payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend_from_slice(&value);
            payload.resize(payload.len().next_multiple_of(4), 0);
        }
        let mut out = u32::try_from(NLMSG_HDRLEN + payload.len())
            .unwrap()
            .to_ne_bytes()
            .to_vec();
        out.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn parse_error(bytes: &[u8]) -> NetError {
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).unwrap();
        let NetlinkPayload::Error(e) = m.payload else {
            panic!("not an error: {m:?}");
        };
        kernel_error(
            "create veth vb1",
            e.code.unwrap().get(),
            ext_ack_message(m.header.flags, &e.header),
        )
    }

    #[test]
    fn kernel_errors_name_the_object_the_errno_and_the_kernels_words() {
        let e = parse_error(&error_datagram(-17, 7, Some("Master device not found")));
        assert_eq!(
            e.to_string(),
            "create veth vb1: File exists (os error 17): Master device not found"
        );
        assert!(is_errno(&e, &[libc::EEXIST]));
        assert!(!is_errno(&e, &[libc::ENODEV]));
    }

    #[test]
    fn errors_without_an_extended_ack_keep_the_errno_only() {
        let e = parse_error(&error_datagram(-19, 1, None));
        assert_eq!(
            e.to_string(),
            "create veth vb1: No such device (os error 19)"
        );
        assert!(crate::sys::is_gone(&e));
    }

    #[test]
    fn an_uncapped_ack_skips_the_echoed_request_before_its_attributes() {
        // Without NETLINK_CAP_ACK the whole request (here 20 bytes) precedes the attributes.
        let mut rest = 20u32.to_ne_bytes().to_vec();
        rest.resize(20, 0);
        rest.extend_from_slice(&[9, 0, 1, 0, b'b', b'a', b'd', b'!', 0, 0, 0, 0]);
        assert_eq!(
            ext_ack_message(NLM_F_ACK_TLVS, &rest).as_deref(),
            Some("bad!")
        );
        assert_eq!(ext_ack_message(0, &rest), None);
    }

    /// One attribute: length, type, value, padding.
    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(4 + value.len())
            .unwrap()
            .to_ne_bytes()
            .to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn link_facts_read_the_kind_and_a_bridge_ports_state() {
        let mut ifinfo = vec![0u8; 16];
        ifinfo[4..8].copy_from_slice(&42u32.to_ne_bytes());
        // IFLA_IFNAME, then IFLA_LINKINFO { KIND "veth", SLAVE_KIND "bridge",
        // SLAVE_DATA { BRPORT_PRIORITY, BRPORT_STATE forwarding } } (nested flag set).
        let port = [nla(2, &[0, 0]), nla(1, &[3])].concat();
        let info = [
            nla(1, b"veth\0"),
            nla(4, b"bridge\0"),
            nla(5 | 0x8000, &port),
        ]
        .concat();
        let body = [ifinfo.clone(), nla(3, b"vb1\0"), nla(18 | 0x8000, &info)].concat();
        assert_eq!(
            LinkFacts::parse(&body),
            Some(LinkFacts {
                index: 42,
                kind: Some("veth".into()),
                port_state: Some(3),
            })
        );
        // A port of something else (a bond) has no bridge port state; a bare link no kind.
        let bond = [nla(4, b"bond\0"), nla(5, &nla(1, &[3]))].concat();
        let body = [ifinfo.clone(), nla(18, &bond)].concat();
        assert_eq!(LinkFacts::parse(&body).unwrap().port_state, None);
        let bare = LinkFacts::parse(&ifinfo).unwrap();
        assert_eq!((bare.index, bare.kind, bare.port_state), (42, None, None));
        assert_eq!(LinkFacts::parse(&ifinfo[..6]), None);
    }

    #[test]
    fn other_errors_are_not_errnos() {
        let e = NetError::io("x", io::Error::from_raw_os_error(19));
        assert!(!is_errno(&e, &[libc::ENODEV]));
    }
}
