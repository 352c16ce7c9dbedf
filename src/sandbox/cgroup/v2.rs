//! cgroup v2: one directory under a parent whose subtree_control enables
//! memory, cpu and pids; memory.max with memory.swap.max 0, cpu.max, pids.max.

use super::{
    io, own_path, read_keyed, read_u64, remove_stale, CgroupError, Controller, Request, RunCgroup,
    Usage, CONTROLLERS,
};
use std::fs;
use std::path::{Path, PathBuf};

const CPU_PERIOD_US: u64 = 100_000;

fn controllers_of(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Picks the parent: `--cgroup-parent`, `agentjail` at the root for root,
/// or the caller's own delegated cgroup (the launcher moves itself into a
/// leaf there so the parent may enable controllers).
fn parent_dir(mount: &Path, req: &Request) -> Result<PathBuf, String> {
    if let Some(p) = &req.parent {
        return Ok(mount.join(p.strip_prefix("/").unwrap_or(p)));
    }
    if nix::unistd::geteuid().is_root() {
        return Ok(mount.join("agentjail"));
    }
    let own = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| own_path(&t, None))
        .ok_or("the launcher's own cgroup is unknown")?;
    let own_dir = mount.join(own.trim_start_matches('/'));
    let writable =
        |f: &str| nix::unistd::access(&own_dir.join(f), nix::unistd::AccessFlags::W_OK).is_ok();
    if !(writable("cgroup.procs") && writable("cgroup.subtree_control")) {
        return Err(format!(
            "{} is not delegated to this user",
            own_dir.display()
        ));
    }
    // No internal processes: the launcher leaves the parent for a leaf of its own.
    let leaf = own_dir.join("agentjail-launcher");
    fs::create_dir_all(&leaf).map_err(|e| format!("creating {}: {e}", leaf.display()))?;
    fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| format!("moving the launcher into {}: {e}", leaf.display()))?;
    Ok(own_dir)
}

/// Enables a controller in every subtree_control from the mount down to `parent`.
fn enable(mount: &Path, parent: &Path, c: Controller) -> std::io::Result<()> {
    let rel = parent.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut at = mount.to_path_buf();
    let mut chain = vec![at.clone()];
    for comp in rel.components() {
        at.push(comp);
        chain.push(at.clone());
    }
    for dir in chain {
        if !controllers_of(&dir).iter().any(|x| x == c.name()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{} does not offer it", dir.display()),
            ));
        }
        let sc = dir.join("cgroup.subtree_control");
        let on = fs::read_to_string(&sc).unwrap_or_default();
        if !on.split_whitespace().any(|x| x == c.name()) {
            fs::write(&sc, format!("+{}", c.name()))?;
        }
    }
    Ok(())
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(io("writing", &p))
}

fn apply(c: Controller, dir: &Path, req: &Request) -> Result<(), CgroupError> {
    match c {
        Controller::Memory => {
            write(dir, "memory.max", &req.limits.memory.to_string())?;
            if dir.join("memory.swap.max").exists() {
                write(dir, "memory.swap.max", "0")?;
            }
            Ok(())
        }
        Controller::Cpu => write(
            dir,
            "cpu.max",
            &format!(
                "{} {CPU_PERIOD_US}",
                req.limits.cpu_millis * CPU_PERIOD_US / 1000
            ),
        ),
        Controller::Pids => write(dir, "pids.max", &req.limits.pids.to_string()),
    }
}

pub(super) fn create(mount: &Path, req: &Request, name: &str) -> Result<RunCgroup, CgroupError> {
    let fail = |c: Controller, why: String| CgroupError::Unavailable {
        controller: c.name(),
        why,
        fix: super::delegation_fix(&super::Layout::V2 {
            mount: mount.to_path_buf(),
        }),
    };
    let parent = parent_dir(mount, req).map_err(|why| fail(Controller::Memory, why))?;
    fs::create_dir_all(&parent).map_err(|e| {
        fail(
            Controller::Memory,
            format!("creating {}: {e}", parent.display()),
        )
    })?;
    remove_stale(&parent);
    let mut cg = RunCgroup {
        version: "v2",
        dirs: Vec::new(),
        applied: Vec::new(),
        skipped: Vec::new(),
        cpuacct: None,
        removed: false,
    };
    let mut wanted = Vec::new();
    for c in CONTROLLERS {
        match enable(mount, &parent, c) {
            Ok(()) => wanted.push(c),
            Err(_) if req.optional(c) => cg.skipped.push(c),
            Err(e) => {
                return Err(fail(
                    c,
                    format!("cannot enable it for {}: {e}", parent.display()),
                ))
            }
        }
    }
    let dir = parent.join(name);
    fs::create_dir(&dir).map_err(io("creating", &dir))?;
    cg.dirs.push(dir.clone());
    for c in wanted {
        match apply(c, &dir, req) {
            Ok(()) => cg.applied.push((c, dir.clone())),
            Err(_) if req.optional(c) => cg.skipped.push(c),
            Err(e) => return Err(e),
        }
    }
    Ok(cg)
}

pub(super) fn usage(dir: Option<&Path>) -> Usage {
    let Some(d) = dir else {
        return Usage::default();
    };
    Usage {
        cpu_usec: read_keyed(&d.join("cpu.stat"), "usage_usec"),
        memory_peak: read_u64(&d.join("memory.peak")),
        pids_peak: read_u64(&d.join("pids.peak")),
        oom_killed: read_keyed(&d.join("memory.events"), "oom_kill").is_some_and(|n| n > 0),
    }
}
