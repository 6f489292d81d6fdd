//! `exec` through the engine library, from a multi-threaded process, as the API server will
//! call it: many execs at once, each with its own streams, none touching the caller's stdio,
//! terminal or signals. The process is created by `berth exec-shim` (the engine's
//! `EngineConfig.exe`), never in this threaded process.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use berth_engine::container::{ExecOptions, ProcessControl, ProcessIo};
use berth_engine::{Engine, EngineConfig, EngineError, ErrorKind};
use common::{wait_for, Sandbox};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The engine of the sandbox's root, with the test's berth binary as monitor and shim.
fn engine_config(s: &Sandbox) -> EngineConfig {
    let mut config = EngineConfig::new(s.root());
    config.run_root = s.run_root();
    config.exe = env!("CARGO_BIN_EXE_berth").into();
    config
}

fn opts(cmd: &[&str]) -> ExecOptions {
    ExecOptions {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Runs `opts` in `name`; (result, stdout, stderr).
fn exec(
    engine: &Engine,
    name: &str,
    opts: &ExecOptions,
    stdin: Option<&str>,
    control: Option<mpsc::Receiver<ProcessControl>>,
) -> (Result<i32, EngineError>, String, String) {
    let (out, err) = (Captured::default(), Captured::default());
    let mut io = ProcessIo::new(Box::new(out.clone()), Box::new(err.clone()));
    io.stdin = stdin.map(|s| Box::new(std::io::Cursor::new(s.to_string())) as _);
    io.control = control;
    let r = engine.exec(name, opts, io);
    (r, out.text(), err.text())
}

/// The pids of `berth exec-shim` processes for container `id`.
fn shims_of(id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&&b"exec-shim"[..]) && args.contains(&id.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

fn running_box(s: &Sandbox) {
    s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "box",
        "busybox",
        "sleep",
        "1000",
    ]);
}

#[test]
fn twenty_concurrent_execs_from_one_threaded_process_each_get_their_own_output_and_code() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    running_box(&s);
    // One engine shared by every thread, as the API server shares it.
    let engine = Arc::new(Engine::open(engine_config(&s)).unwrap());
    const N: usize = 20;
    let barrier = Arc::new(Barrier::new(N));
    let t = Instant::now();
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            std::thread::spawn(move || {
                let name = format!("thread-{i}");
                let script = format!("echo $0; echo err-$0 >&2; sleep 0.2; exit {}", i + 1);
                barrier.wait();
                let started = Instant::now();
                let (r, out, err) = exec(
                    &engine,
                    "box",
                    &opts(&["sh", "-c", &script, &name]),
                    None,
                    None,
                );
                (i, r.unwrap(), out, err, started.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for th in threads {
        let (i, code, out, err, took) = th.join().unwrap();
        assert_eq!(
            code,
            i as i32 + 1,
            "thread {i}: the exit code of its own process"
        );
        assert_eq!(out, format!("thread-{i}\n"), "thread {i}: its own stdout");
        assert_eq!(
            err,
            format!("err-thread-{i}\n"),
            "thread {i}: its own stderr"
        );
        slowest = slowest.max(took);
    }
    eprintln!(
        "{N} concurrent execs: all done in {:?} (slowest exec {slowest:?})",
        t.elapsed()
    );
    // Every shim has reaped its process and gone.
    let id = s.inspect("box", "{{.Id}}");
    let shims = || shims_of(&id);
    assert!(
        wait_for(Duration::from_secs(5), || shims().is_empty()),
        "{:?}",
        shims()
    );
}

#[test]
fn one_engine_serves_many_threads_creating_starting_listing_and_removing_at_once() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let engine = Arc::new(Engine::open(engine_config(&s)).unwrap());
    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            std::thread::spawn(move || {
                let name = format!("shared-{i}");
                let spec = berth_runtime::spec::ContainerSpec {
                    cmd: vec!["sh".into(), "-c".into(), format!("exit {i}")],
                    ..Default::default()
                };
                barrier.wait();
                let id = engine
                    .create_container(berth_engine::container::CreateOptions {
                        name: Some(name.clone()),
                        image: "busybox".into(),
                        spec,
                        network: berth_engine::container::NetworkMode::None,
                        ..Default::default()
                    })
                    .unwrap();
                engine
                    .start_container(&name, berth_engine::container::StartMode::Detached)
                    .unwrap();
                let code = engine.wait_container(&name).unwrap();
                let listed = engine
                    .containers(true, &Default::default())
                    .unwrap()
                    .iter()
                    .any(|c| c.record.id == id);
                let inspected = engine.inspect_container(&id).unwrap();
                engine.remove_container(&name, false, false).unwrap();
                (
                    i,
                    code,
                    listed,
                    inspected["Name"].as_str().map(str::to_string),
                )
            })
        })
        .collect();
    for th in threads {
        let (i, code, listed, name) = th.join().unwrap();
        assert_eq!(code, i as i64, "container {i}: its own exit code");
        assert!(listed, "container {i}: listed while it existed");
        assert_eq!(name.as_deref(), Some(format!("/shared-{i}").as_str()));
    }
    let left = engine.containers(true, &Default::default()).unwrap();
    assert!(left.is_empty(), "every container removed: {left:?}");
}

#[test]
fn exec_streams_stdin_signals_tty_detach_and_errors() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    running_box(&s);
    let engine = Engine::open(engine_config(&s)).unwrap();

    // stdin reaches the process; its end closes the process's stdin.
    let mut o = opts(&["sh", "-c", "cat; echo done"]);
    o.interactive = true;
    let (r, out, _) = exec(&engine, "box", &o, Some("hello\nworld\n"), None);
    assert_eq!((r.unwrap(), out.as_str()), (0, "hello\nworld\ndone\n"));

    // Without -i the process's stdin is empty, whatever the caller hands in.
    let (r, out, _) = exec(&engine, "box", &opts(&["cat"]), Some("ignored"), None);
    assert_eq!((r.unwrap(), out.as_str()), (0, ""));

    // A signal from the caller reaches the process: 128 + SIGTERM.
    let (tx, rx) = mpsc::channel();
    tx.send(ProcessControl::Signal(15)).unwrap();
    let t = Instant::now();
    let (r, _, _) = exec(&engine, "box", &opts(&["sleep", "30"]), None, Some(rx));
    assert_eq!(r.unwrap(), 143);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // A terminal: the process sees a tty of the size the caller sent.
    let (tx, rx) = mpsc::channel();
    tx.send(ProcessControl::Resize { rows: 33, cols: 77 })
        .unwrap();
    let mut o = opts(&["sh", "-c", "sleep 0.5; tty; stty size; exit 4"]);
    o.tty = true;
    let (r, out, _) = exec(&engine, "box", &o, None, Some(rx));
    assert_eq!(r.unwrap(), 4);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("33 77"), "{out:?}");

    // -d returns at once; the shim keeps the process.
    let mut o = opts(&["sh", "-c", "sleep 1; touch /detached"]);
    o.detach = true;
    let t = Instant::now();
    let (r, _, _) = exec(&engine, "box", &o, None, None);
    assert_eq!(r.unwrap(), 0);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let done = || {
        exec(
            &engine,
            "box",
            &opts(&["test", "-e", "/detached"]),
            None,
            None,
        )
        .0
        .unwrap()
            == 0
    };
    assert!(wait_for(Duration::from_secs(10), done));

    // Cannot be found, cannot be run: docker's 127 and 126.
    for (cmd, want) in [("no-such-command", 127), ("/etc/passwd", 126)] {
        match exec(&engine, "box", &opts(&[cmd]), None, None).0 {
            Err(EngineError::StartFailed { code, .. }) => assert_eq!(code, want, "{cmd}"),
            other => panic!("{cmd}: {other:?}"),
        }
    }

    // A container that is not running: a conflict, and no shim is started.
    s.ok(&["stop", "-t", "1", "box"]);
    let e = exec(&engine, "box", &opts(&["true"]), None, None)
        .0
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("is not running"), "{e}");
    let r = s.run(&["exec", "box", "true"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not running"), "{}", r.stderr);
}
