//! Broker wall-clock stamps ([`Timestamp`]): microseconds since the Unix
//! epoch, shown and parsed as RFC 3339, with the civil-calendar arithmetic
//! they need.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A broker wall-clock stamp: microseconds since the Unix epoch, UTC.
///
/// Displayed as RFC 3339 (`2025-10-17T13:30:01.200000Z`), the form Alpaca
/// uses. In simulation it is the scenario epoch plus virtual elapsed time,
/// never the machine's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub unix_micros: i64,
}

impl Timestamp {
    /// A stamp from microseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_micros(unix_micros: i64) -> Self {
        Self { unix_micros }
    }

    /// The stamp of a UTC date and time; `None` when a field is out of
    /// range (month 1 to 12, day 1 to 31, hour to 23, minute to 59, second
    /// to 60 for a leap second, microseconds to 999,999) or the stamp
    /// overflows.
    #[must_use]
    pub fn from_utc(
        (year, month, day): (i64, i64, i64),
        (hour, minute, second): (i64, i64, i64),
        micros: i64,
    ) -> Option<Self> {
        let in_range = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && (0..=23).contains(&hour)
            && (0..=59).contains(&minute)
            && (0..=60).contains(&second)
            && (0..1_000_000).contains(&micros);
        if !in_range {
            return None;
        }
        let seconds = days_from_civil(year, month, day)
            .checked_mul(86_400)?
            .checked_add(hour * 3600 + minute * 60 + second)?;
        seconds
            .checked_mul(1_000_000)?
            .checked_add(micros)
            .map(Self::from_unix_micros)
    }

    /// Parses an RFC 3339 time as brokers send it
    /// (`2025-10-17T13:30:01.2Z`, `2025-10-17T09:30:01.123456789-04:00`);
    /// digits past the microsecond are dropped. `None` for anything else.
    #[must_use]
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let text = text.trim();
        let number = |s: &str| -> Option<i64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let date = text.get(0..10)?;
        if date.as_bytes().get(4) != Some(&b'-') || date.as_bytes().get(7) != Some(&b'-') {
            return None;
        }
        let rest = text.get(10..)?.strip_prefix(['T', 't', ' '])?;
        if rest.as_bytes().get(2) != Some(&b':') || rest.as_bytes().get(5) != Some(&b':') {
            return None;
        }
        let mut tail = rest.get(8..)?;
        let mut micros = 0;
        if let Some(fraction) = tail.strip_prefix('.') {
            let end = fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
            if end == 0 {
                return None;
            }
            let padded: String = fraction[..end]
                .chars()
                .chain("00000".chars())
                .take(6)
                .collect();
            micros = number(&padded)?;
            tail = &fraction[end..];
        }
        let offset_seconds = match tail {
            "Z" | "z" => 0,
            _ => {
                let sign = match tail.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                if tail.len() != 6 || tail.as_bytes()[3] != b':' {
                    return None;
                }
                sign * (number(tail.get(1..3)?)? * 3600 + number(tail.get(4..6)?)? * 60)
            }
        };
        let stamp = Self::from_utc(
            (
                number(date.get(0..4)?)?,
                number(date.get(5..7)?)?,
                number(date.get(8..10)?)?,
            ),
            (
                number(rest.get(0..2)?)?,
                number(rest.get(3..5)?)?,
                number(rest.get(6..8)?)?,
            ),
            micros,
        )?;
        stamp
            .unix_micros
            .checked_sub(offset_seconds.checked_mul(1_000_000)?)
            .map(Self::from_unix_micros)
    }

    /// The trading day the stamp falls on: days since the Unix epoch, UTC.
    #[must_use]
    pub const fn trading_day(self) -> i64 {
        self.unix_micros.div_euclid(86_400_000_000)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.unix_micros.div_euclid(1_000_000);
        let micros = self.unix_micros.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            // The common case, digit by digit: stamps are written for every
            // audit record and event, and `write!` is several times slower.
            let mut text = *b"0000-00-00T00:00:00.000000Z";
            put_digits(&mut text[0..4], year);
            put_digits(&mut text[5..7], month);
            put_digits(&mut text[8..10], day);
            put_digits(&mut text[11..13], of_day / 3600);
            put_digits(&mut text[14..16], of_day % 3600 / 60);
            put_digits(&mut text[17..19], of_day % 60);
            put_digits(&mut text[20..26], micros);
            return f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?);
        }
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            of_day / 3600,
            of_day % 3600 / 60,
            of_day % 60
        )
    }
}

/// Writes `value`'s last `slot.len()` decimal digits into `slot`,
/// zero-padded; `value` is not negative.
fn put_digits(slot: &mut [u8], mut value: i64) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
}

/// The proleptic Gregorian date `(year, month, day)` of a day counted from
/// 1970-01-01 (day 0; day -1 is 1969-12-31), after Howard Hinnant's
/// `civil_from_days`: month 1 to 12, day 1 to 31.
///
/// Exact for any `days` up to `i64::MAX - 719_468` (past that the
/// arithmetic overflows); every day a [`Timestamp`] can stand for is far
/// inside. The inverse of [`days_from_civil`].
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day, counted from 1970-01-01 (day 0), of a proleptic Gregorian date,
/// after Howard Hinnant's `days_from_civil`.
///
/// Meant for a real date (month 1 to 12, day 1 to the month's length); a
/// day past the month's end counts on into the next month. Exact for years
/// up to about ±2.5 × 10^16 (past that the arithmetic overflows). The
/// inverse of [`civil_from_days`].
#[must_use]
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3339 in the forms brokers send parses to the microsecond, and
    /// reads back what `Display` writes; anything else is refused.
    #[test]
    fn rfc3339_parses_what_brokers_send() {
        let parse = |t: &str| Timestamp::parse_rfc3339(t).map(|s| s.unix_micros);
        assert_eq!(parse("2025-10-17T13:30:01.2Z"), Some(1_760_707_801_200_000));
        assert_eq!(
            parse("2025-10-17T13:30:01.200000Z"),
            Some(1_760_707_801_200_000)
        );
        assert_eq!(
            parse("2025-10-17T09:30:01.200000999-04:00"),
            Some(1_760_707_801_200_000)
        );
        assert_eq!(
            parse("2025-10-17T15:30:01+02:00"),
            Some(1_760_707_801_000_000)
        );
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse("2024-02-29T00:00:00+00:00"),
            Some(1_709_164_800_000_000)
        );
        for micros in [0, 1, 1_709_164_800_123_456, -1] {
            let stamp = Timestamp::from_unix_micros(micros);
            assert_eq!(Timestamp::parse_rfc3339(&stamp.to_string()), Some(stamp));
        }
        for bad in [
            "",
            "2025-10-17",
            "2025-13-01T00:00:00Z",
            "2025-10-17T24:00:00Z",
            "2025-10-17T13:30:01",
            "2025-10-17T13:30:01.Z",
            "2025-10-17X13:30:01Z",
            "2025/10/17T13:30:01Z",
            "2025-10-17T13:30:01+0200",
            "yesterday",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    /// Timestamps print as RFC 3339 in UTC with microseconds.
    #[test]
    fn timestamp_displays_rfc3339() {
        // 2025-10-17T13:30:01.2Z
        let stamp = Timestamp::from_unix_micros(1_760_707_801_200_000);
        assert_eq!(stamp.to_string(), "2025-10-17T13:30:01.200000Z");
        assert_eq!(
            Timestamp::from_unix_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        // Past year 9999 the digit-by-digit path gives way to `write!`.
        assert_eq!(
            Timestamp::from_unix_micros(253_402_300_800_000_001).to_string(),
            "10000-01-01T00:00:00.000001Z"
        );
    }
}
