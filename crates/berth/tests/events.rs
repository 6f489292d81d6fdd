//! `berth events` end to end (issue 11): events written by one process are read by another,
//! with docker's fields, filters, time windows, formats; many writers at once; rotation.
//!
//! The container test needs root (it runs a real container) and says SKIPPED otherwise; the
//! others use volumes and imported images, which any user can make in their own root.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Berth, Sandbox};
use serde_json::Value;

/// Unix time now as `SECONDS.NANOS`, a form `--since`/`--until` take.
fn now_arg() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// Events of the past (until now, unless `args` say until when) as JSON objects.
fn past_events(b: &Berth, args: &[&str]) -> Vec<Value> {
    let until = now_arg();
    let mut all = vec!["events", "--format", "{{json .}}"];
    if !args.contains(&"--until") {
        all.extend(["--until", &until]);
    }
    all.extend_from_slice(args);
    b.ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["Actor"]["ID"].as_str().unwrap(),
                e["Action"].as_str().unwrap()
            )
        })
        .collect()
}

/// A `berth events` follower whose lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(b: &Berth, args: &[&str]) -> Self {
        let mut child = b
            .command()
            .arg("events")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // A follower starts at the end of the journal: let it open it first.
        std::thread::sleep(Duration::from_millis(300));
        Self { child, lines }
    }

    /// Lines until one satisfies `last` (inclusive), or panics after `limit`.
    fn until(&self, limit: Duration, last: impl Fn(&str) -> bool) -> Vec<String> {
        let t = Instant::now();
        let mut got = Vec::new();
        while let Some(left) = limit.checked_sub(t.elapsed()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = last(&l);
                    got.push(l);
                    if done {
                        return got;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("the follower did not see the expected event in {limit:?}; it saw {got:#?}");
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_follower_sees_another_process_run_exit_and_rm_in_order() {
    let Some(b) = Sandbox::with_busybox() else {
        return;
    };
    let follower = Follower::start(
        &b,
        &["--format", "{{json .}}", "--filter", "type=container"],
    );
    let r = b.run(&[
        "run", "--name", "web", "-l", "app=shop", "-l", "tier", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    b.ok(&["rm", "web"]);
    let lines = follower.until(Duration::from_secs(20), |l| {
        l.contains(r#""Action":"destroy""#)
    });
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["create", "start", "die", "destroy"], "{lines:#?}");
    let id = events[0]["Actor"]["ID"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    for e in &events {
        assert_eq!(e["Type"], "container");
        assert_eq!(e["Actor"]["ID"], id);
        // docker's legacy fields, still sent for containers.
        assert_eq!(e["id"], id);
        assert_eq!(e["status"], e["Action"]);
        assert_eq!(e["from"], "busybox");
        assert_eq!(e["scope"], "local");
        let attrs = &e["Actor"]["Attributes"];
        assert_eq!(attrs["name"], "web");
        assert_eq!(attrs["image"], "busybox");
        assert_eq!(attrs["app"], "shop");
        assert_eq!(attrs["tier"], "");
        let nanos = e["timeNano"].as_i64().unwrap();
        assert_eq!(e["time"].as_i64().unwrap(), nanos / 1_000_000_000);
    }
    assert_eq!(events[2]["Actor"]["Attributes"]["exitCode"], "3");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Its network came and went with it, named by the network's ID.
    let net = past_events(&b, &["--since", "1h", "-f", "type=network"]);
    let got: Vec<(&str, &str)> = net
        .iter()
        .map(|e| {
            let a = &e["Actor"]["Attributes"];
            (
                e["Action"].as_str().unwrap(),
                a["container"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("connect", id), ("disconnect", id)]);
    assert_eq!(net[0]["Actor"]["Attributes"]["name"], "bridge");
    assert_eq!(net[0]["Actor"]["ID"].as_str().unwrap().len(), 64);
    assert!(
        net[0].get("status").is_none(),
        "networks carry no legacy fields"
    );

    // The same run as docker's default lines.
    let until = now_arg();
    let text = b.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        &until,
        "--filter",
        "event=die",
    ]);
    let line = text.lines().next().unwrap_or_default();
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
    assert_eq!(
        rest,
        format!("container die {id} (app=shop, execDuration=0, exitCode=3, image=busybox, name=web, tier=)")
    );
}

#[test]
fn since_until_filter_and_format_select_as_docker_does() {
    let b = Berth::new();
    b.ok(&["volume", "create", "alpha"]);
    b.ok(&["volume", "create", "beta"]);
    std::thread::sleep(Duration::from_millis(50));
    let middle = now_arg();
    std::thread::sleep(Duration::from_millis(50));
    b.ok(&["volume", "rm", "alpha"]);
    b.ok(&["volume", "create", "gamma"]);

    let all = past_events(&b, &["--since", "10m"]);
    assert_eq!(
        actions(&all),
        [
            "alpha create",
            "beta create",
            "alpha destroy",
            "gamma create"
        ]
    );
    assert_eq!(all[0]["Type"], "volume");
    assert_eq!(all[0]["Actor"]["Attributes"]["driver"], "local");
    // Volumes carry no legacy fields, as in docker.
    assert!(all[0].get("status").is_none() && all[0].get("id").is_none());

    // --since / --until, in unix seconds and in RFC 3339.
    assert_eq!(
        actions(&past_events(&b, &["--since", &middle])),
        ["alpha destroy", "gamma create"]
    );
    let before: Vec<String> = actions(&past_events(&b, &["--since", "0", "--until", &middle]));
    assert_eq!(before, ["alpha create", "beta create"]);
    let nanos = all[2]["timeNano"].as_i64().unwrap();
    let rfc = chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    assert_eq!(
        actions(&past_events(&b, &["--since", &rfc])),
        ["alpha destroy", "gamma create"]
    );

    // Same key: OR. Different keys: AND.
    assert_eq!(
        actions(&past_events(
            &b,
            &["--since", "0", "-f", "volume=alpha", "-f", "volume=gamma"]
        )),
        ["alpha create", "alpha destroy", "gamma create"]
    );
    assert_eq!(
        actions(&past_events(
            &b,
            &["--since", "0", "-f", "volume=alpha", "-f", "event=create"]
        )),
        ["alpha create"]
    );
    assert!(past_events(&b, &["--since", "0", "-f", "type=container"]).is_empty());

    // A template sees docker's Go field names.
    let until = now_arg();
    let text = b.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=destroy",
        "--format",
        "{{.Type}}/{{.Action}}/{{.Actor.ID}}/{{.Actor.Attributes.driver}}/{{.Scope}}",
    ]);
    assert_eq!(text, "volume/destroy/alpha/local/local\n");

    // Bad input is refused, with docker's words.
    let r = b.run(&["events", "--since", "soon"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("failed to parse value as time or duration"),
        "{}",
        r.stderr
    );
    let r = b.run(&["events", "--filter", "colour=red"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("invalid filter 'colour'"), "{}", r.stderr);
}

#[test]
fn images_are_recorded_by_id_with_the_name_they_were_given() {
    let b = Berth::new();
    let id = b.busybox("bb:1");
    let id = if id.starts_with("sha256:") {
        id
    } else {
        format!("sha256:{id}")
    };
    b.ok(&["tag", "bb:1", "bb:2"]);
    b.ok(&["rmi", "bb:2"]);
    b.ok(&["rmi", "bb:1"]);
    let events = past_events(&b, &["--since", "0", "-f", "type=image"]);
    let got: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap(),
                e["Actor"]["ID"].as_str().unwrap(),
                e["Actor"]["Attributes"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    let id = id.as_str();
    assert_eq!(
        got,
        [
            ("import", id, id),
            ("tag", id, "bb:2"),
            ("untag", id, id),
            ("untag", id, id),
            ("delete", id, id),
        ]
    );
    for e in &events {
        assert_eq!(e["status"], e["Action"]);
        assert_eq!(e["id"], id);
        assert!(e.get("from").is_none(), "images carry no from");
    }
    // `image=` matches a tag's name with or without the tag, and the ID.
    let by_repo = past_events(&b, &["--since", "0", "-f", "image=bb"]);
    assert_eq!(actions(&by_repo), [format!("{id} tag")]);
    assert_eq!(
        past_events(&b, &["--since", "0", "-f", &format!("image={id}")]).len(),
        5
    );
}

#[test]
fn an_until_in_the_future_follows_and_then_stops() {
    let b = Berth::new();
    let t = Instant::now();
    let child = b
        .command()
        .args(["events", "--until=-2s", "--format", "{{.Actor.ID}}"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    b.ok(&["volume", "create", "later"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "later\n");
    let took = t.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn writers_in_many_processes_give_whole_lines() {
    let b = Berth::new();
    let (writers, each) = (4, 12);
    let children: Vec<Child> = (0..writers)
        .map(|w| {
            let script = format!(
                "for i in $(seq 1 {each}); do \"$0\" volume create w{w}-$i >/dev/null || exit 1; done"
            );
            sh(&b, &script)
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let journal = std::fs::read_to_string(b.root().join("events/events.jsonl")).unwrap();
    let mut ids: Vec<String> = journal
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}"));
            v["Actor"]["ID"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = (0..writers)
        .flat_map(|w| (1..=each).map(move |i| format!("w{w}-{i}")))
        .collect();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(past_events(&b, &["--since", "0"]).len(), writers * each);
}

/// `sh -c SCRIPT` with berth's path as `$0` and `b`'s environment (its root).
fn sh(b: &Berth, script: &str) -> Child {
    let berth = b.command();
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", script, env!("CARGO_BIN_EXE_berth")]);
    for (k, v) in berth.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn rotation_keeps_since_working_across_the_rotated_file() {
    let b = Berth::new();
    // A journal just short of the rotation size (8 MiB), of events stamped a minute ago, one
    // nanosecond apart: the next real event takes it past the limit and rotates it.
    let dir = b.root().join("events");
    std::fs::create_dir_all(&dir).unwrap();
    let start = chrono::Utc::now().timestamp_nanos_opt().unwrap() - 60_000_000_000;
    let mut text = String::new();
    let mut n = 0i64;
    while text.len() < (8 << 20) - 100 {
        let t = start + n;
        text.push_str(&format!(
            r#"{{"Type":"volume","Action":"create","Actor":{{"ID":"old-{n}","Attributes":{{"driver":"local"}}}},"scope":"local","time":{},"timeNano":{t}}}"#,
            t / 1_000_000_000
        ));
        text.push('\n');
        n += 1;
    }
    std::fs::File::create(dir.join("events.jsonl"))
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    b.ok(&["volume", "create", "tips-it-over"]);
    b.ok(&["volume", "create", "after"]);
    let rotated = std::fs::metadata(dir.join("events.1.jsonl")).unwrap().len();
    assert!(rotated >= 8 << 20, "rotated at {rotated} bytes");
    let current = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(current.lines().count(), 1, "{current}");

    // --since a point inside the rotated file: its tail, then the new file.
    let t = start + n - 3;
    let since = format!("{}.{:09}", t / 1_000_000_000, t % 1_000_000_000);
    let got = actions(&past_events(&b, &["--since", &since]));
    let want: Vec<String> = (n - 3..n)
        .map(|i| format!("old-{i} create"))
        .chain([
            "tips-it-over create".to_string(),
            "after create".to_string(),
        ])
        .collect();
    assert_eq!(got, want);
    // And everything from both files, in order.
    let all = past_events(&b, &["--since", "0"]);
    assert_eq!(all.len() as i64, n + 2);
}
