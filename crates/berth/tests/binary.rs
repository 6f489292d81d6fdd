//! The berth binary as a file: what it makes the loader do at each exec.

use std::process::Command;

/// The shared libraries `file` names in its dynamic section (`readelf -d`).
fn needed(file: &str) -> Vec<String> {
    let out = Command::new("readelf")
        .args(["-d", file])
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf -d {file} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
        .collect()
}

/// build.rs links the unwinder statically: loading `libgcc_s.so.1` cost every exec ~0.1 ms.
#[test]
fn the_binary_does_not_load_libgcc_s() {
    let libs = needed(env!("CARGO_BIN_EXE_berth"));
    assert!(libs.iter().any(|l| l.starts_with("libc.so")), "{libs:?}");
    assert!(!libs.iter().any(|l| l.starts_with("libgcc_s")), "{libs:?}");
}

#[inline(never)]
fn fails_deep_down(depth: u32) -> u32 {
    if depth == 0 {
        panic!("the panic this test catches");
    }
    fails_deep_down(depth - 1) + 1
}

/// This test binary is linked as berth is (the same build script's search path): a panic
/// still unwinds through frames and is caught (as tokio does for the API server's tasks),
/// and a backtrace still walks the stack.
#[test]
fn panics_unwind_and_backtraces_walk_with_the_static_unwinder() {
    assert!(!needed(&std::env::current_exe().unwrap().to_string_lossy())
        .iter()
        .any(|l| l.starts_with("libgcc_s")));
    let caught = std::panic::catch_unwind(|| fails_deep_down(3));
    assert!(caught.is_err());
    let trace = std::backtrace::Backtrace::force_capture();
    assert_eq!(trace.status(), std::backtrace::BacktraceStatus::Captured);
    assert!(
        trace
            .to_string()
            .contains("panics_unwind_and_backtraces_walk_with_the_static_unwinder"),
        "{trace}"
    );
}
