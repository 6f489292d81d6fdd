//! docker's `--since`/`--until` values (its `timetypes.GetTimestamp`): a Go duration before
//! now (`10m`, `1h30m`), an RFC 3339 date or time, possibly cut short (`2026-12-04`,
//! `2026-12-04T20:31`) and without a zone (then in the local zone), or unix seconds with an
//! optional fraction (`1700000000.5`).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::EngineError;

/// Parses `value` into unix nanoseconds; `now` is the reference for durations and gives the
/// zone of times written without one.
pub fn parse_timestamp(value: &str, now: DateTime<FixedOffset>) -> Result<i64, EngineError> {
    let bad = |why: &str| EngineError::InvalidArgument(format!("parsing time {value:?}: {why}"));
    if value != "0" {
        if let Some(d) = go_duration(value) {
            // docker keeps whole seconds of `now - d`.
            let secs =
                (now.timestamp_nanos_opt().unwrap_or_default() - d).div_euclid(1_000_000_000);
            return Ok(secs * 1_000_000_000);
        }
    }
    match date_time(value, *now.offset()) {
        Some(Ok(nanos)) => Ok(nanos),
        Some(Err(why)) => Err(bad(&why)),
        None => unix(value).ok_or_else(|| {
            EngineError::InvalidArgument(format!(
                "failed to parse value as time or duration: {value:?}"
            ))
        }),
    }
}

/// A Go `time.ParseDuration` value in nanoseconds, or `None` when it is not one. A lone `0`
/// is not taken as a duration: docker reads it as a unix time.
pub(crate) fn go_duration(value: &str) -> Option<i64> {
    if value == "0" {
        return None;
    }
    let (sign, rest) = match value.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, value),
    };
    let d = berth_build::parse::parse_go_duration(rest)?;
    Some(sign * i64::try_from(d.as_nanos()).ok()?)
}

/// An RFC 3339-like value: `None` when it does not look like a date at all (no `-`), an
/// error when it does but does not parse.
fn date_time(value: &str, local: FixedOffset) -> Option<Result<i64, String>> {
    if !value.contains('-') {
        return None;
    }
    // As docker decides: a `Z`, a `+` or a third `-` means the value carries its zone.
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let (body, offset) = if zoned {
        match split_zone(value) {
            Some(parts) => parts,
            None => return Some(Err("bad time zone".into())),
        }
    } else {
        (value, local)
    };
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
        return Some(Err("bad date".into()));
    };
    let time = match time.map(clock) {
        None => NaiveTime::MIN,
        Some(Some(t)) => t,
        Some(None) => return Some(Err("bad time of day".into())),
    };
    let t = offset
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()?;
    Some(t.timestamp_nanos_opt().ok_or_else(|| "out of range".into()))
}

/// `15`, `15:04`, `15:04:05` or `15:04:05.999999999`.
fn clock(t: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = t.split(':').collect();
    let num = |s: &str| -> Option<u32> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (h, m, s) = match parts.as_slice() {
        [h] => (num(h)?, 0, "00"),
        [h, m] => (num(h)?, num(m)?, "00"),
        [h, m, s] => (num(h)?, num(m)?, *s),
        _ => return None,
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    NaiveTime::from_hms_nano_opt(h, m, num(secs)?, nanos)
}

/// Splits a trailing `Z` or `±hh:mm` off.
fn split_zone(value: &str) -> Option<(&str, FixedOffset)> {
    if let Some(body) = value.strip_suffix(['Z', 'z']) {
        return Some((body, FixedOffset::east_opt(0)?));
    }
    let at = value.len().checked_sub(6)?;
    let (body, zone) = (value.get(..at)?, value.get(at..)?);
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = zone[1..].split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    Some((body, FixedOffset::east_opt(sign * secs)?))
}

/// `SECONDS[.FRACTION]`.
fn unix(value: &str) -> Option<i64> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32)
    };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn now() -> DateTime<FixedOffset> {
        // 2026-12-04T20:31:05.5+01:00
        DateTime::parse_from_rfc3339("2026-12-04T20:31:05.5+01:00").unwrap()
    }

    fn at(rfc: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn durations_count_back_from_now_in_whole_seconds() {
        let base = at("2026-12-04T20:31:05+01:00");
        assert_eq!(parse_timestamp("10m", now()).unwrap(), base - 600 * S);
        assert_eq!(parse_timestamp("1h30m", now()).unwrap(), base - 5400 * S);
        assert_eq!(parse_timestamp("1.5h", now()).unwrap(), base - 5400 * S);
        assert_eq!(parse_timestamp("500ms", now()).unwrap(), base);
        assert_eq!(parse_timestamp("0s", now()).unwrap(), base);
        assert_eq!(parse_timestamp("-1m", now()).unwrap(), base + 60 * S);
    }

    #[test]
    fn dates_and_times_with_or_without_zone() {
        let cases = [
            ("2026-12-04T19:31:05Z", at("2026-12-04T19:31:05Z")),
            ("2026-12-04T19:31:05.25Z", at("2026-12-04T19:31:05.25Z")),
            ("2026-12-04T19:31:05+02:00", at("2026-12-04T19:31:05+02:00")),
            ("2026-12-04T19:31:05-05:00", at("2026-12-04T19:31:05-05:00")),
            ("2026-12-04T19:31Z", at("2026-12-04T19:31:00Z")),
            ("2026-12-04T19Z", at("2026-12-04T19:00:00Z")),
            // No zone: the local one (here `now`'s, +01:00).
            ("2026-12-04T19:31:05", at("2026-12-04T19:31:05+01:00")),
            (
                "2026-12-04T19:31:05.123456789",
                at("2026-12-04T19:31:05.123456789+01:00"),
            ),
            ("2026-12-04T19:31", at("2026-12-04T19:31:00+01:00")),
            ("2026-12-04", at("2026-12-04T00:00:00+01:00")),
            ("2026-12-04Z", at("2026-12-04T00:00:00Z")),
        ];
        for (value, want) in cases {
            assert_eq!(parse_timestamp(value, now()).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn unix_seconds_with_fractions() {
        assert_eq!(parse_timestamp("0", now()).unwrap(), 0);
        assert_eq!(
            parse_timestamp("1700000000", now()).unwrap(),
            1_700_000_000 * S
        );
        assert_eq!(
            parse_timestamp("1700000000.5", now()).unwrap(),
            1_700_000_000 * S + S / 2
        );
        assert_eq!(
            parse_timestamp("1700000000.000000001", now()).unwrap(),
            1_700_000_000 * S + 1
        );
    }

    #[test]
    fn nonsense_is_refused_with_docker_words() {
        let e = parse_timestamp("yesterday", now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to parse value as time or duration: \"yesterday\""
        );
        for bad in [
            "2026-13-01",
            "2026-12-04T25:00",
            "2026-12-04T10:00+0100",
            "10x",
            "1.2.3",
            "",
        ] {
            assert!(parse_timestamp(bad, now()).is_err(), "{bad}");
        }
    }
}
