//! Tests of `rules`.

#![allow(clippy::unwrap_used)]
use super::*;

fn rules(entries: &[&str]) -> EgressRules {
    let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    match EgressRules::parse(&owned) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn parse_one(entry: &str) -> Result<(Dest, Ports), RuleProblem> {
    EgressRules::parse(&[entry.to_string()])
        .map(|r| (r.rules[0].dest.clone(), r.rules[0].ports))
        .map_err(|e| {
            assert_eq!(e.entry, entry);
            e.problem
        })
}

fn net(s: &str, prefix: u8) -> Dest {
    Dest::Net(Net {
        network: s.parse().unwrap(),
        prefix,
    })
}

fn ports(low: u16, high: u16) -> Ports {
    Ports { low, high }
}

#[test]
fn parses_good_entries() {
    let table: &[(&str, Dest, Ports)] = &[
        (
            "api.github.com:443",
            Dest::Name("api.github.com".into()),
            ports(443, 443),
        ),
        (
            "API.GitHub.com.:443",
            Dest::Name("api.github.com".into()),
            ports(443, 443),
        ),
        (
            "*.internal.example:443",
            Dest::Wildcard("internal.example".into()),
            ports(443, 443),
        ),
        (
            "svc_a.local:8000-8099",
            Dest::Name("svc_a.local".into()),
            ports(8000, 8099),
        ),
        (
            "localhost:8080",
            Dest::Name("localhost".into()),
            ports(8080, 8080),
        ),
        ("10.20.0.0/16:5432", net("10.20.0.0", 16), ports(5432, 5432)),
        ("127.0.0.1:9090", net("127.0.0.1", 32), ports(9090, 9090)),
        ("0.0.0.0/0:1-65535", net("0.0.0.0", 0), ports(1, 65535)),
        ("[::1]:8080", net("::1", 128), ports(8080, 8080)),
        ("[fd00::]/8:443", net("fd00::", 8), ports(443, 443)),
        (
            "[2001:db8::/32]:80-81",
            net("2001:db8::", 32),
            ports(80, 81),
        ),
        (
            "[::ffff:10.0.0.0]/104:22",
            net("10.0.0.0", 8),
            ports(22, 22),
        ),
        (
            "  example.com:1  ",
            Dest::Name("example.com".into()),
            ports(1, 1),
        ),
    ];
    for (entry, dest, p) in table {
        assert_eq!(parse_one(entry), Ok((dest.clone(), *p)), "{entry}");
    }
    let r = rules(&["  example.com:80 ", "10.0.0.0/8:1"]);
    assert_eq!(r.entries(), &["example.com:80", "10.0.0.0/8:1"]);
    assert!(!r.is_empty());
    assert!(rules(&[]).is_empty());
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"["example.com:80","10.0.0.0/8:1"]"#
    );
}

#[test]
fn rejects_bad_entries() {
    use RuleProblem::*;
    type Check = fn(&RuleProblem) -> bool;
    let table: &[(&str, Check)] = &[
        ("", |p| *p == Empty),
        ("example.com", |p| *p == MissingPort),
        ("example.com:", |p| *p == MissingPort),
        ("example.com:0", |p| matches!(p, BadPort(_))),
        ("example.com:65536", |p| matches!(p, BadPort(_))),
        ("example.com:+80", |p| matches!(p, BadPort(_))),
        ("example.com:http", |p| matches!(p, BadPort(_))),
        ("example.com:90-80", |p| *p == BackwardsRange(90, 80)),
        ("example.com:80-", |p| matches!(p, BadPort(_))),
        ("::1:80", |p| *p == UnbracketedIpv6),
        ("[::1]", |p| *p == MissingPort),
        ("[::1:80", |p| matches!(p, BadAddress(_))),
        ("[10.0.0.1]:80", |p| matches!(p, BadAddress(_))),
        ("10.0.0.0/33:80", |p| matches!(p, BadPrefix(_))),
        ("10.0.0.0/:80", |p| matches!(p, BadPrefix(_))),
        ("[fd00::]/129:80", |p| matches!(p, BadPrefix(_))),
        ("10.20.1.0/16:80", |p| {
            matches!(p, HostBitsSet { prefix: 16, .. })
        }),
        ("300.0.0.0/8:80", |p| matches!(p, BadAddress(_))),
        ("*:443", |p| matches!(p, BadHost(..) | BadWildcard)),
        ("*.*.example.com:443", |p| *p == BadWildcard),
        ("api.*.example.com:443", |p| *p == BadWildcard),
        ("*example.com:443", |p| *p == BadWildcard),
        ("exa mple.com:80", |p| matches!(p, BadHost(..))),
        ("example..com:80", |p| matches!(p, BadHost(..))),
        ("-bad.com:80", |p| matches!(p, BadHost(..))),
        ("127.1:80", |p| matches!(p, BadHost(..))),
        ("10.20:80", |p| matches!(p, BadHost(..))),
        ("*.10:80", |p| matches!(p, BadHost(..))),
        ("host%eth0:80", |p| matches!(p, BadHost(..))),
    ];
    for (entry, ok) in table {
        match parse_one(entry) {
            Err(p) => assert!(ok(&p), "{entry}: unexpected problem {p:?}"),
            Ok(r) => panic!("{entry}: parsed as {r:?}"),
        }
    }
    let err = EgressRules::parse(&["ok.com:1".into(), "bad".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "egress entry \"bad\": missing port (write host:443 or host:8000-8099)"
    );
    let err = EgressRules::parse(&["10.20.1.0/16:80".into()]).unwrap_err();
    assert!(
        err.to_string().contains("did you mean 10.20.0.0/16"),
        "{err}"
    );
}

fn allowed(v: &Verdict) -> Option<&str> {
    match v {
        Verdict::Allowed { rule } => Some(rule),
        Verdict::Denied { .. } => None,
    }
}

fn reason(v: &Verdict) -> &str {
    match v {
        Verdict::Denied { reason } => reason,
        Verdict::Allowed { rule } => panic!("allowed by {rule}"),
    }
}

#[test]
fn decides_names() {
    let r = rules(&[
        "api.github.com:443",
        "*.internal.example:443",
        "svc.example:8000-8099",
        "localhost:8080",
        "127.0.0.1:9090",
        "[::1]:9091",
    ]);
    let table: &[(&str, u16, Option<&str>)] = &[
        ("api.github.com", 443, Some("api.github.com:443")),
        ("API.GITHUB.COM", 443, Some("api.github.com:443")),
        ("api.github.com.", 443, Some("api.github.com:443")),
        ("api.github.com", 80, None),
        ("github.com", 443, None),
        ("evil-api.github.com", 443, None),
        ("xapi.github.com", 443, None),
        ("a.internal.example", 443, Some("*.internal.example:443")),
        ("a.b.Internal.Example", 443, Some("*.internal.example:443")),
        ("internal.example", 443, None),
        ("xinternal.example", 443, None),
        ("svc.example", 8000, Some("svc.example:8000-8099")),
        ("svc.example", 8099, Some("svc.example:8000-8099")),
        ("svc.example", 8100, None),
        ("svc.example", 7999, None),
        // The name level lets localhost through; the address level refuses it.
        ("localhost", 8080, Some("localhost:8080")),
        // Literal addresses go to the address entries.
        ("127.0.0.1", 9090, Some("127.0.0.1:9090")),
        ("127.0.0.1", 9091, None),
        ("[::1]", 9091, Some("[::1]:9091")),
        ("::1", 9091, Some("[::1]:9091")),
        ("::ffff:127.0.0.1", 9090, Some("127.0.0.1:9090")),
        ("127.1", 9090, None),
        ("bad host", 443, None),
        ("", 443, None),
    ];
    for (host, port, want) in table {
        let v = r.decide_name(host, *port);
        assert_eq!(allowed(&v), *want, "{host}:{port} -> {v:?}");
    }
    assert_eq!(
        reason(&r.decide_name("api.github.com", 80)),
        "no egress rule allows api.github.com:80 (the rules for api.github.com allow port 443)"
    );
    assert_eq!(
        reason(&r.decide_name("Example.ORG", 80)),
        "no egress rule allows example.org:80"
    );
    assert_eq!(
        reason(&r.decide_name("127.0.0.1", 80)),
        "127.0.0.1 is a loopback address, which no address rule allows on port 80"
    );
    assert_eq!(
        reason(&r.decide_name("8.8.8.8", 53)),
        "no egress rule allows 8.8.8.8:53"
    );
    assert!(reason(&r.decide_name("a b", 1)).contains("not a valid host name"));
}

#[test]
fn decides_addresses_and_refuses_rebinding() {
    let r = rules(&[
        "api.example.com:443",
        "localhost:8080",
        "10.20.0.0/16:5432",
        "127.0.0.1:9090",
        "[fd00::]/8:443",
        "192.0.2.0/24:80",
    ]);
    let name = Some("api.example.com:443");
    let table: &[(&str, u16, Option<&str>, Option<&str>)] = &[
        // An ordinary address behind an allowed name.
        ("93.184.216.34", 443, name, Some("api.example.com:443")),
        ("2606:2800:220:1::1", 443, name, Some("api.example.com:443")),
        // Rebinding: an allowed name resolving into refused ranges.
        ("127.0.0.1", 443, name, None),
        ("127.8.9.10", 443, name, None),
        ("169.254.169.254", 443, name, None),
        ("10.0.0.1", 443, name, None),
        ("172.16.0.1", 443, name, None),
        ("172.31.255.255", 443, name, None),
        ("192.168.1.1", 443, name, None),
        ("100.64.0.1", 443, name, None),
        ("100.127.255.255", 443, name, None),
        ("0.0.0.0", 443, name, None),
        ("0.1.2.3", 443, name, None),
        ("224.0.0.1", 443, name, None),
        ("255.255.255.255", 443, name, None),
        ("240.0.0.1", 443, name, None),
        ("::1", 443, name, None),
        ("::", 443, name, None),
        ("fe80::1", 443, name, None),
        ("fc00::1", 443, name, None),
        ("fec0::1", 443, name, None),
        ("ff02::1", 443, name, None),
        ("::ffff:127.0.0.1", 443, name, None),
        ("::ffff:169.254.169.254", 443, name, None),
        ("::ffff:10.1.2.3", 443, name, None),
        ("::127.0.0.1", 443, name, None),
        ("64:ff9b::a9fe:a9fe", 443, name, None),
        ("64:ff9b::808:808", 443, name, Some("api.example.com:443")),
        // Just outside the refused ranges.
        ("172.32.0.1", 443, name, Some("api.example.com:443")),
        ("100.128.0.1", 443, name, Some("api.example.com:443")),
        ("169.255.0.1", 443, name, Some("api.example.com:443")),
        ("::ffff:8.8.8.8", 443, name, Some("api.example.com:443")),
        // A refused range that an address entry covers, with its port.
        (
            "10.20.3.4",
            5432,
            Some("db.example:5432"),
            Some("10.20.0.0/16:5432"),
        ),
        ("10.20.3.4", 5433, Some("db.example:5433"), None),
        ("10.21.0.1", 5432, Some("db.example:5432"), None),
        ("::ffff:10.20.3.4", 5432, None, Some("10.20.0.0/16:5432")),
        (
            "127.0.0.1",
            9090,
            Some("localhost:9090"),
            Some("127.0.0.1:9090"),
        ),
        ("fd12::1", 443, name, Some("[fd00::]/8:443")),
        // localhost on the list still refuses: it resolves to loopback.
        ("127.0.0.1", 8080, Some("localhost:8080"), None),
        ("::1", 8080, Some("localhost:8080"), None),
        // Literal addresses: only address entries allow them.
        ("10.20.0.9", 5432, None, Some("10.20.0.0/16:5432")),
        ("127.0.0.1", 9090, None, Some("127.0.0.1:9090")),
        ("127.0.0.2", 9090, None, None),
        ("192.0.2.7", 80, None, Some("192.0.2.0/24:80")),
        ("192.0.2.7", 81, None, None),
        ("93.184.216.34", 443, None, None),
    ];
    for (addr, port, name_rule, want) in table {
        let ip: IpAddr = addr.parse().unwrap();
        let v = r.decide_addr(ip, *port, *name_rule);
        assert_eq!(
            allowed(&v),
            *want,
            "{addr}:{port} via {name_rule:?} -> {v:?}"
        );
    }
    assert_eq!(
        reason(&r.decide_addr("127.0.0.1".parse().unwrap(), 8080, Some("localhost:8080"))),
        "resolves to 127.0.0.1, a loopback address, which no address rule allows on port 8080"
    );
    assert!(
        reason(&r.decide_addr("169.254.169.254".parse().unwrap(), 80, Some("x:80")))
            .contains("cloud metadata")
    );
}

#[test]
fn refused_ranges_table() {
    for (addr, refused) in [
        ("8.8.8.8", false),
        ("1.1.1.1", false),
        ("2001:4860:4860::8888", false),
        ("127.0.0.1", true),
        ("::ffff:192.168.0.1", true),
        ("::ffff:0.0.0.0", true),
        ("::2", true),
        ("fe80::", true),
        ("febf::", true),
        ("fbff::", false),
    ] {
        let ip: IpAddr = addr.parse().unwrap();
        assert_eq!(refused_range(ip).is_some(), refused, "{addr}");
    }
}
