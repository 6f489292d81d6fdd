//! A TCP relay on 127.0.0.1 that passes requests through at once and answers at a set rate:
//! a slow network between a client and a local server, so that a test can catch a download
//! part-way without making the download big.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Relays every connection made to the returned port to `127.0.0.1:upstream`. Bytes towards
/// the server pass unhindered; bytes back to the client go out at `bytes_per_sec` at most.
/// The relay lives as long as the test process.
pub fn slow_link(upstream: u16, bytes_per_sec: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (client_rx, server_tx) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || copy_at(client_rx, server_tx, None));
            std::thread::spawn(move || copy_at(server, client, Some(bytes_per_sec)));
        }
    });
    port
}

/// Copies `from` to `to` until either end closes, no faster than `rate` bytes a second when
/// one is given, then closes the writing side so the peer sees the end.
fn copy_at(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>) {
    // Small reads keep the pace even: at most a fiftieth of a second's worth at once.
    let chunk = rate.map_or(64 << 10, |r| (r / 50).clamp(1 << 10, 64 << 10) as usize);
    let mut buf = vec![0u8; chunk];
    // When the pace allows the next byte out; an idle connection earns no burst.
    let mut next = Instant::now();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(rate) = rate {
            next = next.max(Instant::now()) + Duration::from_secs_f64(n as f64 / rate as f64);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
