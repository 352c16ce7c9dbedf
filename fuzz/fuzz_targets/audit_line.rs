//! The audit log's line checker (`check_line`, `check_line_at`): a
//! hand-written validating JSON scanner that every writer and `audit verify`
//! run over lines another uid may have written.
//!
//! Input: the bytes of a log from some line on.
#![no_main]

use agentjail::audit::{check_line, check_line_at};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (r, end) = check_line_at(data);
    // The line ends at a newline, or at the end of the buffer.
    assert!(end <= data.len());
    assert!(
        end == data.len() || data[end] == b'\n',
        "stopped inside a line"
    );
    assert!(!data[..end].contains(&b'\n'), "a line ran past a newline");
    let line = &data[..end];
    assert_eq!(
        check_line(line).ok(),
        r.clone().ok(),
        "check_line and check_line_at differ"
    );
    if end < data.len() {
        assert!(
            check_line(data).is_err(),
            "a newline inside the line was accepted"
        );
    }

    // What the scanner accepts as JSON, serde_json does too (read without
    // building a value, as the scanner's own tests compare; a `Value` would
    // also refuse numbers beyond f64, which RFC 8259's grammar allows), up to
    // serde_json's recursion limit.
    if let Ok(info) = r {
        match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            Ok(_) => {}
            Err(e) if e.to_string().contains("recursion limit") => {}
            Err(e) => panic!("the scanner accepted a line serde_json refuses: {e}"),
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
            assert_eq!(v.get("seq").and_then(|s| s.as_u64()), Some(info.seq));
        }
    }
});
