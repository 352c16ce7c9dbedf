//! What no sandbox may show: agentjail's state directory, its audit log and
//! the profile directories (the one in use and every one that would take
//! its place). A bind is refused when its source is one of them, holds one,
//! or lies inside one, compared by device and inode as well as by path, so
//! a second mount of the same directory (a bind-mount alias) or a symbolic
//! link is caught like the path itself. A place that does not exist yet (a
//! user profile directory not made yet) is guarded through its nearest
//! existing parent: a bind that holds that parent could create it.

use crate::state::StateDir;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One guarded place.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub path: PathBuf,
    /// The rule a refusal names: `state_dir`, `audit_log`, `profiles`.
    pub rule: &'static str,
    /// What it is, for the message.
    pub what: &'static str,
}

type Id = (u64, u64);

/// The identities of the paths looked at for one check: each path is
/// stat'ed once however many sources or places share it (every /etc entry
/// has `/etc` and `/` as parents).
#[derive(Default)]
struct Stats(Vec<(PathBuf, Option<Id>)>);

impl Stats {
    fn id(&mut self, p: &Path) -> Option<Id> {
        // Compared as bytes (Path's == compares component by component, which
        // costs more than the stat it saves): a path spelled two ways is
        // only stat'ed twice.
        let key = p.as_os_str().as_encoded_bytes();
        if let Some((_, id)) = self
            .0
            .iter()
            .find(|(q, _)| q.as_os_str().as_encoded_bytes() == key)
        {
            return *id;
        }
        let id = std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        self.0.push((p.to_path_buf(), id));
        id
    }

    /// The identities of `p` (when it exists) and of each existing parent.
    fn with_parents(&mut self, p: &Path) -> Vec<Id> {
        p.ancestors().filter_map(|a| self.id(a)).collect()
    }
}

/// A guarded place's identities, looked up once per call.
struct Ids {
    /// The place's own identity, when it exists.
    own: Option<Id>,
    /// The identities a bind source must not have: the place and its
    /// parents, or, when it does not exist yet, its nearest existing parent
    /// and that one's parents (whoever holds it can make the place).
    holders: Vec<Id>,
}

fn ids(g: &Guarded, stats: &mut Stats) -> Ids {
    let own = stats.id(&g.path);
    let holders = if own.is_some() {
        stats.with_parents(&g.path)
    } else {
        match g.path.ancestors().skip(1).find(|a| stats.id(a).is_some()) {
            Some(a) => stats.with_parents(a),
            None => Vec::new(),
        }
    };
    Ids { own, holders }
}

/// Whether a bind of a source (its identity, and those of it and its
/// parents) would show the place: the source is the place or holds it, or
/// lies inside it.
fn shows(src: Id, src_and_parents: &[Id], g: &Ids) -> bool {
    g.holders.contains(&src) || g.own.is_some_and(|own| src_and_parents.contains(&own))
}

/// The first guarded place a bind of any of `sources` would show. Every path
/// is looked up once (one stat per distinct path or parent), not once per
/// pair nor once per source that shares it.
pub fn exposed<'a>(sources: &[PathBuf], guarded: &'a [Guarded]) -> Option<(PathBuf, &'a Guarded)> {
    let mut stats = Stats::default();
    let places: Vec<Ids> = guarded.iter().map(|g| ids(g, &mut stats)).collect();
    sources.iter().find_map(|s| {
        let src = stats.id(s)?;
        let parents = stats.with_parents(s);
        guarded
            .iter()
            .zip(&places)
            .find(|(_, ids)| shows(src, &parents, ids))
            .map(|(g, _)| (s.clone(), g))
    })
}

/// The places to guard for a call.
pub fn guarded(
    state: &StateDir,
    audit_log: Option<&Path>,
    profiles_in_use: Option<&Path>,
    profile_candidates: &[PathBuf],
) -> Vec<Guarded> {
    let mut out = vec![Guarded {
        path: state.path().to_path_buf(),
        rule: "state_dir",
        what: "agentjail's state directory",
    }];
    if let Some(log) = audit_log {
        out.push(Guarded {
            path: log.to_path_buf(),
            rule: "audit_log",
            what: "agentjail's audit log",
        });
    }
    for p in profiles_in_use
        .into_iter()
        .chain(profile_candidates.iter().map(PathBuf::as_path))
    {
        out.push(Guarded {
            path: p.to_path_buf(),
            rule: "profiles",
            what: "a profile directory agentjail reads",
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn g(p: &Path) -> Guarded {
        Guarded {
            path: p.to_path_buf(),
            rule: "state_dir",
            what: "it",
        }
    }

    #[test]
    fn parents_children_and_aliases_are_caught() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("a/state");
        std::fs::create_dir_all(state.join("approvals")).unwrap();
        std::fs::create_dir_all(t.path().join("b")).unwrap();
        let guard = [g(&state)];
        let hit = |p: &Path| exposed(&[p.to_path_buf()], &guard).is_some();
        assert!(hit(&state));
        assert!(hit(&t.path().join("a")));
        assert!(hit(t.path()));
        assert!(hit(&state.join("approvals")));
        assert!(!hit(&t.path().join("b")));
        // A symbolic link to the state directory is the same directory.
        std::os::unix::fs::symlink(&state, t.path().join("b/link")).unwrap();
        assert!(hit(&t.path().join("b/link")));
        // A place that does not exist yet is guarded through its parent.
        let later = [g(&t.path().join("b/not/yet"))];
        assert!(exposed(&[t.path().join("b")], &later).is_some());
        assert!(exposed(&[t.path().join("a")], &later).is_none());
    }
}
