//! Healthchecks, as docker runs them (moby `daemon/health.go`): the configuration (the image's
//! `HEALTHCHECK` merged under `run --health-*`), the probe's command, and the state machine
//! that turns probe results into `starting` → `healthy` / `unhealthy`.
//!
//! Everything here is pure; the monitor runs the probes ([`super::health_probe`]). The state
//! is kept in the container record as docker's `State.Health` JSON, so `inspect` shows it as
//! it is stored:
//!
//! ```text
//! {"Status":"unhealthy","FailingStreak":2,"Log":[{"Start":"…","End":"…","ExitCode":1,"Output":""}]}
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Docker's defaults for a zero setting.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a probe's output kept in its log entry.
pub const MAX_OUTPUT_LEN: usize = 4096;
/// Docker's smallest non-zero duration of a healthcheck setting.
const MIN_DURATION: i64 = 1_000_000;

/// Docker's `HealthConfig` (image config `Healthcheck`, container `Config.Healthcheck`):
/// durations in nanoseconds, 0 meaning "inherit, else the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", args…]`, `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn or_default(nanos: i64, default: Duration) -> Duration {
    match u64::try_from(nanos) {
        Ok(n) if n > 0 => Duration::from_nanos(n),
        _ => default,
    }
}

/// The `run --health-*` flags, as given (durations already parsed, in nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
    pub none: bool,
}

impl HealthFlags {
    /// The container's own `Healthcheck` as docker's CLI builds it: `--no-healthcheck` is
    /// `["NONE"]` and conflicts with every other flag; no flag at all leaves the image's.
    pub fn to_config(&self) -> Result<Option<HealthConfig>, EngineError> {
        let any = self.cmd.is_some()
            || self.interval != 0
            || self.timeout != 0
            || self.start_period != 0
            || self.start_interval != 0
            || self.retries != 0;
        if self.none {
            if any {
                return Err(EngineError::InvalidArgument(
                    "--no-healthcheck conflicts with --health-* options".into(),
                ));
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        for (flag, v) in [
            ("--health-interval", self.interval),
            ("--health-timeout", self.timeout),
            ("--health-retries", self.retries),
            ("--health-start-period", self.start_period),
            ("--health-start-interval", self.start_interval),
        ] {
            if v < 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "{flag} cannot be negative"
                )));
            }
        }
        Ok(Some(HealthConfig {
            test: match &self.cmd {
                Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.clone()],
                _ => Vec::new(),
            },
            interval: self.interval,
            timeout: self.timeout,
            start_period: self.start_period,
            start_interval: self.start_interval,
            retries: self.retries,
        }))
    }
}

impl HealthConfig {
    /// The daemon's checks of a container's healthcheck (moby `validateHealthCheck`).
    pub fn validate(&self) -> Result<(), EngineError> {
        for (name, v) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if v != 0 && v < MIN_DURATION {
                return Err(EngineError::InvalidArgument(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if self.retries < 0 {
            return Err(EngineError::InvalidArgument(
                "Retries in Healthcheck cannot be negative".into(),
            ));
        }
        Ok(())
    }

    /// The container's settings over the image's (moby `merge`): an empty test or a zero
    /// setting of the container's inherits the image's.
    pub fn merge(user: Option<Self>, image: Option<Self>) -> Option<Self> {
        let (Some(mut u), Some(i)) = (user.clone(), image.clone()) else {
            return user.or(image);
        };
        if u.test.is_empty() {
            u.test = i.test;
        }
        for (mine, theirs) in [
            (&mut u.interval, i.interval),
            (&mut u.timeout, i.timeout),
            (&mut u.start_period, i.start_period),
            (&mut u.start_interval, i.start_interval),
            (&mut u.retries, i.retries),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
        Some(u)
    }

    /// The probe's command line, or `None` when there is no check to run (no test, `NONE`,
    /// or a test type docker does not know).
    pub fn probe(&self) -> Option<Vec<String>> {
        match self.test.split_first()? {
            (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            (kind, [line]) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), line.clone()])
            }
            _ => None,
        }
    }

    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }

    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }

    pub fn start_period(&self) -> Duration {
        or_default(self.start_period, Duration::ZERO)
    }

    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }

    pub fn retries(&self) -> i64 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }

    /// How long until the next probe: the start interval while the container is starting
    /// within its start period, else the interval (moby `monitor`'s `getInterval`).
    pub fn next_interval(&self, status: HealthStatus, since_start: Duration) -> Duration {
        if since_start < self.start_period() && status == HealthStatus::Starting {
            self.start_interval()
        } else {
            self.interval()
        }
    }
}

/// `State.Health.Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result: docker's `HealthcheckResult` (times as RFC 3339 with nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    /// 0 healthy; anything else (-1: the probe could not run or timed out) a failure.
    pub exit_code: i64,
    pub output: String,
}

impl ProbeResult {
    /// A result from raw output, kept to docker's first [`MAX_OUTPUT_LEN`] bytes.
    pub fn new(start: i64, end: i64, exit_code: i64, output: &[u8]) -> Self {
        let kept = &output[..output.len().min(MAX_OUTPUT_LEN)];
        Self {
            start: super::rfc3339_nanos(start),
            end: super::rfc3339_nanos(end),
            exit_code,
            output: String::from_utf8_lossy(kept).into_owned(),
        }
    }
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: i64,
    pub log: Vec<ProbeResult>,
}

impl Health {
    /// The stored state (the record's `health` column); `None` without a healthcheck.
    pub fn from_json(json: &str) -> Option<Self> {
        if json.is_empty() {
            return None;
        }
        serde_json::from_str(json).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A (re)start: starting again, the streak reset, the log kept (moby `initHealthMonitor`).
    pub fn restart(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Takes one probe result (moby `handleProbeResult`). `since_start` is how long after
    /// the container started the probe began: a failure within the start period does not
    /// count while the container has never been healthy. Returns the new status when it
    /// changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        config: &HealthConfig,
        since_start: Duration,
    ) -> Option<HealthStatus> {
        let old = self.status;
        let passed = result.exit_code == 0;
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.drain(..=self.log.len() - MAX_LOG_ENTRIES);
        }
        self.log.push(result);
        if passed {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let grace =
                self.status == HealthStatus::Starting && since_start < config.start_period();
            if !grace {
                self.failing_streak += 1;
                if self.failing_streak >= config.retries() {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        (self.status != old).then_some(self.status)
    }
}

/// A Go `time.ParseDuration` value (`1s`, `1m30s`, `500ms`) in nanoseconds, for the
/// `--health-*` flags; the error is pflag's.
pub fn parse_go_duration(flag: &str, value: &str) -> Result<i64, EngineError> {
    if value == "0" {
        return Ok(0);
    }
    crate::events::go_duration(value).ok_or_else(|| {
        EngineError::InvalidArgument(format!(
            "invalid argument {value:?} for \"{flag}\" flag: time: invalid duration {value:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn check(cmd: &str) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD-SHELL".into(), cmd.into()],
            ..Default::default()
        }
    }

    fn result(code: i64) -> ProbeResult {
        ProbeResult::new(1, 2, code, b"out")
    }

    #[test]
    fn flags_become_docker_configs() {
        let none = HealthFlags {
            none: true,
            ..Default::default()
        };
        assert_eq!(none.to_config().unwrap().unwrap().test, vec!["NONE"]);
        let conflict = HealthFlags {
            none: true,
            retries: 2,
            ..Default::default()
        };
        assert_eq!(
            conflict.to_config().unwrap_err().to_string(),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(HealthFlags::default().to_config().unwrap(), None);
        let only_interval = HealthFlags {
            interval: S,
            ..Default::default()
        };
        let c = only_interval.to_config().unwrap().unwrap();
        assert!(c.test.is_empty(), "inherits the image's test");
        assert_eq!(c.interval, S);
        let negative = HealthFlags {
            timeout: -S,
            ..Default::default()
        };
        assert_eq!(
            negative.to_config().unwrap_err().to_string(),
            "--health-timeout cannot be negative"
        );
        let cmd = HealthFlags {
            cmd: Some("test -e /ok".into()),
            ..Default::default()
        };
        assert_eq!(
            cmd.to_config().unwrap().unwrap().test,
            vec!["CMD-SHELL", "test -e /ok"]
        );
    }

    #[test]
    fn container_settings_override_the_image_and_zero_inherits() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "/check".into()],
            interval: 10 * S,
            retries: 5,
            ..Default::default()
        };
        let user = HealthConfig {
            interval: S,
            ..Default::default()
        };
        let m = HealthConfig::merge(Some(user), Some(image.clone())).unwrap();
        assert_eq!(m.test, image.test);
        assert_eq!((m.interval, m.retries), (S, 5));
        let off = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        let m = HealthConfig::merge(Some(off), Some(image.clone())).unwrap();
        assert_eq!(m.probe(), None, "NONE disables the image's check");
        assert_eq!(HealthConfig::merge(None, Some(image.clone())), Some(image));
        assert_eq!(HealthConfig::merge(None, None), None);
    }

    #[test]
    fn probes_defaults_and_validation() {
        assert_eq!(
            check("x").probe(),
            Some(vec!["/bin/sh".into(), "-c".into(), "x".into()])
        );
        let exec = HealthConfig {
            test: vec!["CMD".into(), "/bin/true".into(), "a".into()],
            ..Default::default()
        };
        assert_eq!(exec.probe(), Some(vec!["/bin/true".into(), "a".into()]));
        for dead in [
            vec![],
            vec!["NONE".to_string()],
            vec!["PING".into(), "x".into()],
        ] {
            let c = HealthConfig {
                test: dead,
                ..Default::default()
            };
            assert_eq!(c.probe(), None);
        }
        let c = check("x");
        assert_eq!(
            (
                c.interval(),
                c.timeout(),
                c.start_period(),
                c.start_interval()
            ),
            (
                DEFAULT_INTERVAL,
                DEFAULT_TIMEOUT,
                Duration::ZERO,
                DEFAULT_START_INTERVAL
            )
        );
        assert_eq!(c.retries(), 3);
        let tiny = HealthConfig {
            interval: 1000,
            ..check("x")
        };
        assert_eq!(
            tiny.validate().unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert!(check("x").validate().is_ok());
    }

    #[test]
    fn retries_consecutive_failures_make_it_unhealthy_and_a_pass_heals() {
        let c = HealthConfig {
            retries: 2,
            ..check("x")
        };
        let mut h = Health::default();
        let later = Duration::from_secs(60);
        assert_eq!(h.record(result(0), &c, later), Some(HealthStatus::Healthy));
        assert_eq!(h.record(result(1), &c, later), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
        assert_eq!(
            h.record(result(1), &c, later),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(h.record(result(-1), &c, later), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(h.record(result(0), &c, later), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES, "the last five are kept");
        assert_eq!(h.log.last().map(|r| r.exit_code), Some(0));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_healthy() {
        let c = HealthConfig {
            retries: 1,
            start_period: 10 * S,
            ..check("x")
        };
        let mut h = Health::default();
        assert_eq!(h.record(result(1), &c, Duration::from_secs(1)), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(
            c.next_interval(h.status, Duration::from_secs(1)),
            DEFAULT_START_INTERVAL
        );
        assert_eq!(
            h.record(result(1), &c, Duration::from_secs(11)),
            Some(HealthStatus::Unhealthy)
        );
        let mut healthy = Health::default();
        healthy.record(result(0), &c, Duration::from_secs(1));
        assert_eq!(
            healthy.record(result(1), &c, Duration::from_secs(2)),
            Some(HealthStatus::Unhealthy),
            "once healthy, the start period is over"
        );
        assert_eq!(
            c.next_interval(HealthStatus::Healthy, Duration::from_secs(1)),
            DEFAULT_INTERVAL
        );
    }

    #[test]
    fn output_is_cut_at_4096_bytes_and_state_round_trips_as_docker_json() {
        let r = ProbeResult::new(0, 0, 1, &[b'a'; 5000]);
        assert_eq!(r.output.len(), MAX_OUTPUT_LEN);
        let mut h = Health::default();
        h.record(result(0), &check("x"), Duration::ZERO);
        let json = h.to_json();
        assert!(
            json.starts_with(r#"{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"#),
            "{json}"
        );
        assert_eq!(Health::from_json(&json), Some(h));
        assert_eq!(Health::from_json(""), None);
        assert_eq!(
            parse_go_duration("--health-interval", "1m30s").unwrap(),
            90 * S
        );
        assert_eq!(
            parse_go_duration("--health-interval", "soon").unwrap_err().to_string(),
            "invalid argument \"soon\" for \"--health-interval\" flag: time: invalid duration \"soon\""
        );
    }
}
