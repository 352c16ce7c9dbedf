//! How `profiles test` prints its results: text (one line per failing
//! case and a summary), JSON, or JUnit XML for CI systems.

use super::profiles_test::CaseResult;
use super::AppError;
use clap::ValueEnum;
use serde_json::json;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Text,
    Json,
    /// JUnit XML: one testsuite per test file, one testcase per case.
    Junit,
}

pub fn print(results: &[CaseResult], format: TestFormat) -> Result<(), AppError> {
    let text = match format {
        TestFormat::Text => text(results),
        TestFormat::Json => format!("{}\n", json(results)),
        TestFormat::Junit => junit(results),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(AppError::Output)
}

fn summary(results: &[CaseResult]) -> (usize, usize) {
    let failed = results.iter().filter(|r| !r.passed()).count();
    (results.len() - failed, failed)
}

fn text(results: &[CaseResult]) -> String {
    let mut s = String::new();
    for r in results.iter().filter(|r| !r.passed()) {
        s.push_str(&crate::text::printable(&format!(
            "FAIL {}:{}: {}: {}; reasons: {}\n",
            r.file,
            r.line,
            r.name,
            r.failures.join("; "),
            if r.reasons.is_empty() {
                "(none)".to_string()
            } else {
                r.reasons.join(" | ")
            }
        )));
    }
    let (passed, failed) = summary(results);
    s.push_str(&format!("{passed} passed, {failed} failed\n"));
    s
}

fn json(results: &[CaseResult]) -> serde_json::Value {
    let (passed, failed) = summary(results);
    let cases: Vec<_> = results
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["passed"] = json!(r.passed());
            v
        })
        .collect();
    json!({"passed": passed, "failed": failed, "cases": cases})
}

/// Text escaped for XML content and attributes; characters XML 1.0 cannot
/// hold (most control characters) become U+FFFD.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn junit(results: &[CaseResult]) -> String {
    let (passed, failed) = summary(results);
    let mut files: Vec<&str> = Vec::new();
    for r in results {
        if !files.contains(&r.file.as_str()) {
            files.push(&r.file);
        }
    }
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites name=\"agentjail profiles test\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
        passed + failed
    ));
    for file in files {
        let mine: Vec<&CaseResult> = results.iter().filter(|r| r.file == file).collect();
        let f = mine.iter().filter(|r| !r.passed()).count();
        s.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\" skipped=\"0\">\n",
            xml(file),
            mine.len()
        ));
        for r in mine {
            s.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml(&r.name),
                xml(file),
                xml(file),
                r.line
            ));
            if r.passed() {
                s.push_str("/>\n");
            } else {
                s.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"policy\">{}</failure>\n    </testcase>\n",
                    xml(&r.failures.join("; ")),
                    xml(&format!("got: {}\nreasons:\n{}", r.got, r.reasons.join("\n")))
                ));
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(xml("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}");
    }
}
