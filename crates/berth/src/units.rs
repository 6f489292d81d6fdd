//! Sizes and durations printed the way docker prints them (go-units).

/// `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits ("13.3kB", "516MB").
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes, 3)
}

/// `HumanSizeWithPrecision(size, precision)`; `units.HumanSize` (progress bars) is precision 4
/// ("31.4MB", "212.2MB").
pub fn human_size_precision(bytes: u64, precision: i32) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_precision(size, precision), UNITS[i])
}

/// `units.BytesSize`: binary units, four significant digits ("15.33GiB", as `docker info`'s
/// Total Memory).
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_precision(size, 4), UNITS[i])
}

/// Go's `%.*g` with `precision` significant digits, without exponent for the sizes we meet.
fn go_precision(v: f64, precision: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (precision - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub use berth_engine::container::human_duration;

/// "11 months ago" from an RFC 3339 timestamp; "N/A" when missing or unreadable.
pub fn since(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) else {
        return "N/A".into();
    };
    let secs = chrono::Utc::now().signed_duration_since(t).num_seconds();
    format!("{} ago", human_duration(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_match_docker() {
        for (n, want) in [
            (0, "0B"),
            (1023, "1023B"),
            (1024, "1KiB"),
            (16_458_416_128, "15.33GiB"),
            (4_125_069_312, "3.842GiB"),
        ] {
            assert_eq!(bytes_size(n), want, "{n}");
        }
    }

    #[test]
    fn sizes_match_docker() {
        for (n, want) in [
            (0, "0B"),
            (13_336, "13.3kB"),
            (999, "999B"),
            (1_000, "1kB"),
            (516_000_000, "516MB"),
            (113_456_789, "113MB"),
            (1_250_000, "1.25MB"),
            (4_261_000, "4.26MB"),
        ] {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn durations_match_go_units() {
        for (s, want) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (11, "11 seconds"),
            (60, "About a minute"),
            (52 * 60, "52 minutes"),
            (3600, "About an hour"),
            (5 * 3600, "5 hours"),
            (5 * 86400, "5 days"),
            (20 * 86400, "2 weeks"),
            (330 * 86400, "11 months"),
            (800 * 86400, "2 years"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }
}
