//! The egress proxy's SOCKS5 reader (greeting, method choice, request):
//! it runs outside the sandbox on bytes the sandboxed tool sends.
//!
//! Input: the bytes the client sends after the version byte.
#![no_main]

use agentjail::egress::socks::negotiate;
use libfuzzer_sys::fuzz_target;
use std::io;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let result = negotiate(
        |buf| {
            if data.len() - at < buf.len() {
                at = data.len();
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.copy_from_slice(&data[at..at + buf.len()]);
            at += buf.len();
            Ok(())
        },
        |bytes| {
            replies.push(bytes.to_vec());
            Ok(())
        },
    );
    // Every reply is a method choice (2 bytes) or a reply (10 bytes), at
    // most one of each.
    assert!(replies.len() <= 2);
    if let Some(choice) = replies.first() {
        assert_eq!(choice.len(), 2);
        assert_eq!(choice[0], 5);
    }
    if let Some(reply) = replies.get(1) {
        assert_eq!(reply.len(), 10);
        assert_ne!(reply[1], 0, "a failure reply said success");
    }
    match result {
        Ok(target) => {
            assert!(target.port != 0);
            assert_eq!(
                replies.len(),
                1,
                "success sends only the method choice here"
            );
        }
        Err(bad) => assert!(!bad.reason.is_empty()),
    }
});
