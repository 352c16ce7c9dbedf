//! Object names, labels and paths of a render, and the checks Kubernetes
//! would make of them, made first so that a render never prints an object
//! the API server refuses for its name.

use super::{K8sError, Options};
use crate::profile::Role;
use std::collections::BTreeMap;

/// The label every object of a role carries, and the NetworkPolicy selects.
pub const ROLE_LABEL: &str = "role";
/// Where the ConfigMap's profiles appear in the container.
pub const PROFILES_DIR: &str = "/etc/agentjail/profiles";
/// The audit log's volume and file.
pub const AUDIT_DIR: &str = "/var/log/agentjail";
pub const AUDIT_LOG: &str = "/var/log/agentjail/audit.jsonl";
/// The state directory (approval requests, budget counters).
pub const STATE_DIR: &str = "/var/lib/agentjail";
/// The kubelet's seccomp directory holds the profile as `agentjail/ROLE.json`.
pub const SECCOMP_DIR: &str = "agentjail";

/// The longest base name: 63 (a label) less the longest suffix ("-profiles").
const MAX_BASE: usize = 63 - "-profiles".len();

/// The names of one role's objects.
#[derive(Debug, Clone)]
pub struct Names {
    /// The role as agentjail knows it (`infrastructure_agent`).
    pub role: String,
    /// The objects' base name (`infrastructure-agent`).
    pub base: String,
    pub namespace: Option<String>,
}

impl Names {
    pub fn new(role: &Role, options: &Options) -> Result<Names, K8sError> {
        let base = role.name.replace('_', "-");
        if let Some(why) = label_problem(&base, MAX_BASE) {
            return Err(K8sError::setting(
                role,
                format!(
                    "its name becomes the object name {base:?}, which {why} (rename the role file)"
                ),
            ));
        }
        if let Some(ns) = &options.namespace {
            if let Some(why) = label_problem(ns, 63) {
                return Err(K8sError::Usage(format!("--namespace {ns:?}: {why}")));
            }
        }
        if let Some(why) = label_key_problem(&options.namespace_label) {
            return Err(K8sError::Usage(format!(
                "--namespace-label {:?}: {why}",
                options.namespace_label
            )));
        }
        if options.image.is_empty() || options.image.chars().any(|c| c.is_whitespace()) {
            return Err(K8sError::Usage(format!(
                "--image {:?}: an image reference has no spaces and is not empty",
                options.image
            )));
        }
        Ok(Names {
            role: role.name.clone(),
            base,
            namespace: options.namespace.clone(),
        })
    }

    pub fn config_map(&self) -> String {
        format!("{}-profiles", self.base)
    }

    pub fn network_policy(&self) -> String {
        format!("{}-policy", self.base)
    }

    /// The role's seccomp profile, relative to the kubelet's seccomp directory.
    pub fn seccomp_profile(&self) -> String {
        format!("{SECCOMP_DIR}/{}.json", self.role)
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(ROLE_LABEL.to_string(), self.base.clone())])
    }
}

/// Why `s` is not an RFC 1123 label of at most `max` characters, if it is not.
pub fn label_problem(s: &str, max: usize) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s.len() > max {
        return Some(format!("is longer than {max} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("may hold only lowercase letters, digits and `-`".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// Why `key` is not a label key (`[prefix/]name`), if it is not.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.len() > 253 || p.split('.').any(|part| label_problem(part, 63).is_some()) {
            return Some("its prefix is not a DNS subdomain".into());
        }
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last());
    (!ok).then(|| "a label name is 1-63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::label_problem;

    #[test]
    fn labels_follow_rfc_1123() {
        assert_eq!(label_problem("data-agent", 63), None);
        assert!(label_problem("Data-agent", 63).is_some());
        assert!(label_problem("-x", 63).is_some());
        assert!(label_problem("x-", 63).is_some());
        assert!(label_problem("", 63).is_some());
        assert!(label_problem("a.b", 63).is_some());
        assert!(label_problem(&"a".repeat(64), 63).is_some());
        assert_eq!(label_problem(&"a".repeat(63), 63), None);
    }

    #[test]
    fn label_keys_may_have_a_prefix() {
        use super::label_key_problem;
        assert_eq!(label_key_problem("name"), None);
        assert_eq!(label_key_problem("kubernetes.io/metadata.name"), None);
        assert!(label_key_problem("").is_some());
        assert!(label_key_problem("a b").is_some());
        assert!(label_key_problem("Bad_Prefix/x").is_some());
        assert!(label_key_problem("x/").is_some());
        assert!(label_key_problem("-x").is_some());
    }
}
