//! A role's egress allow-list (`EgressRules::parse`) and the checks the
//! proxy makes with it (`decide_name`, `decide_addr`) on destinations the
//! sandboxed tool names.
//!
//! Input: one entry per line; the last line is the destination asked for
//! (`host:port`, as a CONNECT target).
#![no_main]

use agentjail::egress::http::parse_authority;
use agentjail::egress::rules::{canonical, refused_range, EgressRules, Verdict};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let asked = lines.pop().unwrap_or_default();
    let rules = match EgressRules::parse(&lines) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            // Each entry on its own, so that one bad line does not hide the rest.
            let good: Vec<String> = lines
                .iter()
                .filter(|l| EgressRules::parse(std::slice::from_ref(*l)).is_ok())
                .cloned()
                .collect();
            match EgressRules::parse(&good) {
                Ok(r) => r,
                Err(e) => panic!("entries that parse alone do not parse together: {e}"),
            }
        }
    };
    // The entries as kept parse again to the same entries.
    let again = EgressRules::parse(rules.entries()).expect("kept entries parse again");
    assert_eq!(again.entries(), rules.entries());

    let Ok(target) = parse_authority(&asked, Some(443)) else {
        return;
    };
    let by_name = rules.decide_name(&target.host, target.port);
    let unbracketed = target
        .host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&target.host);
    let Ok(addr) = unbracketed.parse::<IpAddr>() else {
        return;
    };
    // A literal address is checked as an address, with no name rule.
    assert_eq!(by_name, rules.decide_addr(addr, target.port, None));
    // A name rule never lets a refused address through: only an address
    // entry that covers it on this port.
    let named = rules.decide_addr(addr, target.port, Some("name.example:443"));
    if refused_range(canonical(addr)).is_some() {
        if let Verdict::Allowed { rule } = &named {
            let alone = EgressRules::parse(std::slice::from_ref(rule)).expect("an entry parses");
            assert!(
                alone.decide_addr(addr, target.port, None).is_allowed(),
                "{addr}:{} allowed by {rule}, which does not cover it",
                target.port
            );
        }
    }
});
