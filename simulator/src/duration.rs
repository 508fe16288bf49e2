//! Durations as scenario files write them: a number and a unit, `80ms`,
//! `1.2s`, `10m`, `2h`, or several in a row, `1m30s`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The units a duration may use, for error messages.
pub const UNITS: &str = "ns, us, ms, s, m, h (e.g. 80ms, 1.2s, 10m, 1m30s)";

/// Parses a duration string.
///
/// # Errors
/// A message saying what is wrong and what is allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!(
            "empty duration; write a number with a unit: {UNITS}"
        ));
    }
    if trimmed.starts_with('-') {
        return Err(format!(
            "`{trimmed}` is negative; durations must be zero or more"
        ));
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("`{trimmed}` is not a duration; use {UNITS}"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("`{trimmed}` has a malformed number; use {UNITS}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("`{trimmed}` needs a unit: {UNITS}")),
            other => {
                return Err(format!(
                    "`{trimmed}` has unknown unit `{other}`; use {UNITS}"
                ));
            }
        };
        total += number * scale;
    }
    // Ten years is far beyond any run; a larger figure is a typo.
    if !total.is_finite() || total > 315_360_000.0 {
        return Err(format!(
            "`{trimmed}` is too long; durations are at most ten years"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way scenario files write them: `1.2s`, `80ms`.
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros == 0 {
        "0s".to_owned()
    } else if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros >= 1_000_000 {
        format!("{}s", trim_zeros(duration.as_secs_f64()))
    } else if micros % 1000 == 0 {
        format!("{}ms", micros / 1000)
    } else {
        format!("{}us", micros)
    }
}

fn trim_zeros(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A non-negative duration parsed from a scenario string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurVisitor)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Dur;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration with a unit: {UNITS}")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Dur, E> {
        parse_duration(value).map(Dur).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Dur, E> {
        if value == 0 {
            return Ok(Dur(Duration::ZERO));
        }
        Err(E::custom(format!("`{value}` needs a unit: {UNITS}")))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Dur, E> {
        if value < 0 {
            return Err(E::custom(format!(
                "`{value}` is negative; durations must be zero or more"
            )));
        }
        self.visit_u64(value.unsigned_abs())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Dur, E> {
        Err(E::custom(format!("`{value}` needs a unit: {UNITS}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form the scenario contract uses parses to the right length.
    #[test]
    fn parses_contract_forms() {
        assert_eq!(parse_duration("80ms"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_duration("1.2s"), Ok(Duration::from_millis(1200)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    /// Bad forms are refused with a message naming what is allowed.
    #[test]
    fn refuses_bad_forms() {
        for bad in ["", "-1s", "80", "1.2.3s", "5 parsecs", "ms"] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(
                error.contains("ms") || error.contains("negative"),
                "{bad}: {error}"
            );
        }
    }

    /// Formatting round-trips the usual values.
    #[test]
    fn formats_like_scenarios() {
        for text in ["80ms", "1.2s", "2s", "0s", "250us"] {
            let parsed = parse_duration(text).expect(text);
            assert_eq!(format_duration(parsed), text);
        }
    }
}
