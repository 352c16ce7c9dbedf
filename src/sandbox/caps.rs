//! Capabilities: every set emptied before exec (the seed's `drop: ["ALL"]`).

use caps::{CapSet, Capability};

/// Drops the bounding set first (needs CAP_SETPCAP, still held), then
/// ambient, inheritable, effective and permitted.
pub fn drop_all() -> Result<(), caps::errors::CapsError> {
    for cap in caps::all() {
        // A capability the running kernel does not know is not in the set.
        if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)?;
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    caps::clear(None, CapSet::Effective)?;
    caps::clear(None, CapSet::Permitted)
}

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
