//! Pods end to end: containers of a pod share localhost, IPC and the hostname, the pod's
//! published ports reach them, the lifecycle verbs act on all of them, a killed infra
//! process degrades the pod, and `pod rm -f` leaves nothing. Each test on its own bridge,
//! subnet and nft table.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{free_port, http_get, wait_for, Sandbox};

fn pod_field(s: &Sandbox, pod: &str, template: &str) -> String {
    s.ok(&["pod", "inspect", "-f", template, pod])
        .trim()
        .to_string()
}

#[test]
fn containers_of_a_pod_share_localhost_ipc_and_hostname_and_the_pods_ports() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let port = free_port();
    let id = s.ok(&[
        "pod",
        "create",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "-l",
        "app=site",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(pod_field(&s, "web", "{{.State}}"), "Created");

    // A member starts the infra with it; a second member reaches it on localhost.
    s.ok(&[
        "run", "-d", "--pod", "web", "--name", "srv", "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ]);
    assert!(
        wait_for(Duration::from_secs(5), || s
            .run(&[
                "run",
                "--rm",
                "--pod",
                "web",
                "busybox",
                "wget",
                "-qO-",
                "http://localhost/hostname"
            ])
            .stdout
            == "web\n"),
        "a pod member does not reach another on localhost"
    );
    // The pod's published port reaches the member that listens.
    assert_eq!(
        http_get(&format!("http://127.0.0.1:{port}/hostname")).as_deref(),
        Some("web\n")
    );
    // One IPC and UTS namespace for all, the hostname the pod's name.
    s.ok(&[
        "run", "-d", "--pod", "web", "--name", "side", "busybox", "sleep", "300",
    ]);
    let ns = |c: &str| {
        s.ok(&[
            "exec",
            c,
            "sh",
            "-c",
            "for n in ipc uts net; do readlink /proc/self/ns/$n; done",
        ])
    };
    assert_eq!(ns("srv"), ns("side"));
    assert_eq!(s.ok(&["exec", "side", "hostname"]), "web\n");

    // ls, inspect.
    let ls = s.ok(&["pod", "ls"]);
    let header = ls.lines().next().unwrap();
    assert!(
        header.starts_with("POD ID") && header.contains("# OF CONTAINERS"),
        "{ls}"
    );
    let row = ls
        .lines()
        .find(|l| l.contains(" web "))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(
        row.contains("Running") && row.trim_end().ends_with('3'),
        "{row}"
    );
    assert_eq!(
        s.ok(&["pod", "ls", "-q", "--filter", "label=app=site"])
            .trim(),
        &id[..12]
    );
    assert_eq!(s.ok(&["pod", "ls", "-q", "--filter", "name=nope"]), "");
    assert_eq!(
        pod_field(
            &s,
            &id[..8],
            "{{.Name}} {{.NumContainers}} {{.SharedNamespaces}}"
        ),
        "web 3 [ipc net uts]"
    );
    let top = s.ok(&["pod", "top", "web"]);
    assert!(
        top.contains("httpd") && top.contains("/pause") && top.contains("sleep 300"),
        "{top}"
    );

    // Lifecycle: stop stops all, start brings them back (and the port with them).
    s.ok(&["pod", "stop", "-t", "1", "web"]);
    assert_eq!(pod_field(&s, "web", "{{.State}}"), "Exited");
    assert!(http_get(&format!("http://127.0.0.1:{port}/hostname")).is_none());
    s.ok(&["pod", "start", "web"]);
    assert_eq!(pod_field(&s, "web", "{{.State}}"), "Running");
    assert!(wait_for(Duration::from_secs(5), || http_get(&format!(
        "http://127.0.0.1:{port}/hostname"
    ))
    .is_some()));
    s.ok(&["pod", "pause", "web"]);
    assert_eq!(pod_field(&s, "web", "{{.State}}"), "Paused");
    s.ok(&["pod", "unpause", "web"]);
    assert_eq!(pod_field(&s, "web", "{{.State}}"), "Running");

    // Events of type pod, in order.
    let events = s.ok(&[
        "events",
        "--since",
        "1h",
        // (whole seconds, as docker's: a second ahead takes in this one)
        "--until=-1s",
        "--filter",
        "type=pod",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        events.split_whitespace().collect::<Vec<_>>(),
        ["create", "stop", "start", "pause", "unpause"]
    );
    s.ok(&["pod", "rm", "-f", "web"]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
}

#[test]
fn a_killed_infra_degrades_the_pod_and_pod_rm_f_cleans_everything() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let port = free_port();
    s.ok(&["pod", "create", "--name", "pp", "-p", &format!("{port}:80")]);
    s.ok(&[
        "run", "-d", "--pod", "pp", "--name", "srv", "busybox", "httpd", "-f", "-p", "80",
    ]);
    let infra = pod_field(&s, "pp", "{{.InfraContainerId}}");
    let pid: i32 = s.inspect(&infra, "{{.State.Pid}}").parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || pod_field(&s, "pp", "{{.State}}")
            == "Degraded"),
        "the pod does not report its infra's death"
    );
    assert_eq!(s.inspect(&infra, "{{.State.ExitCode}}"), "137");
    // The infra goes with its pod only; a pod with a running member needs -f.
    let r = s.run(&["rm", "-f", &infra]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("infra container of pod pp"),
        "{}",
        r.stderr
    );
    let r = s.run(&["pod", "rm", "pp"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("pod rm -f"), "{}", r.stderr);
    let ids = s.ok(&["ps", "-aq", "--no-trunc"]);
    s.ok(&["pod", "rm", "-f", "pp"]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
    assert_eq!(s.ok(&["pod", "ls", "-q"]), "");
    for id in ids.split_whitespace() {
        assert!(
            wait_for(Duration::from_secs(5), || s.leftovers_of(id).is_empty()),
            "{:?}",
            s.leftovers_of(id)
        );
    }
    assert_eq!(s.mounts(), Vec::<String>::new());
}

#[test]
fn what_only_a_pod_may_set_is_refused_and_changes_nothing() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    s.ok(&["pod", "create", "--name", "pp"]);
    let before = s.ok(&["ps", "-aq"]);
    for (args, says) in [
        (
            &["run", "-d", "--pod", "pp", "-p", "80", "busybox", "true"][..],
            "set when it is created",
        ),
        (
            &[
                "run",
                "-d",
                "--pod",
                "pp",
                "--network",
                "none",
                "busybox",
                "true",
            ][..],
            "leave out --network",
        ),
        (
            &[
                "run",
                "-d",
                "--pod",
                "pp",
                "--hostname",
                "x",
                "busybox",
                "true",
            ][..],
            "leave out --hostname",
        ),
        (
            &["run", "-d", "--pod", "nope", "busybox", "true"][..],
            "no such pod: nope",
        ),
        (&["pod", "create", "--name", "pp"][..], "already in use"),
        (
            &["pod", "create", "--share", "pid"][..],
            "cannot share the \"pid\" namespace",
        ),
        (
            &["pod", "create", "--name", "bad name"][..],
            "invalid pod name",
        ),
    ] {
        let r = s.run(args);
        assert_ne!(r.code, 0, "{args:?} succeeded");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    assert_eq!(s.ok(&["ps", "-aq"]), before);
    assert_eq!(s.ok(&["pod", "ls", "--format", "{{.Name}}"]).trim(), "pp");
}
