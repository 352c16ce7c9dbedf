//! Namespaces and identity: unshare (user first, the kernel creates the
//! others owned by it), id maps written by the launcher, then the sandbox user.

use super::plan::NetworkMode;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Pid, Uid};
use std::fs;

/// The namespaces every run gets; `net` unless the role shares the host's network.
pub fn clone_flags(network: NetworkMode) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWCGROUP;
    if network == NetworkMode::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// The ids the launcher maps: inside id -> outside id, one each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inside_uid: u32,
    pub inside_gid: u32,
    pub outside_uid: u32,
    pub outside_gid: u32,
    /// Root maps the sandbox user to the same host id and may keep setgroups;
    /// an unprivileged caller maps its own id and must deny setgroups.
    pub privileged: bool,
}

impl IdMap {
    pub fn for_caller(inside_uid: u32, inside_gid: u32) -> IdMap {
        let privileged = Uid::effective().is_root();
        let (outside_uid, outside_gid) = if privileged {
            (inside_uid, inside_gid)
        } else {
            (Uid::effective().as_raw(), Gid::effective().as_raw())
        };
        IdMap {
            inside_uid,
            inside_gid,
            outside_uid,
            outside_gid,
            privileged,
        }
    }

    pub fn uid_map_line(&self) -> String {
        format!("{} {} 1\n", self.inside_uid, self.outside_uid)
    }

    pub fn gid_map_line(&self) -> String {
        format!("{} {} 1\n", self.inside_gid, self.outside_gid)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing {file} for pid {pid}")]
pub struct MapError {
    pub file: String,
    pub pid: i32,
    #[source]
    pub source: std::io::Error,
}

/// Writes uid_map, then setgroups (deny when unprivileged), then gid_map.
pub fn write_id_maps(pid: Pid, map: &IdMap) -> Result<(), MapError> {
    let write = |file: &str, text: &str| {
        fs::write(format!("/proc/{pid}/{file}"), text).map_err(|source| MapError {
            file: file.to_string(),
            pid: pid.as_raw(),
            source,
        })
    };
    write("uid_map", &map.uid_map_line())?;
    if !map.privileged {
        write("setgroups", "deny")?;
    }
    write("gid_map", &map.gid_map_line())
}

/// Becomes the sandbox user inside the new user namespace. uid 0 of that
/// namespace is never mapped, so this keeps the namespace's capabilities
/// for the rest of the setup; they are dropped explicitly before exec.
pub fn become_sandbox_user(map: &IdMap) -> nix::Result<()> {
    if map.privileged {
        nix::unistd::setgroups(&[])?;
    }
    let g = Gid::from_raw(map.inside_gid);
    let u = Uid::from_raw(map.inside_uid);
    nix::unistd::setresgid(g, g, g)?;
    nix::unistd::setresuid(u, u, u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines() {
        let m = IdMap {
            inside_uid: 65534,
            inside_gid: 65534,
            outside_uid: 1000,
            outside_gid: 100,
            privileged: false,
        };
        assert_eq!(m.uid_map_line(), "65534 1000 1\n");
        assert_eq!(m.gid_map_line(), "65534 100 1\n");
    }

    #[test]
    fn net_namespace_only_without_host_network() {
        assert!(clone_flags(NetworkMode::None).contains(CloneFlags::CLONE_NEWNET));
        assert!(!clone_flags(NetworkMode::Host).contains(CloneFlags::CLONE_NEWNET));
    }
}
