//! cgroup v1: one directory per hierarchy (memory, cpu, pids; cpuacct for
//! usage when it is mounted with cpu), limits in memory.limit_in_bytes and memsw, cpu.cfs_quota_us
//! over cpu.cfs_period_us, and pids.max.

use super::{
    io, own_path, read_keyed, read_u64, remove_stale, CgroupError, Controller, Request, RunCgroup,
    Usage, CONTROLLERS,
};
use std::fs;
use std::path::{Path, PathBuf};

const CFS_PERIOD_US: u64 = 100_000;

fn mount_of<'a>(mounts: &'a [(String, PathBuf)], name: &str) -> Option<&'a Path> {
    mounts
        .iter()
        .find(|(c, _)| c == name)
        .map(|(_, p)| p.as_path())
}

/// The parent directory in one hierarchy: the one named by `--cgroup-parent`,
/// or `agentjail` below the launcher's own cgroup there.
/// `own` is the text of /proc/self/cgroup, read once per run's cgroup.
fn parent_dir(mount: &Path, controller: &str, req: &Request, own: Option<&str>) -> PathBuf {
    match &req.parent {
        Some(p) => mount.join(p.strip_prefix("/").unwrap_or(p)),
        None => {
            let own = own
                .and_then(|t| own_path(t, Some(controller)))
                .unwrap_or_else(|| "/".into());
            mount.join(own.trim_start_matches('/')).join("agentjail")
        }
    }
}

fn unavailable(
    c: &'static str,
    why: String,
    req: &Request,
    mounts: &[(String, PathBuf)],
) -> CgroupError {
    let fix = if let Some(parent) = req
        .parent
        .as_ref()
        .filter(|_| !nix::unistd::geteuid().is_root())
    {
        format!(
            "check that {} exists under every hierarchy ({}) and belongs to this user",
            parent.display(),
            mounts
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else if !nix::unistd::geteuid().is_root() {
        super::delegation_fix(&super::Layout::V1 {
            mounts: mounts.to_vec(),
        })
    } else {
        format!("make the {c} hierarchy writable, or list \"{c}\" in the role's sandbox.optional")
    };
    CgroupError::Unavailable {
        controller: c,
        why,
        fix,
    }
}

/// Makes (or reuses) a parent directory and the run directory below it.
fn make_run_dir(parent: &Path, name: &str) -> std::io::Result<PathBuf> {
    fs::create_dir_all(parent)?;
    remove_stale(parent);
    let dir = parent.join(name);
    fs::create_dir(&dir)?;
    Ok(dir)
}

fn write(dir: &Path, file: &str, value: u64) -> Result<(), CgroupError> {
    let p = dir.join(file);
    fs::write(&p, value.to_string()).map_err(io("writing", &p))
}

fn apply(c: Controller, dir: &Path, req: &Request) -> Result<(), CgroupError> {
    match c {
        Controller::Memory => {
            write(dir, "memory.limit_in_bytes", req.limits.memory)?;
            // Swap 0: memory plus swap capped at the same figure, where the kernel accounts swap.
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                write(dir, "memory.memsw.limit_in_bytes", req.limits.memory)?;
            } else {
                write(dir, "memory.swappiness", 0)?;
            }
            Ok(())
        }
        Controller::Cpu => {
            write(dir, "cpu.cfs_period_us", CFS_PERIOD_US)?;
            write(
                dir,
                "cpu.cfs_quota_us",
                req.limits.cpu_millis * CFS_PERIOD_US / 1000,
            )
        }
        Controller::Pids => write(dir, "pids.max", req.limits.pids),
    }
}

pub(super) fn create(
    mounts: &[(String, PathBuf)],
    req: &Request,
    name: &str,
) -> Result<RunCgroup, CgroupError> {
    let mut cg = RunCgroup {
        version: "v1",
        dirs: Vec::new(),
        applied: Vec::new(),
        skipped: Vec::new(),
        cpuacct: None,
        removed: false,
    };
    let own = match req.parent {
        Some(_) => None,
        None => fs::read_to_string("/proc/self/cgroup").ok(),
    };
    for c in CONTROLLERS {
        let Some(mount) = mount_of(mounts, c.name()) else {
            if req.optional(c) {
                cg.skipped.push(c);
                continue;
            }
            return Err(unavailable(
                c.name(),
                "no cgroup v1 hierarchy holds it".into(),
                req,
                mounts,
            ));
        };
        let parent = parent_dir(mount, c.name(), req, own.as_deref());
        let existing = cg.dirs.iter().find(|d| d.starts_with(mount)).cloned();
        let dir = match existing {
            Some(d) => d,
            None => match make_run_dir(&parent, name) {
                Ok(d) => {
                    cg.dirs.push(d.clone());
                    d
                }
                Err(e) if req.optional(c) => {
                    tracing::warn!("cgroup {}: {e}; limit skipped (optional)", c.name());
                    cg.skipped.push(c);
                    continue;
                }
                Err(e) => {
                    return Err(unavailable(
                        c.name(),
                        format!("creating {}: {e}", parent.display()),
                        req,
                        mounts,
                    ))
                }
            },
        };
        match apply(c, &dir, req) {
            Ok(()) => cg.applied.push((c, dir)),
            Err(_) if req.optional(c) => cg.skipped.push(c),
            Err(e) => return Err(e),
        }
    }
    // cpuacct only measures, and only when it shares a hierarchy with cpu: a
    // separate hierarchy would cost another attach (a synchronize_rcu in v1)
    // for what the launcher's rusage of its children gives anyway.
    if let Some(mount) = mount_of(mounts, "cpuacct") {
        cg.cpuacct = cg.dirs.iter().find(|d| d.starts_with(mount)).cloned();
    }
    Ok(cg)
}

pub(super) fn usage(memory: Option<&Path>, pids: Option<&Path>, cpuacct: Option<&Path>) -> Usage {
    Usage {
        cpu_usec: cpuacct.and_then(|d| read_u64(&d.join("cpuacct.usage")).map(|ns| ns / 1000)),
        memory_peak: memory.and_then(|d| read_u64(&d.join("memory.max_usage_in_bytes"))),
        pids_peak: pids.and_then(|d| read_u64(&d.join("pids.peak"))),
        oom_killed: memory
            .and_then(|d| read_keyed(&d.join("memory.oom_control"), "oom_kill"))
            .is_some_and(|n| n > 0),
    }
}
