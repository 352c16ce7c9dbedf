//! The profile loader (`profile::build_set`): the TOML catalog and a role,
//! parsed and validated.
//!
//! Input: a role file; or a catalog, a NUL byte and a role file. Without a
//! NUL the bundled catalog is used.
#![no_main]

use agentjail::profile::{build_set, ProfileSource, BUNDLED_TOOLS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (tools, role) = text.split_once('\0').unwrap_or((BUNDLED_TOOLS, text));
    let roles = vec![(
        "role.toml".to_string(),
        "role".to_string(),
        role.to_string(),
    )];
    match build_set(
        ProfileSource::Bundled,
        "tools.toml",
        tools,
        roles,
        Vec::new(),
    ) {
        Ok(set) => assert!(set.roles.contains_key("role")),
        Err(errors) => assert!(!errors.0.is_empty()),
    }
});
