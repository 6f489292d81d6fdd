//! ADD's remote sources: downloads on the host, with Go's (so docker's) proxy rules, a file
//! name taken from the URL and the mtime from `Last-Modified`.

use std::path::Path;

use berth_image::digest::{Digest, Hasher};

/// A downloaded file, hashed on the way.
pub(super) struct Downloaded {
    pub file: tempfile::NamedTempFile,
    pub digest: Digest,
    pub size: u64,
    pub mtime: u64,
}

/// How long a download may wait to connect, and for each read.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// GETs `url` (redirects followed, the environment's proxy used) into a temporary file in
/// `dir`, hashing it as it streams: memory stays bounded whatever the size.
pub(super) fn download(url: &str, dir: &Path) -> Result<Downloaded, String> {
    let mut agent = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .redirects(10)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = proxy_for(url, |k| std::env::var(k).ok()) {
        let proxy = ureq::Proxy::new(&p).map_err(|e| format!("proxy {p}: {e}"))?;
        agent = agent.proxy(proxy);
    }
    let resp = agent.build().get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => format!("{code} {}", r.status_text()),
        ureq::Error::Transport(t) => berth_registry::client::transport_cause(&t),
    })?;
    let mtime = resp
        .header("Last-Modified")
        .and_then(http_date)
        .unwrap_or(0);
    let mut file = tempfile::Builder::new()
        .prefix("berth-add-")
        .tempfile_in(dir)
        .map_err(|e| format!("temporary file in {}: {e}", dir.display()))?;
    let mut sink = Hasher::new(std::io::BufWriter::new(file.as_file_mut()));
    std::io::copy(&mut resp.into_reader(), &mut sink).map_err(|e| format!("download: {e}"))?;
    let (digest, size, w) = sink.finish();
    w.into_inner()
        .map_err(|e| format!("temporary file: {}", e.error()))?;
    Ok(Downloaded {
        file,
        digest,
        size,
        mtime,
    })
}

/// An HTTP date (`Last-Modified`) as unix seconds; times before 1970 are 0.
fn http_date(v: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    Some(u64::try_from(t.timestamp()).unwrap_or(0))
}

/// The file name ADD gives a URL downloaded into a directory: the last non-empty segment of
/// the URL's path, percent-decoded (docker's `path.Base` of the URL path). None when the
/// path has none (`http://host/`), or it is `.` or `..`.
pub(super) fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find(['/', '?', '#'])?..];
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path);
    let name = decoded.rsplit('/').find(|s| !s.is_empty())?;
    (name != "." && name != ".." && !name.contains('\0')).then(|| name.to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proxy for `url` as Go's `http.ProxyFromEnvironment` (and so docker) picks it:
/// `HTTPS_PROXY` for https, `HTTP_PROXY` for http (either case), none for localhost and
/// loopback addresses or hosts `NO_PROXY` lists. `env` reads a variable.
fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let (host, port) = split_host_port(hostport);
    let host = host.to_ascii_lowercase();
    let ip = host.parse::<std::net::IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return None;
    }
    let get = |names: [&str; 2]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
    if let Some(no) = get(["NO_PROXY", "no_proxy"]) {
        let port = port.unwrap_or(if scheme.eq_ignore_ascii_case("https") {
            "443"
        } else {
            "80"
        });
        if no
            .split(',')
            .any(|e| no_proxy_matches(e.trim(), &host, ip, port))
        {
            return None;
        }
    }
    if scheme.eq_ignore_ascii_case("https") {
        get(["HTTPS_PROXY", "https_proxy"])
    } else {
        get(["HTTP_PROXY", "http_proxy"])
    }
}

fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':'));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

/// One `NO_PROXY` entry: `*`, a domain (`example.com`, `.example.com`: it and its
/// subdomains), an IP address or a CIDR block, each optionally with `:port`.
fn no_proxy_matches(entry: &str, host: &str, ip: Option<std::net::IpAddr>, port: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) =
            (net.parse::<std::net::IpAddr>(), bits.parse::<u32>(), ip)
        else {
            return false;
        };
        return in_cidr(ip, net, bits);
    }
    let (name, want_port) = split_host_port(entry);
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    if let (Ok(e), Some(ip)) = (name.parse::<std::net::IpAddr>(), ip) {
        return e == ip;
    }
    let name = name
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .to_ascii_lowercase();
    !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
}

fn in_cidr(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (a, b, width) = match (ip, net) {
        (V4(a), V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url_path() {
        for (url, want) in [
            ("https://example.com/f.tgz", Some("f.tgz")),
            ("https://example.com/a/b/c.txt?x=1#frag", Some("c.txt")),
            ("http://example.com:8080/dir/", Some("dir")),
            ("http://example.com/a%20b.txt", Some("a b.txt")),
            ("http://example.com/a%2Fb", Some("b")),
            ("http://example.com/100%", Some("100%")),
            ("http://user:pw@example.com/x", Some("x")),
            ("https://example.com", None),
            ("https://example.com/", None),
            ("https://example.com/?name=f.txt", None),
            ("https://example.com?q=/f.txt", None),
            ("https://example.com/a/..", None),
            ("https://example.com/.", None),
            ("https://example.com/a%00b", None),
        ] {
            assert_eq!(url_file_name(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn proxies_follow_the_environment_as_go_does() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = &[
            ("HTTP_PROXY", "http://p:3128"),
            ("https_proxy", "http://s:3128"),
            (
                "NO_PROXY",
                "internal.example, .corp, 10.0.0.0/8, 192.168.1.7, host.test:8443",
            ),
        ];
        for (url, want) in [
            ("http://example.com/f", Some("http://p:3128")),
            ("https://example.com/f", Some("http://s:3128")),
            ("http://127.0.0.1:8000/f", None),
            ("http://localhost/f", None),
            ("http://[::1]:80/f", None),
            ("https://internal.example/f", None),
            ("https://a.internal.example/f", None),
            ("https://notinternal.example/f", Some("http://s:3128")),
            ("https://x.corp/f", None),
            ("http://10.1.2.3/f", None),
            ("http://192.168.1.7/f", None),
            ("http://192.168.1.8/f", Some("http://p:3128")),
            ("https://host.test:8443/f", None),
            ("https://host.test/f", Some("http://s:3128")),
        ] {
            assert_eq!(proxy_for(url, env(both)).as_deref(), want, "{url}");
        }
        assert_eq!(proxy_for("http://example.com/", env(&[])), None);
        assert_eq!(
            proxy_for(
                "http://example.com/",
                env(&[("http_proxy", "p:1"), ("NO_PROXY", "*")])
            ),
            None
        );
    }

    #[test]
    fn last_modified_dates_parse() {
        assert_eq!(
            http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480)
        );
        assert_eq!(http_date("not a date"), None);
    }
}
