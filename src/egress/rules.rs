//! A role's egress allow-list: which destinations the proxy may connect to.
//!
//! An entry is a destination and a port or an inclusive port range:
//!
//! - a host name (`api.github.com:443`), matched case-insensitively;
//! - a wildcard (`*.internal.example:443`), matching every subdomain at any
//!   depth but not the bare domain itself;
//! - an address (`127.0.0.1:9090`, `[::1]:8080`) or a CIDR block
//!   (`10.20.0.0/16:5432`, `[fd00::]/8:443`).
//!
//! The check has two levels. A name the client asks for must match a name
//! entry ([`EgressRules::decide_name`]); then every address it resolves to is
//! checked again ([`EgressRules::decide_addr`]). An address in a refused range
//! (loopback, link-local, private, CGNAT, unique-local, multicast, broadcast,
//! unspecified, reserved, and the IPv4-mapped forms of these) is allowed only
//! by an address or CIDR entry that covers it with that port, never by a name
//! entry. That stops DNS rebinding: `localhost:8080` on the list still
//! refuses, because `localhost` resolves to loopback.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An entry that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress entry {entry:?}: {problem}")]
pub struct RuleError {
    /// The entry as written.
    pub entry: String,
    pub problem: RuleProblem,
}

/// What is wrong with an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    #[error("empty entry")]
    Empty,
    #[error("missing port (write host:443 or host:8000-8099)")]
    MissingPort,
    #[error("bad port {0:?} (a number from 1 to 65535, or a range such as 8000-8099)")]
    BadPort(String),
    #[error("port range {0}-{1} runs backwards")]
    BackwardsRange(u16, u16),
    #[error("IPv6 addresses need brackets, e.g. [::1]:443 or [fd00::]/8:443")]
    UnbracketedIpv6,
    #[error("bad address {0:?}")]
    BadAddress(String),
    #[error("bad prefix length {0:?} (0-32 for IPv4, 0-128 for IPv6)")]
    BadPrefix(String),
    #[error("{given} has bits set outside the /{prefix} prefix; did you mean {network}/{prefix}?")]
    HostBitsSet {
        given: IpAddr,
        network: IpAddr,
        prefix: u8,
    },
    #[error("a wildcard is only allowed as a leading \"*.\", e.g. *.example.com:443")]
    BadWildcard,
    #[error("bad host name {0:?}: {1}")]
    BadHost(String, &'static str),
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ports {
    low: u16,
    high: u16,
}

impl Ports {
    fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// An address block: `network/prefix`, with the host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    network: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = mask_v4(self.prefix);
                u32::from(a) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = mask_v6(self.prefix);
                u128::from(a) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    /// A lowercase host name without a trailing dot.
    Name(String),
    /// `*.suffix`: the lowercase suffix, without the leading `*.`.
    Wildcard(String),
    Net(Net),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The entry as written (trimmed); this is what verdicts name.
    entry: String,
    dest: Dest,
    ports: Ports,
}

/// A parsed allow-list. Serializes as the list of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressRules {
    entries: Vec<String>,
    rules: Vec<Rule>,
}

impl Serialize for EgressRules {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(serializer)
    }
}

/// What the proxy decided for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Allowed by the entry `rule`, as written in the profile.
    Allowed { rule: String },
    /// Refused; `reason` is a sentence for the tool and the audit log.
    Denied { reason: String },
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

impl EgressRules {
    /// Parses the entries; the first bad entry stops the parse.
    pub fn parse(entries: &[String]) -> Result<EgressRules, RuleError> {
        let mut rules = Vec::with_capacity(entries.len());
        for raw in entries {
            let entry = raw.trim();
            let (dest, ports) = parse_entry(entry).map_err(|problem| RuleError {
                entry: raw.clone(),
                problem,
            })?;
            rules.push(Rule {
                entry: entry.to_string(),
                dest,
                ports,
            });
        }
        Ok(EgressRules {
            entries: rules.iter().map(|r| r.entry.clone()).collect(),
            rules,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The entries as written (trimmed), in order.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The name-level check: does a name entry allow `host:port`? A literal
    /// address (`10.0.0.1`, `[::1]`, `::1`) is checked by the address
    /// entries instead, as [`EgressRules::decide_addr`] with no name rule.
    pub fn decide_name(&self, host: &str, port: u16) -> Verdict {
        let host = match classify_host(host) {
            Ok(HostKind::Addr(addr)) => return self.decide_addr(addr, port, None),
            Ok(HostKind::Name(name)) => name,
            Err(why) => {
                return Verdict::Denied {
                    reason: format!("{:?} is not a valid host name: {why}", host),
                }
            }
        };
        let mut other_ports = Vec::new();
        for rule in &self.rules {
            let name_matches = match &rule.dest {
                Dest::Name(name) => *name == host,
                Dest::Wildcard(suffix) => is_subdomain(&host, suffix),
                Dest::Net(_) => false,
            };
            if !name_matches {
                continue;
            }
            if rule.ports.contains(port) {
                return Verdict::Allowed {
                    rule: rule.entry.clone(),
                };
            }
            other_ports.push(rule.ports.to_string());
        }
        let reason = if other_ports.is_empty() {
            format!("no egress rule allows {host}:{port}")
        } else {
            format!(
                "no egress rule allows {host}:{port} (the rules for {host} allow port {})",
                other_ports.join(", ")
            )
        };
        Verdict::Denied { reason }
    }

    /// The address-level check for the address the proxy would connect to.
    ///
    /// `matched_name_rule` is the rule that allowed the name this address
    /// was resolved from (`None` when the client gave a literal address).
    /// An address in a refused range needs an address entry covering it
    /// with this port; a name entry is never enough for it. Any other
    /// address is allowed by the name rule, or else by an address entry.
    pub fn decide_addr(&self, addr: IpAddr, port: u16, matched_name_rule: Option<&str>) -> Verdict {
        let canonical = canonical(addr);
        let covering = self.rules.iter().find(|rule| match &rule.dest {
            Dest::Net(net) => {
                rule.ports.contains(port) && (net.contains(canonical) || net.contains(addr))
            }
            _ => false,
        });
        let refused = refused_range(canonical);
        match (refused, covering, matched_name_rule) {
            (_, Some(rule), _) if refused.is_some() || matched_name_rule.is_none() => {
                Verdict::Allowed {
                    rule: rule.entry.clone(),
                }
            }
            (None, _, Some(name_rule)) => Verdict::Allowed {
                rule: name_rule.to_string(),
            },
            (Some(range), _, Some(_)) => Verdict::Denied {
                reason: format!(
                    "resolves to {addr}, {range}, which no address rule allows on port {port}"
                ),
            },
            (Some(range), _, None) => Verdict::Denied {
                reason: format!("{addr} is {range}, which no address rule allows on port {port}"),
            },
            (None, _, None) => Verdict::Denied {
                reason: format!("no egress rule allows {}", sock_text(addr, port)),
            },
        }
    }
}

/// `ip:port`, with brackets around an IPv6 address.
fn sock_text(addr: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(addr, port).to_string()
}

fn is_subdomain(host: &str, suffix: &str) -> bool {
    host.len() > suffix.len() + 1
        && host.ends_with(suffix)
        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
}

/// A destination host as a client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKind {
    Addr(IpAddr),
    /// Lowercase, without a trailing dot, checked for syntax.
    Name(String),
}

/// Splits a client's host into a literal address or a checked name.
/// Accepts `[v6]` as well as a bare IPv6 literal.
pub(crate) fn classify_host(host: &str) -> Result<HostKind, &'static str> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(addr) = unbracketed.parse::<IpAddr>() {
        return Ok(HostKind::Addr(addr));
    }
    if unbracketed.len() != host.len() {
        return Err("brackets hold an IPv6 address");
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    check_hostname(&name)?;
    Ok(HostKind::Name(name))
}

/// Host-name syntax: labels of letters, digits, `-` and `_`, at most 63
/// bytes each, 253 in all. The last label must not be all digits, so a
/// name can never be read as a (shorthand) IPv4 address such as `127.1`.
fn check_hostname(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.len() > 253 {
        return Err("longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-', '_' and '.' are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("looks like a numeric address (write addresses in full, e.g. 10.0.0.1)");
    }
    Ok(())
}

fn parse_entry(entry: &str) -> Result<(Dest, Ports), RuleProblem> {
    if entry.is_empty() {
        return Err(RuleProblem::Empty);
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        // [v6]:port, [v6]/len:port or [v6/len]:port
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| RuleProblem::BadAddress(entry.to_string()))?;
        let (prefix, port) = match after.strip_prefix('/') {
            Some(p) => p.split_once(':').ok_or(RuleProblem::MissingPort)?,
            None => ("", after.strip_prefix(':').ok_or(RuleProblem::MissingPort)?),
        };
        if inside.contains('/') && !prefix.is_empty() {
            return Err(RuleProblem::BadAddress(entry.to_string()));
        }
        let (addr, len) = match inside.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (inside, (!prefix.is_empty()).then_some(prefix)),
        };
        let addr: Ipv6Addr = addr
            .parse()
            .map_err(|_| RuleProblem::BadAddress(addr.to_string()))?;
        let net = parse_net(IpAddr::V6(addr), len)?;
        return Ok((Dest::Net(net), parse_ports(port)?));
    } else {
        entry.rsplit_once(':').ok_or(RuleProblem::MissingPort)?
    };
    if host.contains(':') {
        return Err(RuleProblem::UnbracketedIpv6);
    }
    let ports = parse_ports(port)?;
    if let Some((addr, len)) = host.split_once('/') {
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| RuleProblem::BadAddress(addr.to_string()))?;
        return Ok((Dest::Net(parse_net(IpAddr::V4(addr), Some(len))?), ports));
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        return Ok((Dest::Net(parse_net(IpAddr::V4(addr), None)?), ports));
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.contains('*') {
            return Err(RuleProblem::BadWildcard);
        }
        let suffix = suffix
            .strip_suffix('.')
            .unwrap_or(suffix)
            .to_ascii_lowercase();
        check_hostname(&suffix).map_err(|why| RuleProblem::BadHost(host.to_string(), why))?;
        return Ok((Dest::Wildcard(suffix), ports));
    }
    if host.contains('*') {
        return Err(RuleProblem::BadWildcard);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    check_hostname(&name).map_err(|why| RuleProblem::BadHost(host.to_string(), why))?;
    Ok((Dest::Name(name), ports))
}

fn parse_ports(text: &str) -> Result<Ports, RuleProblem> {
    let one = |t: &str| -> Result<u16, RuleProblem> {
        match t.parse::<u16>() {
            Ok(p) if p != 0 && t.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(RuleProblem::BadPort(text.to_string())),
        }
    };
    if text.is_empty() {
        return Err(RuleProblem::MissingPort);
    }
    let (low, high) = match text.split_once('-') {
        Some((l, h)) => (one(l)?, one(h)?),
        None => {
            let p = one(text)?;
            (p, p)
        }
    };
    if low > high {
        return Err(RuleProblem::BackwardsRange(low, high));
    }
    Ok(Ports { low, high })
}

/// Builds a block; an IPv4-mapped IPv6 block is stored as its IPv4 block.
fn parse_net(addr: IpAddr, len: Option<&str>) -> Result<Net, RuleProblem> {
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= max && l.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(RuleProblem::BadPrefix(l.to_string())),
        },
    };
    let network = match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix))),
    };
    if network != addr {
        return Err(RuleProblem::HostBitsSet {
            given: addr,
            network,
            prefix,
        });
    }
    if let IpAddr::V6(v6) = network {
        if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
            return Ok(Net {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
    }
    Ok(Net { network, prefix })
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it
/// reaches; every other address unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => addr,
        },
        v4 => v4,
    }
}

/// Why an address is refused unless an address entry covers it: a phrase
/// such as "a loopback address". `None` for an ordinary public address.
pub fn refused_range(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    Some(match o {
        [0, 0, 0, 0] => "the unspecified address",
        [0, ..] => "a \"this network\" (0.0.0.0/8) address",
        [127, ..] => "a loopback address",
        [169, 254, ..] => "a link-local address (169.254.0.0/16, incl. cloud metadata)",
        [10, ..] => "a private address (10.0.0.0/8)",
        [172, b, ..] if (16..32).contains(&b) => "a private address (172.16.0.0/12)",
        [192, 168, ..] => "a private address (192.168.0.0/16)",
        [100, b, ..] if (64..128).contains(&b) => "a shared CGNAT address (100.64.0.0/10)",
        [255, 255, 255, 255] => "the broadcast address",
        [224..=239, ..] => "a multicast address",
        [240..=255, ..] => "a reserved address (240.0.0.0/4)",
        _ => return None,
    })
}

fn refused_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    let bits = u128::from(a);
    Some(if a.is_unspecified() {
        "the unspecified address"
    } else if a.is_loopback() {
        "a loopback address"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "a link-local address (fe80::/10)"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "a unique-local address (fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "a site-local address (fec0::/10)"
    } else if s[0] & 0xff00 == 0xff00 {
        "a multicast address"
    } else if bits >> 32 == 0 {
        "an IPv4-compatible address (::/96)"
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1] {
        // NAT64: refused when the IPv4 address it carries would be.
        let v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
        refused_v4(v4).map(|_| "a NAT64 form of a refused IPv4 address")?
    } else {
        return None;
    })
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
