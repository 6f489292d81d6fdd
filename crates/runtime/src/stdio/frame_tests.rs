use super::*;
use std::io::ErrorKind;

/// A reader that hands out one byte per `read`, to exercise short reads.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn read_all_frames(wire: &[u8], one_byte: bool) -> io::Result<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut next = |f: &mut dyn FnMut() -> io::Result<Option<(u8, Vec<u8>)>>| -> io::Result<()> {
        while let Some(frame) = f()? {
            out.push(frame);
        }
        Ok(())
    };
    if one_byte {
        let mut r = FrameReader::new(OneByte(wire));
        next(&mut || r.next())?;
    } else {
        let mut r = FrameReader::new(wire);
        next(&mut || r.next())?;
    }
    Ok(out)
}

fn read_all_client(wire: &[u8], one_byte: bool) -> io::Result<Vec<ClientMsg>> {
    let mut out = Vec::new();
    if one_byte {
        let mut r = ClientReader::new(OneByte(wire));
        while let Some(m) = r.next()? {
            out.push(m);
        }
    } else {
        let mut r = ClientReader::new(wire);
        while let Some(m) = r.next()? {
            out.push(m);
        }
    }
    Ok(out)
}

#[test]
fn stdio_frame_header_matches_docker() {
    let mut wire = Vec::new();
    write_frame(&mut wire, STDERR, b"oops").expect("write");
    assert_eq!(wire, [2, 0, 0, 0, 0, 0, 0, 4, b'o', b'o', b'p', b's']);
    let mut wire = Vec::new();
    write_exit(&mut wire, -2).expect("write");
    assert_eq!(wire, [3, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
}

#[test]
fn stdio_frame_round_trip_table() {
    let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i % 251) as u8).collect();
    let cases: Vec<Vec<(u8, Vec<u8>)>> = vec![
        vec![],
        vec![(STDOUT, b"hello\n".to_vec())],
        vec![(STDOUT, b"a".to_vec()), (STDERR, b"b".to_vec())],
        vec![(STDIN, vec![0, 1, 2, 255])],
        vec![(STDOUT, big.clone()), (EXIT, 137i32.to_be_bytes().to_vec())],
    ];
    for (i, frames) in cases.iter().enumerate() {
        let mut wire = Vec::new();
        for (stream, data) in frames {
            write_frame(&mut wire, *stream, data).expect("write");
        }
        for one_byte in [false, true] {
            let got = read_all_frames(&wire, one_byte).expect("read");
            assert_eq!(&got, frames, "case {i} one_byte={one_byte}");
        }
    }
}

#[test]
fn stdio_frame_exit_code_decoding() {
    let mut wire = Vec::new();
    write_frame(&mut wire, STDOUT, b"x").expect("write");
    write_exit(&mut wire, 42).expect("exit");
    let frames = read_all_frames(&wire, true).expect("read");
    assert_eq!(frames[1].0, EXIT);
    assert_eq!(exit_code(&frames[1].1).expect("code"), 42);
    assert!(exit_code(b"abc").is_err());
}

#[test]
fn a_start_failure_carries_its_code_and_message() {
    let mut wire = Vec::new();
    write_start_failed(&mut wire, 127, "exec: \"nope\": not found").expect("write");
    let frames = read_all_frames(&wire, true).expect("read");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, START_FAILED);
    let (code, message) = start_failure(&frames[0].1).expect("decode");
    assert_eq!((code, message.as_str()), (127, "exec: \"nope\": not found"));
    // A payload too short for the code is refused, on the wire and decoded.
    assert!(start_failure(b"ab").is_err());
    let short = [START_FAILED, 0, 0, 0, 0, 0, 0, 2, b'a', b'b'];
    assert!(read_all_frames(&short, false).is_err());
}

#[test]
fn stdio_frame_writer_splits_over_cap() {
    let data = vec![7u8; MAX_PAYLOAD + 10];
    let mut wire = Vec::new();
    write_frame(&mut wire, STDOUT, &data).expect("write");
    let frames = read_all_frames(&wire, false).expect("read");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].1.len(), MAX_PAYLOAD);
    assert_eq!(frames[1].1.len(), 10);
    assert!(write_frame(&mut Vec::new(), 9, b"x").is_err());
}

#[test]
fn stdio_frame_malformed_table() {
    let over = ((MAX_PAYLOAD + 1) as u32).to_be_bytes();
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        (
            "unknown stream",
            vec![4, 0, 0, 0, 0, 0, 0, 1, b'x'],
            ErrorKind::InvalidData,
        ),
        (
            "stream 255",
            vec![255, 0, 0, 0, 0, 0, 0, 0],
            ErrorKind::InvalidData,
        ),
        (
            "over cap",
            [&[1u8, 0, 0, 0][..], &over[..]].concat(),
            ErrorKind::InvalidData,
        ),
        (
            "exit wrong size",
            vec![3, 0, 0, 0, 0, 0, 0, 2, 0, 1],
            ErrorKind::InvalidData,
        ),
        ("short header", vec![1, 0, 0], ErrorKind::UnexpectedEof),
        (
            "short payload",
            vec![1, 0, 0, 0, 0, 0, 0, 5, b'a', b'b'],
            ErrorKind::UnexpectedEof,
        ),
        (
            "header only",
            vec![2, 0, 0, 0, 0, 0, 0, 1],
            ErrorKind::UnexpectedEof,
        ),
    ];
    for (name, wire, kind) in cases {
        for one_byte in [false, true] {
            let err = read_all_frames(&wire, one_byte).expect_err(name);
            assert_eq!(err.kind(), kind, "{name}: {err}");
        }
    }
}

#[test]
fn stdio_frame_error_after_good_frames() {
    let mut wire = Vec::new();
    write_frame(&mut wire, STDOUT, b"ok").expect("write");
    wire.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9, b'c', b'u', b't']);
    let mut r = FrameReader::new(&wire[..]);
    assert_eq!(r.next().expect("first"), Some((STDOUT, b"ok".to_vec())));
    let err = r.next().expect_err("truncated");
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn stdio_client_encoding_table() {
    let cases: Vec<(ClientMsg, Vec<u8>)> = vec![
        (
            ClientMsg::Stdin(b"ls\n".to_vec()),
            vec![0, 0, 0, 0, 3, b'l', b's', b'\n'],
        ),
        (ClientMsg::Stdin(Vec::new()), vec![0, 0, 0, 0, 0]),
        (ClientMsg::CloseStdin, vec![1, 0, 0, 0, 0]),
        (
            ClientMsg::Resize {
                rows: 24,
                cols: 300,
            },
            vec![2, 0, 0, 0, 4, 0, 24, 1, 44],
        ),
        (ClientMsg::Signal(15), vec![3, 0, 0, 0, 4, 0, 0, 0, 15]),
        (
            ClientMsg::Signal(-1),
            vec![3, 0, 0, 0, 4, 255, 255, 255, 255],
        ),
    ];
    for (msg, want) in &cases {
        assert_eq!(&encode_client(msg).expect("encode"), want, "{msg:?}");
    }
    let mut wire = Vec::new();
    for (msg, _) in &cases {
        write_client(&mut wire, msg).expect("write");
    }
    let want: Vec<ClientMsg> = cases.into_iter().map(|(m, _)| m).collect();
    for one_byte in [false, true] {
        assert_eq!(read_all_client(&wire, one_byte).expect("read"), want);
    }
}

#[test]
fn stdio_client_big_stdin() {
    let big = vec![b'z'; 1 << 20];
    let mut wire = Vec::new();
    write_client(&mut wire, &ClientMsg::Stdin(big.clone())).expect("write");
    write_client(&mut wire, &ClientMsg::CloseStdin).expect("write");
    let got = read_all_client(&wire, false).expect("read");
    assert_eq!(got, vec![ClientMsg::Stdin(big), ClientMsg::CloseStdin]);

    let huge = vec![0u8; MAX_PAYLOAD + 1];
    assert!(encode_client(&ClientMsg::Stdin(huge.clone())).is_err());
    let mut wire = Vec::new();
    write_client(&mut wire, &ClientMsg::Stdin(huge)).expect("split");
    let got = read_all_client(&wire, false).expect("read");
    assert_eq!(got.len(), 2);
}

#[test]
fn stdio_client_malformed_table() {
    let over = ((MAX_PAYLOAD + 1) as u32).to_be_bytes();
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        ("unknown kind", vec![9, 0, 0, 0, 0], ErrorKind::InvalidData),
        (
            "over cap",
            [&[0u8][..], &over[..]].concat(),
            ErrorKind::InvalidData,
        ),
        (
            "resize short",
            vec![2, 0, 0, 0, 2, 0, 1],
            ErrorKind::InvalidData,
        ),
        (
            "signal long",
            vec![3, 0, 0, 0, 5, 0, 0, 0, 0, 9],
            ErrorKind::InvalidData,
        ),
        (
            "close with payload",
            vec![1, 0, 0, 0, 1, 0],
            ErrorKind::InvalidData,
        ),
        ("short header", vec![0, 0, 0], ErrorKind::UnexpectedEof),
        (
            "short payload",
            vec![0, 0, 0, 0, 4, b'a'],
            ErrorKind::UnexpectedEof,
        ),
        (
            "resize cut",
            vec![2, 0, 0, 0, 4, 0, 24],
            ErrorKind::UnexpectedEof,
        ),
    ];
    for (name, wire, kind) in cases {
        for one_byte in [false, true] {
            let err = read_all_client(&wire, one_byte).expect_err(name);
            assert_eq!(err.kind(), kind, "{name}: {err}");
        }
    }
}
