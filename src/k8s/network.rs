//! The role's egress allow-list as a NetworkPolicy: no ingress, and egress
//! only where an entry points. A NetworkPolicy cannot match host names, so
//! a name entry opens only what the in-pod proxy needs to reach it (the
//! namespace of a cluster service name, or the public address space on the
//! entry's ports) and agentjail's proxy enforces the name itself; the
//! document says so in its comment and annotation.

use super::names::Names;
use super::output::Document;
use super::{K8sError, Options};
use crate::egress::rules::EgressRules;
use crate::profile::Role;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The label Kubernetes sets on every namespace to its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The annotation naming the entries the proxy enforces by name.
pub const NAME_ENTRIES_ANNOTATION: &str = "agentjail.dev/proxy-enforced-egress";

/// Private and local ranges a "public address space" rule leaves out.
const NOT_PUBLIC_V4: &[&str] = &[
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
];
const NOT_PUBLIC_V6: &[&str] = &["::1/128", "fc00::/7", "fe80::/10"];

/// Where one entry points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    /// An address block, `network/prefix`.
    Block(String),
    /// A name or wildcard under `NS.svc` or `NS.svc.cluster.local`.
    ClusterNamespace(String),
    /// Any other name: reachable only through the proxy.
    Name,
}

/// One parsed entry: where it points and its ports.
#[derive(Debug, Clone)]
struct Entry {
    text: String,
    dest: Dest,
    low: u16,
    high: u16,
}

/// Splits an entry the egress module has accepted (`EgressRules::parse`).
fn split(entry: &str) -> Option<Entry> {
    let entry = entry.trim();
    let (dest, ports) = entry.rsplit_once(':')?;
    let (low, high) = match ports.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = ports.parse().ok()?;
            (p, p)
        }
    };
    let unbracketed = dest.replace(['[', ']'], "");
    let (addr, prefix) = match unbracketed.split_once('/') {
        Some((a, p)) => (a.to_string(), Some(p.to_string())),
        None => (unbracketed.clone(), None),
    };
    let dest = match addr.parse::<IpAddr>() {
        Ok(ip) => {
            let full = if ip.is_ipv4() { "32" } else { "128" };
            Dest::Block(format!("{ip}/{}", prefix.as_deref().unwrap_or(full)))
        }
        Err(_) => match cluster_namespace(&dest.to_ascii_lowercase()) {
            Some(ns) => Dest::ClusterNamespace(ns),
            None => Dest::Name,
        },
    };
    Some(Entry {
        text: entry.to_string(),
        dest,
        low,
        high,
    })
}

/// `svc.NS.svc`, `*.NS.svc.cluster.local` ... → `NS`.
fn cluster_namespace(host: &str) -> Option<String> {
    let host = host.strip_suffix(".cluster.local").unwrap_or(host);
    let rest = host.strip_suffix(".svc")?;
    let ns = rest.rsplit('.').next()?;
    (rest.contains('.') && super::names::label_problem(ns, 63).is_none()).then(|| ns.to_string())
}

fn port(e: &Entry) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some("TCP".into()),
        port: Some(IntOrString::Int(i32::from(e.low))),
        end_port: (e.high != e.low).then_some(i32::from(e.high)),
    }
}

fn block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_string(),
            except: (!except.is_empty()).then(|| except.iter().map(|s| s.to_string()).collect()),
        }),
        ..Default::default()
    }
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The cluster DNS service's pods (kube-dns and CoreDNS both carry this label).
fn dns_rule() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(selector(&[(NAMESPACE_NAME_LABEL, "kube-system")])),
            pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
            ..Default::default()
        }]),
        ports: Some(
            ["UDP", "TCP"]
                .iter()
                .map(|p| NetworkPolicyPort {
                    protocol: Some(p.to_string()),
                    port: Some(IntOrString::Int(53)),
                    end_port: None,
                })
                .collect(),
        ),
    }
}

/// The NetworkPolicy of a role.
pub fn network_policy(role: &Role, names: &Names, options: &Options) -> Result<Document, K8sError> {
    let entries = &role.sandbox.egress;
    EgressRules::parse(entries).map_err(|e| {
        K8sError::setting(
            role,
            format!("sandbox.egress entry {:?}: {}", e.entry, e.problem),
        )
    })?;
    let parsed: Vec<Entry> = entries
        .iter()
        .map(|e| {
            split(e).ok_or_else(|| {
                K8sError::setting(role, format!("sandbox.egress entry {e:?}: cannot split"))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut egress = Vec::new();
    let mut by_name = Vec::new();
    for e in &parsed {
        let to = match &e.dest {
            Dest::Block(cidr) => vec![block(cidr, &[])],
            Dest::ClusterNamespace(ns) => {
                by_name.push(e.text.clone());
                vec![NetworkPolicyPeer {
                    namespace_selector: Some(selector(&[(&options.namespace_label, ns)])),
                    ..Default::default()
                }]
            }
            Dest::Name => {
                by_name.push(e.text.clone());
                vec![
                    block("0.0.0.0/0", NOT_PUBLIC_V4),
                    block("::/0", NOT_PUBLIC_V6),
                ]
            }
        };
        egress.push(NetworkPolicyEgressRule {
            to: Some(to),
            ports: Some(vec![port(e)]),
        });
    }
    if options.dns && !by_name.is_empty() {
        egress.push(dns_rule());
    }
    let mut comments = vec![format!(
        "NetworkPolicy for role {}: no ingress; egress only as sandbox.egress permits.",
        names.role
    )];
    let mut annotations = BTreeMap::new();
    if !by_name.is_empty() {
        comments.push(format!(
            "Name-based entries ({}) are enforced by agentjail's egress proxy in the pod:",
            by_name.join(", ")
        ));
        comments.push(
            "a NetworkPolicy cannot match names, so it opens only their namespace or the public \
             address space on their ports."
                .into(),
        );
        annotations.insert(NAME_ENTRIES_ANNOTATION.to_string(), by_name.join(","));
    }
    let policy = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(names.network_policy()),
            namespace: names.namespace.clone(),
            labels: Some(names.labels()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(names.labels()),
                ..Default::default()
            }),
            policy_types: Some(vec!["Egress".into(), "Ingress".into()]),
            egress: Some(egress),
            ingress: Some(Vec::new()),
        }),
    };
    Document::new(comments, &policy)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_into_blocks_namespaces_and_names() {
        let e = split("10.96.0.0/12:443").unwrap();
        assert_eq!(e.dest, Dest::Block("10.96.0.0/12".into()));
        assert_eq!((e.low, e.high), (443, 443));
        let e = split("[fd00::]/8:8000-8099").unwrap();
        assert_eq!(e.dest, Dest::Block("fd00::/8".into()));
        assert_eq!((e.low, e.high), (8000, 8099));
        assert_eq!(
            split("192.0.2.7:80").unwrap().dest,
            Dest::Block("192.0.2.7/32".into())
        );
        assert_eq!(
            split("*.agent-tools.svc.cluster.local:443").unwrap().dest,
            Dest::ClusterNamespace("agent-tools".into())
        );
        assert_eq!(
            split("prometheus.monitoring.svc:9090").unwrap().dest,
            Dest::ClusterNamespace("monitoring".into())
        );
        // `kubernetes.default.svc` is the API server, in namespace default.
        assert_eq!(
            split("kubernetes.default.svc:443").unwrap().dest,
            Dest::ClusterNamespace("default".into())
        );
        assert_eq!(split("api.example.com:443").unwrap().dest, Dest::Name);
        assert_eq!(split("svc:443").unwrap().dest, Dest::Name);
    }
}
