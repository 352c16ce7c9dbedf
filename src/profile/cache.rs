//! The last profile set this process built, keyed by the exact text of
//! every file it came from: a long-lived front-end (`serve`, `mcp serve`)
//! and the calls it forks re-read the files on every call (a changed byte
//! is a new key, so an edit takes effect at the next call) but parse and
//! validate them only when they changed.

use super::load::{ProfileErrors, ProfileSet, ProfileSource};
use std::sync::Mutex;

/// Source, catalog text, and (label, name, text) of each role file.
type Key = (String, String, Vec<(String, String, String)>);

static LAST: Mutex<Option<(Key, ProfileSet)>> = Mutex::new(None);

/// `build` run on these texts, or the set it built from the same texts before.
pub(super) fn built(
    source: &ProfileSource,
    tools_text: &str,
    roles: &[(String, String, String)],
    errors_before: bool,
    build: impl FnOnce() -> Result<ProfileSet, ProfileErrors>,
) -> Result<ProfileSet, ProfileErrors> {
    // A read error is reported afresh every time.
    if errors_before {
        return build();
    }
    let key: Key = (
        format!("{source:?}"),
        tools_text.to_string(),
        roles.to_vec(),
    );
    if let Ok(last) = LAST.lock() {
        if let Some((k, set)) = last.as_ref() {
            if *k == key {
                return Ok(set.clone());
            }
        }
    }
    let set = build()?;
    // A poisoned lock (a panic elsewhere) only costs the cache.
    if let Ok(mut last) = LAST.lock() {
        *last = Some((key, set.clone()));
    }
    Ok(set)
}
