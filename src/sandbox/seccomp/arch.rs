//! The one architecture the filter admits. The filter is built for
//! x86_64 ([`AUDIT_ARCH`]); its architecture check kills a
//! process that enters through another ABI (i386 `int 0x80`) with `SIGSYS`.
//! x32 calls (numbers with bit `0x40000000` set) pass the architecture
//! check but are absent from the table, so they fail with `ENOSYS`.
//!
//! It may not name system calls: the table (`table.rs`) is written for this
//! architecture's numbers, hence the compile error elsewhere.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("agentjail's seccomp policy table is written for x86_64 only");

/// The architecture the filter is compiled for, as `seccomp_data.arch`
/// gives it: `AUDIT_ARCH_X86_64` (EM_X86_64 | 64-bit | little-endian).
pub(super) const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::compile::build_filters;
    use super::super::kernel_tests::{describe, in_child};

    /// getpid through the i386 entry point; returns the kernel's answer.
    fn int80_getpid() -> i64 {
        // __NR_getpid on i386.
        let mut ret: i64 = 20;
        // SAFETY: `int 0x80` with eax = getpid takes no pointers; the
        // registers the 32-bit entry may clobber are declared.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("rax") ret,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack)
            );
        }
        ret
    }

    fn int80_body() -> i32 {
        // SAFETY: plain getpid.
        let pid = unsafe { libc::getpid() };
        i32::from(int80_getpid() != i64::from(pid))
    }

    #[test]
    fn foreign_architecture_calls_are_refused() {
        // Only meaningful where the kernel runs i386 calls at all.
        let probe = in_child(None, int80_body);
        if !(libc::WIFEXITED(probe) && libc::WEXITSTATUS(probe) == 0) {
            eprintln!(
                "skipping: no i386 emulation here ({})",
                describe(probe, &[])
            );
            return;
        }
        let filters = build_filters().unwrap();
        let status = in_child(Some(&filters), int80_body);
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
            "{}",
            describe(status, &[])
        );
    }
}
