//! `audit verify` (`verify_files`) over log files another uid may have
//! written: every line checked, every link followed, damage located.
//!
//! Input: a mode byte, then up to three files (oldest first) separated by
//! NUL bytes. With bit 0 of the mode set, every line that is a JSON object
//! is sealed again (`chain::seal`), so that the fuzzer gets past the hash
//! and into the chain's links: with its own `seq` and `prev`, or where it
//! has none, the next `seq` and the previous record's hash (with bit 3
//! set: always the previous record's hash, a whole chain). With bit 1 set,
//! the first sealed record is passed as `--after`, with bit 2 the last as
//! `--head`.
#![no_main]

use agentjail::audit::chain::{hex, parse_hash, seal, GENESIS};
use agentjail::audit::verify::{verify_files, Mark, Verdict};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("agentjail-fuzz-verify-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut marks: Vec<Mark> = Vec::new();
    let mut paths = Vec::new();
    for (i, part) in rest.split(|&b| b == 0).take(3).enumerate() {
        let content = if mode & 1 != 0 {
            reseal(part, mode & 8 != 0, &mut marks)
        } else {
            part.to_vec()
        };
        let path = dir().join(format!("audit.log.{i}"));
        std::fs::write(&path, content).unwrap();
        paths.push(path);
    }
    let after = (mode & 2 != 0).then(|| marks.first().copied()).flatten();
    let head = (mode & 4 != 0).then(|| marks.last().copied()).flatten();
    match verify_files(&paths, after, head) {
        Verdict::Intact {
            head: (seq, hash), ..
        } => {
            assert_eq!(hash.len(), 64);
            if let Some(h) = head {
                assert_eq!(seq, h.seq, "intact, but not at the head it was given");
            }
        }
        Verdict::Broken(b) => assert!(!b.message.is_empty() && !b.problem.is_empty()),
    }
});

/// Seals every line that is a JSON object again (see the top).
fn reseal(part: &[u8], link: bool, marks: &mut Vec<Mark>) -> Vec<u8> {
    let mut out = Vec::with_capacity(part.len() + 256);
    let lines: Vec<&[u8]> = part.split(|&b| b == b'\n').collect();
    let last = lines.len() - 1;
    for (n, line) in lines.into_iter().enumerate() {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(map)) => {
                let before = marks.last().copied();
                let seq = map
                    .get("seq")
                    .and_then(|s| s.as_u64())
                    .unwrap_or_else(|| before.map_or(1, |m| m.seq.wrapping_add(1)));
                let linked = before.map_or(GENESIS.to_string(), |m| hex(&m.hash));
                let own = map
                    .get("prev")
                    .and_then(|p| p.as_str())
                    .filter(|p| parse_hash(p.as_bytes()).is_some());
                let prev = match own {
                    Some(p) if !link => p.to_string(),
                    _ => linked,
                };
                let sealed = seal(map, seq, &prev);
                let hash = parse_hash(sealed.hash.as_bytes()).unwrap();
                marks.push(Mark { seq, hash });
                out.extend_from_slice(&sealed.line);
                if n == last {
                    out.pop(); // the input's last line had no newline
                }
            }
            _ => {
                out.extend_from_slice(line);
                if n != last {
                    out.push(b'\n');
                }
            }
        }
    }
    out
}
