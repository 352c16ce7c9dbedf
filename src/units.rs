//! Parsing of Kubernetes-style quantities used in profiles: sizes ("256Mi"),
//! CPU ("500m") and durations ("10m", "30s").

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("size {0:?} is not a number followed by an optional unit (Ki, Mi, Gi, K, M, G)")]
    Size(String),
    #[error("cpu {0:?} is not a number of cores (\"2\", \"0.5\") or millicores (\"500m\")")]
    Cpu(String),
    #[error("duration {0:?} is not a number followed by s, m or h")]
    Duration(String),
}

/// Parses a byte size: plain bytes, binary (Ki, Mi, Gi, Ti) or decimal (K, M, G, T) units.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let err = || UnitError::Size(text.to_string());
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err())?;
    let mult: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Parses CPU in Kubernetes units and returns millicores: "500m" is 500, "2" is 2000, "0.5" is 500.
pub fn parse_cpu_millis(text: &str) -> Result<u64, UnitError> {
    let err = || UnitError::Cpu(text.to_string());
    let t = text.trim();
    let millis = if let Some(m) = t.strip_suffix('m') {
        m.parse::<u64>().map_err(|_| err())?
    } else {
        let cores: f64 = t.parse().map_err(|_| err())?;
        if !cores.is_finite() || !(0.0..=1.0e6).contains(&cores) {
            return Err(err());
        }
        (cores * 1000.0).round() as u64
    };
    if millis == 0 {
        return Err(err());
    }
    Ok(millis)
}

/// Parses a duration such as "90s", "10m", "2h" or a plain number of seconds.
pub fn parse_duration_secs(text: &str) -> Result<u64, UnitError> {
    let err = || UnitError::Duration(text.to_string());
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Formats a byte count the way profiles write it, e.g. 52428800 -> "50Mi".
pub fn format_size(bytes: u64) -> String {
    for (unit, m) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= m && bytes % m == 0 {
            return format!("{}{unit}", bytes / m);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let table: &[(&str, Option<u64>)] = &[
            ("256Mi", Some(256 << 20)),
            ("50Mi", Some(50 << 20)),
            ("1Gi", Some(1 << 30)),
            ("4096", Some(4096)),
            ("2K", Some(2000)),
            ("1M", Some(1_000_000)),
            ("", None),
            ("Mi", None),
            ("12Xi", None),
            ("-1Mi", None),
            ("99999999999999999999Ti", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_size(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn cpus() {
        let table: &[(&str, Option<u64>)] = &[
            ("500m", Some(500)),
            ("2", Some(2000)),
            ("0.5", Some(500)),
            ("1.25", Some(1250)),
            ("0", None),
            ("0m", None),
            ("-1", None),
            ("abc", None),
            ("NaN", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_cpu_millis(text).ok(), *want, "{text}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        assert_eq!(parse_duration_secs("10m"), Ok(600));
        assert_eq!(parse_duration_secs("2h"), Ok(7200));
        assert_eq!(parse_duration_secs("7"), Ok(7));
        assert!(parse_duration_secs("1w").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["50Mi", "1Gi", "3Ki", "1000"] {
            assert_eq!(format_size(parse_size(s).unwrap()), s);
        }
    }
}
