//! Redaction: removing secrets from a record before it is written. Values of
//! parameters with a secret's name are replaced whole, and every string in
//! the record is cleared of those values and of credential shapes; each
//! secret becomes a correlatable `[REDACTED:…]` token ([`redact_token`]).
//! Works on JSON values only; it neither writes nor chains.

use super::chain::{hex, write_canonical};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::LazyLock;

/// What replaces a secret: `[REDACTED:` + the first 12 hex digits of a
/// domain-separated SHA-256 of the value + `]`, so equal values can be
/// correlated without being shown.
pub fn redact_token(value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"agentjail redact v1\0");
    h.update(value.as_bytes());
    format!("[REDACTED:{}]", &hex(&h.finalize())[..12])
}

fn is_redacted(s: &str) -> bool {
    s.starts_with("[REDACTED:") && s.ends_with(']') && s.len() == 23
}

/// Parameter names whose values are secrets, whatever they look like.
pub fn sensitive_key(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "key",
        "keys",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "privatekey",
        "secretkey",
        "accesskey",
    ];
    let lower = key.to_ascii_lowercase();
    if ["password", "passwd", "secret", "credential"]
        .iter()
        .any(|w| lower.contains(w))
        || lower.ends_with("token")
        || lower.ends_with("apikey")
    {
        return true;
    }
    // Words of snake_case, kebab-case, dotted and camelCase names.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            words.push(std::mem::take(&mut cur));
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    words.push(cur);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// A credential shape; `group` is the part replaced (0: the whole match).
struct Shape {
    re: regex::Regex,
    group: usize,
    guarded: bool,
}

/// Whether a word after `Bearer`/`Basic` looks like a credential rather
/// than prose: a digit, both cases, or a base64/token punctuation mark.
fn looks_random(s: &str) -> bool {
    s.bytes()
        .any(|b| b.is_ascii_digit() || b"+/=_-.~".contains(&b))
        || (s.bytes().any(|b| b.is_ascii_uppercase()) && s.bytes().any(|b| b.is_ascii_lowercase()))
}

/// (pattern, group replaced, the group must look random: see [`looks_random`]).
const SHAPES: &[(&str, usize, bool)] = &[
    // PEM private keys, up to their END line (or the end of the text).
    (
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)",
        0,
        false,
    ),
    // AWS access key ids.
    (
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[0-9A-Z]{16}\b",
        0,
        false,
    ),
    // GitHub, GitLab and Slack tokens.
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})",
        0,
        false,
    ),
    // Google API keys.
    (r"\bAIza[0-9A-Za-z_-]{35}", 0, false),
    // OpenAI/Anthropic-style and Stripe keys.
    (
        r"\b(?:sk-[A-Za-z0-9_-]{20,}|[rsp]k_(?:live|test)_[0-9A-Za-z]{16,})",
        0,
        false,
    ),
    // JSON Web Tokens.
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        0,
        false,
    ),
    // Bearer and Basic credentials (Authorization headers).
    (
        r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/-]{8,}=*)",
        1,
        true,
    ),
    // Passwords in URLs: scheme://user:PASSWORD@host.
    (r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", 1, false),
    // NAME=VALUE and NAME: VALUE with a secret's name, also as the last word
    // of a longer name (access_token, refresh_token, AWS_SESSION_TOKEN,
    // aws_secret_access_key), and session cookies (sessionid=, JSESSIONID=,
    // PHPSESSID=, session_id=).
    (
        r#"(?i)(?:\b|[_.-])(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|[a-z]*sess(?:ion)?[_-]?id)["']?\s*[=:]\s*("[^"]+"|'[^']+'|[^\s"'&;,]+)"#,
        1,
        false,
    ),
];

static SHAPE_RES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .filter_map(|(p, group, guarded)| {
            regex::Regex::new(p).ok().map(|re| Shape {
                re,
                group: *group,
                guarded: *guarded,
            })
        })
        .collect()
});

/// Lower-case literals of which every credential shape contains at least one
/// (case-insensitively): a cheap prefilter for `SHAPES`.
const SHAPE_HINTS: &[&str] = &[
    "private key",
    "akia",
    "asia",
    "abia",
    "acca",
    "agpa",
    "aida",
    "aipa",
    "anpa",
    "anva",
    "apka",
    "aroa",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "aiza",
    "sk-",
    "k_live_",
    "k_test_",
    "eyj",
    "bearer",
    "basic",
    "://",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "sessid",
    "sessionid",
    "session_id",
    "session-id",
];

/// Whether a text may match any credential shape (no false negatives).
fn might_hold_credentials(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    SHAPE_HINTS.iter().any(|h| lower.contains(h))
}

/// Replaces credentials in one text: the known secret values first, then
/// every credential shape. `None` when nothing changed.
pub fn redact_text(text: &str, secrets: &[String]) -> Option<String> {
    let mut out = Cow::Borrowed(text);
    for s in secrets {
        if s.len() >= SHORT && out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), &redact_token(s)));
        } else if !s.is_empty() && s.len() < SHORT && out.contains(s.as_str()) {
            if let Some(replaced) = replace_short(&out, s) {
                out = Cow::Owned(replaced);
            }
        }
    }
    // Most texts hold no hint of a credential: then the shapes are not even
    // compiled (building them costs more than a whole launch otherwise).
    let shapes: &[Shape] = if might_hold_credentials(&out) {
        &SHAPE_RES
    } else {
        &[]
    };
    for shape in shapes {
        if !shape.re.is_match(&out) {
            continue;
        }
        let replaced = shape
            .re
            .replace_all(&out, |c: &regex::Captures| {
                let Some(whole) = c.get(0) else {
                    return String::new();
                };
                match c.get(shape.group) {
                    Some(m)
                        if !is_redacted(m.as_str())
                            && (!shape.guarded || looks_random(m.as_str())) =>
                    {
                        let rel = m.start() - whole.start()..m.end() - whole.start();
                        let w = whole.as_str();
                        format!(
                            "{}{}{}",
                            &w[..rel.start],
                            redact_token(m.as_str()),
                            &w[rel.end..]
                        )
                    }
                    _ => whole.as_str().to_string(),
                }
            })
            .into_owned();
        if replaced != *out {
            out = Cow::Owned(replaced);
        }
    }
    match out {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => Some(s),
    }
}

/// Secrets shorter than this are replaced only where they stand as a value.
const SHORT: usize = 4;

/// Replaces a short secret where it stands as a value: the whole text, after
/// `=` or `: ` (`--pin=12`, `pin: 12`), or quoted (`"12"`, as messages quote
/// values); never inside a word or a number, where replacing it would both
/// mangle the text and point at the secret.
fn replace_short(text: &str, secret: &str) -> Option<String> {
    if text == secret {
        return Some(redact_token(secret));
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for (at, _) in text.match_indices(secret) {
        if at < last {
            continue;
        }
        let before_text = &text[..at];
        let end = at + secret.len();
        let before = before_text.chars().next_back();
        let after = text[end..].chars().next();
        let as_value = before_text.ends_with('=')
            || before_text.ends_with(": ")
            || (before == Some('"') && after == Some('"'))
            || (before == Some('\'') && after == Some('\''));
        if as_value && !word(after) {
            out.push_str(&text[last..at]);
            out.push_str(&redact_token(secret));
            last = end;
            changed = true;
        }
    }
    out.push_str(&text[last..]);
    changed.then_some(out)
}

/// Removes secrets from a record before it is written: values of parameters
/// with a secret's name (at any depth of `params`) are replaced whole, every
/// string anywhere in the record is cleared of those values and of credential
/// shapes (cloud keys, tokens, private keys, bearer credentials, URL
/// passwords, `password=…`).
pub fn redact_record(record: &mut Map<String, Value>) {
    let mut secrets = Vec::new();
    if let Some(p) = record.get_mut("params") {
        redact_keyed(p, &mut secrets);
    }
    secrets.sort_by_key(|s: &String| std::cmp::Reverse(s.len()));
    secrets.dedup();
    for (_, v) in record.iter_mut() {
        redact_strings(v, &secrets);
    }
}

fn redact_keyed(v: &mut Value, secrets: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if sensitive_key(k) && !x.is_null() && !x.is_boolean() {
                    if matches!(x, Value::String(s) if is_redacted(s)) {
                        continue;
                    }
                    collect_strings(x, secrets);
                    let text = match &*x {
                        Value::String(s) => s.clone(),
                        other => {
                            let mut b = Vec::new();
                            write_canonical(other, &mut b);
                            String::from_utf8_lossy(&b).into_owned()
                        }
                    };
                    *x = Value::String(redact_token(&text));
                } else {
                    redact_keyed(x, secrets);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_keyed(x, secrets)),
        _ => {}
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn redact_strings(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            if let Some(new) = redact_text(s, secrets) {
                *s = new;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_strings(x, secrets)),
        Value::Object(m) => m.values_mut().for_each(|x| redact_strings(x, secrets)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::audit::chain::object as map;
    use serde_json::json;

    #[test]
    fn every_shape_compiles() {
        assert_eq!(SHAPE_RES.len(), SHAPES.len());
    }

    #[test]
    fn keyed_parameters_are_redacted_with_a_correlatable_hash() {
        let mut r = map(json!({
            "params": {"password": "hunter2-x", "db_token": "abc12345", "user": "bob",
                        "nested": {"apiKey": 12345678, "max_tokens": 100}},
            "argv": ["login", "--user", "bob", "--pw", "hunter2-x"],
            "reasons": ["value hunter2-x rejected"],
        }));
        redact_record(&mut r);
        let tok = redact_token("hunter2-x");
        assert!(tok.starts_with("[REDACTED:") && tok.len() == 23, "{tok}");
        assert_eq!(r["params"]["password"], tok);
        assert_eq!(r["params"]["db_token"], redact_token("abc12345"));
        assert_eq!(r["params"]["nested"]["apiKey"], redact_token("12345678"));
        assert_eq!(r["params"]["nested"]["max_tokens"], 100);
        assert_eq!(r["params"]["user"], "bob");
        assert_eq!(r["argv"][4], tok);
        assert_eq!(r["reasons"][0], format!("value {tok} rejected"));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_prefilter_lets_every_credential_shape_through() {
        let samples = [
            "ASIAIOSFODNN7EXAMPLE",
            "AROAIOSFODNN7EXAMPLE",
            "gho_0123456789abcdefghijABCDEFGHIJ012345",
            "github_pat_0123456789abcdefghijABCD",
            "glpat-0123456789abcdefghij",
            "rk_live_0123456789abcdefgh",
            "pk_test_0123456789abcdefgh",
            "Authorization: BASIC dXNlcjpwYXNzd29yZA==",
            "https://bob:s3cr3tpass@example.com/x",
            "PASSWD=hunter22",
            "Client-Secret: abcdef",
            "API-KEY=abc123",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA",
        ];
        for s in samples {
            let matched = SHAPE_RES.iter().any(|sh| sh.re.is_match(s));
            assert!(matched, "sample matches no shape: {s}");
            assert!(might_hold_credentials(s), "prefilter hides {s}");
        }
        assert!(!might_hold_credentials(
            "risk class read: runs without approval"
        ));
    }

    #[test]
    fn credential_shapes_are_redacted_anywhere() {
        let cases = [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-123456789012-abcdefghij",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            "AIzaSyA-0123456789abcdefghijklmnopqrstu",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        ];
        for secret in cases {
            let mut r = map(json!({"params": {"text": format!("x {secret} y")},
                                   "argv": ["echo", format!("x {secret} y")]}));
            redact_record(&mut r);
            let want = format!("x {} y", redact_token(secret));
            assert_eq!(r["params"]["text"], want, "{secret}");
            assert_eq!(r["argv"][1], want, "{secret}");
        }
        // A private key without its END line is redacted to the end of the text.
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA";
        assert_eq!(
            redact_text(&format!("key: {cut}"), &[]).unwrap(),
            format!("key: {}", redact_token(cut))
        );
        let partial = [
            ("Authorization: Bearer abcdefgh12345678", "abcdefgh12345678"),
            ("curl https://bob:s3cr3tpw@example.com/x", "s3cr3tpw"),
            ("--password=hunter2", "hunter2"),
            ("API_KEY: 'q1w2e3r4'", "'q1w2e3r4'"),
        ];
        for (text, secret) in partial {
            let out = redact_text(text, &[]).unwrap_or_else(|| panic!("{text}"));
            assert!(!out.contains(secret), "{out}");
            assert!(out.contains(&redact_token(secret)), "{out}");
        }
        for clean in [
            "hello",
            "kubectl get pods",
            "sha256:abc",
            "max_tokens=100",
            "basic functionality",
            "Bearer considerations",
        ] {
            assert_eq!(redact_text(clean, &[]), None, "{clean}");
        }
    }

    /// One row per shape of the issue: the secret never survives.
    #[test]
    fn secret_shapes_table() {
        let cases = [
            ("access_token=Qx7hT2kLm9", "Qx7hT2kLm9"),
            (
                "https://api.example/cb?code=1&access_token=Qx7hT2kLm9&x=1",
                "Qx7hT2kLm9",
            ),
            ("refresh_token=Rf8sW1pQz4", "Rf8sW1pQz4"),
            ("{\"refresh_token\": \"Rf8sW1pQz4\"}", "\"Rf8sW1pQz4\""),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            (
                "AWS_SECRET_ACCESS_KEY = wJalrXUtnFEMIK7MDENG",
                "wJalrXUtnFEMIK7MDENG",
            ),
            ("AWS_SESSION_TOKEN=Fw0GZXIvYXdzEJr", "Fw0GZXIvYXdzEJr"),
            ("session_token: Fw0GZXIvYXdzEJr", "Fw0GZXIvYXdzEJr"),
            ("Cookie: sessionid=Sx3vB8nM2q; theme=dark", "Sx3vB8nM2q"),
            ("Cookie: theme=dark; JSESSIONID=Sx3vB8nM2q", "Sx3vB8nM2q"),
            ("Set-Cookie: PHPSESSID=Sx3vB8nM2q; path=/", "Sx3vB8nM2q"),
            ("session_id=Sx3vB8nM2q", "Sx3vB8nM2q"),
        ];
        for (text, secret) in cases {
            let out = redact_text(text, &[]).unwrap_or_else(|| panic!("not redacted: {text}"));
            assert!(!out.contains(secret), "{text} -> {out}");
            assert!(out.contains(&redact_token(secret)), "{text} -> {out}");
        }
        // What is around a cookie stays.
        let out = redact_text("Cookie: sessionid=Sx3vB8nM2q; theme=dark", &[]).unwrap();
        assert!(out.ends_with("; theme=dark"), "{out}");
        for clean in ["max_tokens=100", "session S1", "tokens: 5", "sessions=3"] {
            assert_eq!(redact_text(clean, &[]), None, "{clean}");
        }
    }

    /// A short value of a secret-named parameter is replaced where it stands
    /// as a value, and nowhere else.
    #[test]
    fn short_secret_values_table() {
        let mut r = map(json!({
            "params": {"password": "Zq9", "pin_code": 7, "user": "bob"},
            "argv": ["login", "--pin=Zq9", "Zq9", "--user", "bob", "xZq9y"],
            "reasons": ["parameter `password` = \"Zq9\" is refused", "pw: Zq9"],
        }));
        redact_record(&mut r);
        let tok = redact_token("Zq9");
        assert_eq!(r["params"]["password"], tok);
        assert_eq!(r["argv"][1], format!("--pin={tok}"));
        assert_eq!(r["argv"][2], tok);
        assert_eq!(r["argv"][4], "bob");
        // Inside a word it is not the value: left alone.
        assert_eq!(r["argv"][5], "xZq9y");
        assert_eq!(
            r["reasons"][0],
            format!("parameter `password` = \"{tok}\" is refused")
        );
        assert_eq!(r["reasons"][1], format!("pw: {tok}"));
        for (text, secret, want) in [
            ("exit code 12", "12", None),
            ("--n=123", "12", None),
            ("a 12=", "12", None),
            ("k='ab'", "ab", Some("k='[T]'")),
        ] {
            let got = redact_text(text, &[secret.to_string()]);
            let want = want.map(|w: &str| w.replace("[T]", &redact_token(secret)));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn sensitive_key_names() {
        for k in [
            "password",
            "db_password",
            "PASSWORD",
            "token",
            "githubToken",
            "api_key",
            "apiKey",
            "key",
            "secret_name",
            "client-secret",
            "Authorization",
            "aws.access_key",
            "ssh-key",
            "passphrase",
        ] {
            assert!(sensitive_key(k), "{k}");
        }
        for k in [
            "path",
            "text",
            "max_tokens",
            "monkey",
            "author",
            "keyword",
            "namespace",
        ] {
            assert!(!sensitive_key(k), "{k}");
        }
    }
}
