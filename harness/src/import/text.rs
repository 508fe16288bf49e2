//! The importer's text: what it accepts from an export (printable ids and
//! symbols, times that exist) and how it writes every string into the
//! scenario (one quoting function, so that nothing read can become YAML).

use std::fmt::Write as _;

/// `text` as a YAML double-quoted scalar: `"` and `\` escaped, and every
/// character YAML does not print as itself (C0 and C1 controls, DEL, the
/// line and paragraph separators, the byte-order mark, the
/// noncharacters U+FFFE and U+FFFF) written as an escape, so that the
/// value stays on its line and reads back exactly. The result is also a
/// JSON string.
#[must_use]
pub fn yaml_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

/// `text` as it is, when it is plain (letters, digits, `-`, `_`, `.`,
/// `:`, `/`), else quoted with [`yaml_quote`]: for ids in comments and
/// error messages, where a plain id reads best and any other must not
/// break the line.
#[must_use]
pub fn shown(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    if plain {
        text.to_owned()
    } else {
        yaml_quote(text)
    }
}

/// Why `text` (the value of `field`) cannot be imported: a control
/// character or a line separator, which no broker puts in an id, a
/// symbol or a status, and which would break the scenario's lines.
pub fn printable(field: &str, text: &str) -> Result<(), String> {
    match text
        .char_indices()
        .find(|(_, c)| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        None => Ok(()),
        Some((at, c)) => Err(format!(
            "`{field}` {} holds a control character (U+{:04X} at byte {at}); \
             ids, symbols and statuses are printable text: the export is damaged \
             or not the one it claims to be",
            yaml_quote(text),
            u32::from(c)
        )),
    }
}

/// Days in `month` of `year` (proleptic Gregorian).
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Microseconds since the epoch of an RFC 3339 time that exists: the
/// engine's parser, and on top of it the checks it leaves out (a day past
/// its month's end, such as `2025-02-30`; an hour, minute or second past
/// `23:59:59`, such as the leap second `13:30:60`; an offset beyond
/// `±23:59`, such as `+99:99`).
///
/// # Errors
/// Why `text` is not such a time, for a message that already names the
/// field and quotes the text.
pub fn strict_stamp(text: &str) -> Result<i64, String> {
    let stamp = fillproof_engine::Timestamp::parse_rfc3339(text)
        .ok_or_else(|| "is not an RFC 3339 time (such as 2025-10-17T13:30:00.120Z)".to_owned())?;
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| {
        text.get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if text.as_bytes().get(13) == Some(&b':') && text.as_bytes().get(16) == Some(&b':') {
        let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
        for (what, value, most) in [
            ("hour", hour, 23),
            ("minute", minute, 59),
            ("second", second, 59),
        ] {
            if value > most {
                return Err(format!(
                    "is not a time: its {what} is {value}, and a {what} runs to {most} (a leap second, 60, is not replayed: the simulated clock has none)"
                ));
            }
        }
    }
    if day > days_in_month(year, month) {
        return Err(format!(
            "is not a time: {year:04}-{month:02} has {} days, not {day}",
            days_in_month(year, month)
        ));
    }
    if let Some(offset) = text
        .len()
        .checked_sub(6)
        .and_then(|at| text.get(at..))
        .filter(|o| o.starts_with(['+', '-']) && o.as_bytes()[3] == b':')
    {
        let hours = offset[1..3].parse::<i64>().unwrap_or(0);
        let minutes = offset[4..6].parse::<i64>().unwrap_or(0);
        if hours > 23 || minutes > 59 {
            return Err(format!(
                "has the offset {offset}; an offset is at most ±23:59"
            ));
        }
    }
    Ok(stamp.unix_micros)
}

/// The nanoseconds an RFC 3339 stamp gives past its microsecond (its
/// seventh to ninth digits after the second's point, 0 to 999), which
/// [`strict_stamp`]'s microseconds leave out. Digits past the ninth are
/// left out: no clock stamps finer.
#[must_use]
pub fn sub_micro_ns(text: &str) -> u16 {
    let Some(fraction) = text.trim().get(19..).and_then(|t| t.strip_prefix('.')) else {
        return 0;
    };
    let digits: String = fraction
        .chars()
        .take_while(char::is_ascii_digit)
        .skip(6)
        .take(3)
        .collect();
    format!("{digits:0<3}").parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quoted text reads back as itself (as JSON, which is also YAML's
    /// double-quoted form), on one line.
    #[test]
    fn quoted_text_reads_back_on_one_line() {
        for text in [
            "plain",
            "a \"quoted\" # not a comment: key",
            "line\nbreak\r\ttab \u{0} nul \u{7f} del \u{85} nel \u{2028} ls",
            "back\\slash",
            "",
        ] {
            let quoted = yaml_quote(text);
            assert!(
                !quoted.contains(['\n', '\r', '\u{85}', '\u{2028}']),
                "{quoted}"
            );
            let back: String = serde_json::from_str(&quoted).expect("JSON string");
            assert_eq!(back, text);
        }
        assert_eq!(shown("61e69015-8549"), "61e69015-8549");
        assert_eq!(shown("a b"), "\"a b\"");
    }

    /// Times that do not exist are refused; real ones, leap days and
    /// offsets included, pass.
    #[test]
    fn impossible_times_are_refused() {
        for good in [
            "2025-10-17T13:30:00.120Z",
            "2024-02-29T00:00:00Z",
            "2025-10-17T09:30:00-04:00",
            "2025-10-17T23:30:00+23:59",
        ] {
            assert!(strict_stamp(good).is_ok(), "{good}");
        }
        let bad = strict_stamp("2025-02-30T10:00:00Z").expect_err("Feb 30");
        assert!(bad.contains("2025-02 has 28 days, not 30"), "{bad}");
        assert!(strict_stamp("2025-02-29T10:00:00Z").is_err());
        assert!(strict_stamp("2025-04-31T10:00:00Z").is_err());
        let offset = strict_stamp("2025-10-17T13:30:00+99:99").expect_err("offset");
        assert!(offset.contains("+99:99"), "{offset}");
        assert!(strict_stamp("2025-10-17T13:30:00+05:60").is_err());
        let leap = strict_stamp("2025-10-17T13:30:60Z").expect_err("second 60");
        assert!(leap.contains("its second is 60"), "{leap}");
        assert!(strict_stamp("2016-12-31T23:59:60Z").is_err());
        assert!(strict_stamp("2025-10-17T23:59:59.999999Z").is_ok());
        assert!(strict_stamp("yesterday").is_err());
    }

    /// The nanoseconds past the microsecond, as many as the stamp gives.
    #[test]
    fn nanoseconds_past_the_microsecond() {
        assert_eq!(sub_micro_ns("2025-10-17T13:30:05.0000009Z"), 900);
        assert_eq!(sub_micro_ns("2025-10-17T13:30:05.000000123+02:00"), 123);
        assert_eq!(sub_micro_ns("2025-10-17T13:30:05.123456Z"), 0);
        assert_eq!(sub_micro_ns("2025-10-17T13:30:05Z"), 0);
        assert_eq!(sub_micro_ns("2025-10-17T13:30:05.1234567891Z"), 789);
    }
}
