//! Release builds link the functions of berth's hot paths first in `.text`, in the order of
//! `symbol-order.txt` (made by `scripts/symbol-order.sh`, which says why and how). Names the
//! linker does not find are skipped without a word, so an old file only orders less.

fn main() {
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
