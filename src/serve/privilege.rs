//! Dropping the broker's privileges (`user`, `group` in its
//! configuration): once its socket is bound, the broker becomes that
//! account for good (real, effective and saved ids; supplementary groups
//! cleared), before it touches its state or its log, which that account
//! then owns. The sandbox is then built as that account (user namespaces,
//! and `cgroup_parent` a cgroup delegated to it).

use super::config::Account;
use nix::unistd::{getresgid, getresuid, setgroups, setresgid, setresuid, Gid, Uid};
use std::path::Path;

/// Before the drop, as root: the log at `path` (made if missing, mode
/// 0600) is given to `to`, with the append-only flag where root sets it
/// in-process (`AGENTJAIL_AUDIT_APPEND_ONLY`, not in a temporary
/// directory): the account then appends to it but can neither truncate,
/// rewrite nor remove it. Returns whether the flag is set.
pub fn prepare_log(path: &Path, to: &Account) -> Result<bool, String> {
    use crate::audit::{clear_append_only, is_append_only, set_append_only};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!(
            "preparing the audit log {} for uid {}: {what}: {e}",
            path.display(),
            to.uid
        )
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("creating its directory", &e))?;
        std::os::unix::fs::chown(dir, Some(to.uid), Some(to.gid))
            .map_err(|e| fail("chown of its directory", &e))?;
    }
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| fail("opening", &e))?;
    let was = is_append_only(&file);
    if was {
        // The owner of an append-only file cannot change.
        clear_append_only(&file).map_err(|e| fail("clearing the append-only flag", &e))?;
    }
    std::os::unix::fs::fchown(&file, Some(to.uid), Some(to.gid)).map_err(|e| fail("chown", &e))?;
    if was || crate::audit::log::append_only_wanted(path) {
        if let Err(e) = set_append_only(&file) {
            if was {
                return Err(fail("setting the append-only flag again", &e));
            }
            tracing::info!("append-only flag not set on {}: {e}", path.display());
        }
    }
    Ok(is_append_only(&file))
}

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
