//! Dropping the broker's privileges (`user`, `group` in its
//! configuration): once its socket is bound, the broker becomes that
//! account for good (real, effective and saved ids; supplementary groups
//! cleared), before it touches its state or its log, which that account
//! then owns. The sandbox is then built as that account (user namespaces,
//! and `cgroup_parent` a cgroup delegated to it).

use super::config::Account;
use nix::unistd::{getresgid, getresuid, setgroups, setresgid, setresuid, Gid, Uid};

/// Becomes `to`, and checks that root cannot be regained.
pub fn drop_to(to: &Account) -> Result<(), String> {
    let (uid, gid) = (Uid::from_raw(to.uid), Gid::from_raw(to.gid));
    if !nix::unistd::geteuid().is_root() {
        if nix::unistd::geteuid() == uid {
            return Ok(());
        }
        return Err(format!(
            "user = {}: the broker must start as root to become uid {} (it runs as uid {})",
            to.written,
            to.uid,
            nix::unistd::geteuid()
        ));
    }
    let fail = |what: &str, e: nix::Error| {
        format!("dropping to uid {} gid {}: {what}: {e}", to.uid, to.gid)
    };
    setgroups(&[gid]).map_err(|e| fail("setgroups", e))?;
    setresgid(gid, gid, gid).map_err(|e| fail("setresgid", e))?;
    setresuid(uid, uid, uid).map_err(|e| fail("setresuid", e))?;
    let ids = getresuid().map_err(|e| fail("getresuid", e))?;
    let gids = getresgid().map_err(|e| fail("getresgid", e))?;
    let regained = nix::unistd::setuid(Uid::from_raw(0)).is_ok();
    if [ids.real, ids.effective, ids.saved] != [uid; 3]
        || [gids.real, gids.effective, gids.saved] != [gid; 3]
        || regained
    {
        return Err(format!(
            "dropping to uid {} gid {}: the ids did not all change",
            to.uid, to.gid
        ));
    }
    // Changing ids cleared the dumpable flag, which makes this process's
    // /proc files root's: the launcher could not write its sandbox's
    // uid_map. What can now ptrace the broker runs as its account anyway.
    // SAFETY: prctl with PR_SET_DUMPABLE takes 0 or 1 and changes only
    // this process's own flag.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) } != 0 {
        return Err(fail("PR_SET_DUMPABLE", nix::Error::last()));
    }
    Ok(())
}
