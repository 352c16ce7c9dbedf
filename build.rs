//! Links GCC's unwinder into the binary instead of loading `libgcc_s.so.1`.
//!
//! Rust's standard library on linux-gnu asks the linker for `-lgcc_s` (the
//! unwinder that panics and backtraces use). Loading that shared library at
//! every start costs its mapping, its relocations and its constructor,
//! `__cpu_indicator_init`, which runs a few dozen `cpuid` instructions: each
//! one traps to the hypervisor on a virtual machine (about 5 us here). This
//! script puts a linker script named `libgcc_s.a` first on the library path,
//! so that `-lgcc_s` resolves to GCC's static unwinder (`libgcc_eh.a`) and
//! support library (`libgcc.a`) instead. The unwinder's code is the same;
//! only where it lives changes. Nothing of it is hand-written here.
//!
//! Where the toolchain has no `libgcc_eh.a` (another libc, another
//! compiler), nothing changes and the binary loads `libgcc_s.so.1` as before.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    // The compiler that links (cc unless told otherwise) knows where its
    // own static unwinder lies; without one, leave the link as it is.
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let found = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_absolute() && p.exists());
    if found.is_none() {
        println!("cargo:warning=no libgcc_eh.a from `{cc} -print-file-name`: the binary will load libgcc_s.so.1");
        return;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let dir = out.join("static-unwinder");
    let script = dir.join("libgcc_s.a");
    if std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&script, "INPUT(-lgcc_eh -lgcc)\n"))
        .is_err()
    {
        println!(
            "cargo:warning=could not write {}: the binary will load libgcc_s.so.1",
            script.display()
        );
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
