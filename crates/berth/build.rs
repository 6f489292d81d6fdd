//! Release builds link the functions of berth's hot paths first in `.text`, in the order of
//! `symbol-order.txt` (made by `scripts/symbol-order.sh`, which says why and how). Names the
//! linker does not find are skipped without a word, so an old file only orders less.

fn main() {
    static_unwinder();
    let order = std::path::Path::new("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // The option is lld's, Rust's default linker on x86_64 Linux (since 1.90); other targets
    // link as they always did.
    let lld_target = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    if release && lld_target && order.exists() {
        let path = std::fs::canonicalize(order).unwrap_or_else(|_| order.to_path_buf());
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Links the unwinder (`libgcc_eh.a`) into the binary instead of loading `libgcc_s.so.1` at
/// every exec: each shared library costs the loader its open, maps and symbol lookups, and
/// this one 0.12 ms of every process (an empty C program, `perf stat -r 500`), in a
/// `run --rm` of ~10 ms. Rust's `std` asks for `-lgcc_s` itself, so the library is replaced
/// where the linker looks first: a `libgcc_s.so` that is a linker script naming the static
/// archive, which is what gcc's own `-static-libgcc` links.
fn static_unwinder() {
    let gnu = std::env::var("TARGET").is_ok_and(|t| t.ends_with("-linux-gnu"));
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    if !gnu {
        return;
    }
    let dir = std::path::Path::new(&out).join("static-unwinder");
    let script = "/* berth's build.rs: the unwinder, linked statically */\nINPUT(-lgcc_eh)\n";
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("libgcc_s.so"), script));
    if written.is_ok() {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}
