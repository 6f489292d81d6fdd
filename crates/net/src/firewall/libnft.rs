//! libnftables, loaded at run time: the library behind the `nft` tool, so berth programs
//! nftables from its own process (no helper program per change) with the same script text and
//! the same atomicity as `nft -f -` — `nft_run_cmd_from_buffer` sends the whole buffer as one
//! netlink batch, which the kernel applies as one transaction.
//!
//! The library is `dlopen`ed rather than linked so that building berth needs no `-dev` package
//! and a host without nftables still runs everything but the firewall (the error names the
//! package). Only the handful of functions below are used; their signatures are those of
//! `<nftables/libnftables.h>`, stable since libnftables 0.9.
//!
//! libnftables is not thread-safe: a context must not be used by two threads at once, and some
//! of its state is process-wide (the interface cache that every command and `nft_ctx_free`
//! release, the one-time init in `nft_ctx_new`). Every call into the library therefore holds
//! one process-wide lock; the calls take microseconds to a few milliseconds.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, OnceLock};

use libloading::Library;

use crate::NetError;

/// The soname Debian's `libnftables1` ships (and the `nft` tool links).
const SONAME: &str = "libnftables.so.1";
/// `NFT_CTX_DEFAULT`: a context that talks to the kernel (opens its netlink socket).
const NFT_CTX_DEFAULT: u32 = 0;
/// `NFT_CTX_OUTPUT_JSON`: listings in JSON, as `nft -j`.
const NFT_CTX_OUTPUT_JSON: c_uint = 1 << 4;

type Ctx = *mut c_void;

/// The resolved entry points. The function pointers are valid while `_lib` is loaded, and it
/// is never unloaded: `Api` lives in a `static`.
struct Api {
    ctx_new: unsafe extern "C" fn(u32) -> Ctx,
    ctx_free: unsafe extern "C" fn(Ctx),
    buffer_output: unsafe extern "C" fn(Ctx) -> c_int,
    buffer_error: unsafe extern "C" fn(Ctx) -> c_int,
    output_buffer: unsafe extern "C" fn(Ctx) -> *const c_char,
    error_buffer: unsafe extern "C" fn(Ctx) -> *const c_char,
    set_output_flags: unsafe extern "C" fn(Ctx, c_uint),
    run_cmd: unsafe extern "C" fn(Ctx, *const c_char) -> c_int,
    _lib: Library,
}

/// Why the library could not be used (kept as text: the load is attempted once per process).
#[derive(Debug, Clone)]
enum LoadError {
    Missing,
    Symbol(String),
}

static API: OnceLock<Result<Api, LoadError>> = OnceLock::new();
static CALLS: Mutex<()> = Mutex::new(());

fn calls() -> MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic while holding it leaves nothing inconsistent.
    CALLS.lock().unwrap_or_else(|p| p.into_inner())
}

fn load() -> Result<Api, LoadError> {
    // SAFETY: loading libnftables runs its ELF constructors, which only initialise the
    // library's own state (it is the library the `nft` tool itself runs on).
    let lib = unsafe { Library::new(SONAME) }.map_err(|_| LoadError::Missing)?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is looked up by its exported name, and the type it is given
            // is its C prototype in <nftables/libnftables.h>. The pointer is copied out of
            // the `Symbol` and stays valid because the library is stored next to it in
            // `Api`, which is never dropped.
            unsafe {
                *lib.get(concat!($name, "\0").as_bytes())
                    .map_err(|e| LoadError::Symbol(format!("{}: {e}", $name)))?
            }
        };
    }
    Ok(Api {
        ctx_new: sym!("nft_ctx_new"),
        ctx_free: sym!("nft_ctx_free"),
        buffer_output: sym!("nft_ctx_buffer_output"),
        buffer_error: sym!("nft_ctx_buffer_error"),
        output_buffer: sym!("nft_ctx_get_output_buffer"),
        error_buffer: sym!("nft_ctx_get_error_buffer"),
        set_output_flags: sym!("nft_ctx_output_set_flags"),
        run_cmd: sym!("nft_run_cmd_from_buffer"),
        _lib: lib,
    })
}

fn api() -> Result<&'static Api, NetError> {
    match API.get_or_init(load) {
        Ok(api) => Ok(api),
        Err(LoadError::Missing) => Err(NetError::ToolMissing {
            tool: SONAME,
            package: "libnftables1",
        }),
        Err(LoadError::Symbol(s)) => Err(NetError::io(
            format!("load {SONAME}"),
            std::io::Error::other(format!("missing symbol {s}")),
        )),
    }
}

/// A libnftables context with its output and errors captured in buffers (nothing is written
/// to our stdout or stderr). It talks to the kernel over a netlink socket opened when it is
/// created, in the network namespace of the creating thread.
pub(crate) struct Context {
    api: &'static Api,
    ctx: NonNull<c_void>,
}

// SAFETY: a context is plain heap memory plus a socket, with no affinity to the thread that
// made it; `Context` methods take `&mut self` (callers keep it behind a Mutex) and every call
// holds `CALLS`, so it is never used by two threads at once.
unsafe impl Send for Context {}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new() -> Result<Self, NetError> {
        let api = api()?;
        probe_netlink()?;
        let _g = calls();
        // SAFETY: plain constructor call; a null result is handled below.
        let raw = unsafe { (api.ctx_new)(NFT_CTX_DEFAULT) };
        let ctx = NonNull::new(raw).ok_or_else(|| {
            NetError::io(
                "create libnftables context",
                std::io::Error::other("nft_ctx_new returned null"),
            )
        })?;
        let this = Context { api, ctx };
        // SAFETY: `ctx` is the live context just created, used by this thread only.
        let (o, e) = unsafe {
            (
                (api.buffer_output)(ctx.as_ptr()),
                (api.buffer_error)(ctx.as_ptr()),
            )
        };
        if o != 0 || e != 0 {
            return Err(NetError::io(
                "create libnftables context",
                std::io::Error::other("cannot buffer its output"),
            ));
        }
        Ok(this)
    }

    /// Runs `script` (nft syntax, one command per line) as one transaction. Returns what it
    /// printed (JSON when `json`), or libnftables' error text.
    pub(crate) fn run(&mut self, script: &str, json: bool) -> Result<String, String> {
        let text = CString::new(script).map_err(|_| "script contains a NUL byte".to_string())?;
        let p = self.ctx.as_ptr();
        let _g = calls();
        // SAFETY: `p` is this context, alive until `self` drops, and used only under `CALLS`
        // by the thread holding `&mut self`; `text` is a NUL-terminated string that outlives
        // the call. The returned buffers are owned by the context and stay valid until its
        // next call; they are copied into Strings before the lock is released.
        unsafe {
            (self.api.set_output_flags)(p, if json { NFT_CTX_OUTPUT_JSON } else { 0 });
            let rc = (self.api.run_cmd)(p, text.as_ptr());
            // Reading a buffer also rewinds it for the next command, so read both always.
            let out = buffer((self.api.output_buffer)(p));
            let err = buffer((self.api.error_buffer)(p));
            if rc == 0 {
                Ok(out)
            } else if err.trim().is_empty() {
                Err(format!("libnftables failed with code {rc}"))
            } else {
                Err(err.trim().to_string())
            }
        }
    }
}

/// libnftables `exit()`s the whole process when it cannot open its netlink socket (kernel
/// without nfnetlink, a seccomp filter, no file descriptors left): open one first, so that
/// case is an error of ours instead.
fn probe_netlink() -> Result<(), NetError> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map(drop)
    .map_err(|e| NetError::io("open a netfilter netlink socket for nftables", e.into()))
}

/// Copies a buffer returned by libnftables (NUL-terminated, or null).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid during the call.
unsafe fn buffer(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Drop for Context {
    fn drop(&mut self) {
        let _g = calls();
        // SAFETY: the context is live and dropped exactly once; nothing refers to it after.
        unsafe { (self.api.ctx_free)(self.ctx.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context, or `None` (with a loud SKIP) where libnftables is not installed.
    fn context(test: &str) -> Option<Context> {
        match Context::new() {
            Ok(c) => Some(c),
            Err(e @ NetError::ToolMissing { .. }) => {
                eprintln!("SKIPPED ({e}; run scripts/setup.sh): {test}");
                None
            }
            Err(e) => panic!("libnftables context: {e}"),
        }
    }

    #[test]
    fn errors_carry_libnftables_text_and_the_context_stays_usable() {
        // Parse errors are found before anything is sent to the kernel: no root needed.
        let Some(mut c) = context("errors_carry_libnftables_text") else {
            return;
        };
        let e = c.run("add tabel ip x", false).unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
        assert!(
            e.contains("add tabel ip x"),
            "the error quotes the line: {e}"
        );
        // The error buffer was rewound: the next error is not mixed with the first.
        let e2 = c.run("flush chain ip", false).unwrap_err();
        assert!(!e2.contains("tabel"), "{e2}");
        assert_eq!(
            c.run("add table ip x\0", false).unwrap_err(),
            "script contains a NUL byte"
        );
    }
}
