//! Capabilities: every set emptied before exec (the seed's `drop: ["ALL"]`).

use caps::{CapSet, Capability};
use nix::errno::Errno;

/// Drops the bounding set first (needs CAP_SETPCAP, still held), then
/// ambient, then inheritable, effective and permitted in one `capset`.
/// 43 system calls; reading each capability before dropping it, as the
/// `caps` crate's helpers do, took 88.
pub fn drop_all() -> Result<(), String> {
    for cap in caps::all() {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and changes
        // only this process's bounding set; no memory is passed.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(cap.index()),
                0,
                0,
                0,
            )
        };
        match (r, Errno::last()) {
            (0, _) => {}
            // A capability the running kernel does not know is not in the set.
            (_, Errno::EINVAL) => {}
            (_, e) => return Err(format!("dropping {cap} from the bounding set: {e}")),
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| e.to_string())?;
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads one header and the two data words that version 3
    // takes, both valid for the call; emptying every set is always allowed.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if r != 0 {
        return Err(format!(
            "emptying the effective, permitted and inheritable sets: {}",
            Errno::last()
        ));
    }
    Ok(())
}

/// capset(2)'s header and data words (libc does not define them).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, two data words.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// True when every capability set of this process is empty.
pub fn all_empty() -> bool {
    [
        CapSet::Bounding,
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ]
    .iter()
    .all(|s| caps::read(None, *s).is_ok_and(|c| c.is_empty()))
}

/// The capability names, for reports.
pub fn names() -> Vec<String> {
    caps::all().iter().map(Capability::to_string).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_ends_with_every_set_empty() {
        // In a child (this test may run as root with every capability, or
        // unprivileged with none): afterwards no set holds anything.
        // SAFETY: the child only drops capabilities, reads them and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = drop_all().is_ok() && all_empty();
            // SAFETY: end the child without unwinding.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
