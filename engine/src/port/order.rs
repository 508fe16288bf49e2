//! The order model: what the engine sends and what a broker answers.
//!
//! The shapes mirror the Alpaca v2 order object so that a REST adapter maps
//! fields one to one. Quantities and prices are [`Decimal`]; statuses are
//! parsed tolerantly because brokers and SDKs spell them differently.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy: the position grows by the filled quantity.
    Buy,
    /// Sell: the position shrinks by the filled quantity.
    Sell,
}

impl Side {
    /// `+1` for a buy, `-1` for a sell: multiply a filled quantity by it to get
    /// the change in position.
    #[must_use]
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// The order type, as Alpaca names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// Fill at the market.
    Market,
    /// Fill at the limit price or better.
    Limit,
    /// Becomes a market order at the stop price.
    Stop,
    /// Becomes a limit order at the stop price.
    StopLimit,
    /// A stop that trails the market.
    TrailingStop,
}

/// How long an order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Until the end of the trading day.
    Day,
    /// Until canceled.
    Gtc,
    /// At the opening auction.
    Opg,
    /// At the closing auction.
    Cls,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// An order's status: every Alpaca status, plus any other spelling kept
/// verbatim.
///
/// Parsing is tolerant of case, of an enum-path prefix (`OrderStatus.FILLED`)
/// and of the short `fill`, but it never guesses: a spelling it does not know
/// becomes [`OrderStatus::Unknown`] with the original text, which the engine
/// treats as "not proven filled, not terminal".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Received and routed.
    New,
    /// Some of the quantity has filled.
    PartiallyFilled,
    /// All of the quantity has filled.
    Filled,
    /// Done for the day; may still receive updates on a later day.
    DoneForDay,
    /// Canceled; the filled quantity (if any) stands.
    Canceled,
    /// Expired under its time in force.
    Expired,
    /// Replaced by another order.
    Replaced,
    /// A cancel is being processed; a fill can still land.
    PendingCancel,
    /// A replace is being processed.
    PendingReplace,
    /// Accepted but not yet routed.
    Accepted,
    /// Received but not yet accepted.
    PendingNew,
    /// Accepted for an auction.
    AcceptedForBidding,
    /// Stopped: a fill is guaranteed at a price.
    Stopped,
    /// Rejected; never worked.
    Rejected,
    /// Suspended; not eligible to trade.
    Suspended,
    /// Filled, with settlement figures still being calculated.
    Calculated,
    /// Held until a trigger.
    Held,
    /// A spelling the parser does not know, kept as the broker sent it.
    Unknown(String),
}

impl OrderStatus {
    /// Parses a status as brokers and SDKs spell it.
    ///
    /// Accepts any case, an enum-path prefix (`OrderStatus.FILLED`), `-` or a
    /// space for `_`, the short `fill` and the British `cancelled`. Anything
    /// else is kept as [`OrderStatus::Unknown`].
    #[must_use]
    pub fn parse(raw: &str) -> Self {
        // Most answers use the canonical spelling: match it without
        // allocating.
        if let Some(status) = Self::canonical(raw) {
            return status;
        }
        let trimmed = raw.trim();
        let last = trimmed.rsplit('.').next().unwrap_or(trimmed);
        let normalized: String = last
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                other => other.to_ascii_lowercase(),
            })
            .collect();
        Self::canonical(&normalized)
            .or_else(|| (normalized == "fill").then_some(Self::Filled))
            .or_else(|| (normalized == "cancelled").then_some(Self::Canceled))
            .unwrap_or_else(|| Self::Unknown(raw.to_owned()))
    }

    /// The status a canonical Alpaca spelling names, if `text` is one.
    fn canonical(text: &str) -> Option<Self> {
        Some(match text {
            "new" => Self::New,
            "partially_filled" => Self::PartiallyFilled,
            "filled" => Self::Filled,
            "done_for_day" => Self::DoneForDay,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "replaced" => Self::Replaced,
            "pending_cancel" => Self::PendingCancel,
            "pending_replace" => Self::PendingReplace,
            "accepted" => Self::Accepted,
            "pending_new" => Self::PendingNew,
            "accepted_for_bidding" => Self::AcceptedForBidding,
            "stopped" => Self::Stopped,
            "rejected" => Self::Rejected,
            "suspended" => Self::Suspended,
            "calculated" => Self::Calculated,
            "held" => Self::Held,
            _ => return None,
        })
    }

    /// The canonical Alpaca spelling, or the original text of an unknown one.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::New => "new",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::DoneForDay => "done_for_day",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Replaced => "replaced",
            Self::PendingCancel => "pending_cancel",
            Self::PendingReplace => "pending_replace",
            Self::Accepted => "accepted",
            Self::PendingNew => "pending_new",
            Self::AcceptedForBidding => "accepted_for_bidding",
            Self::Stopped => "stopped",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
            Self::Calculated => "calculated",
            Self::Held => "held",
            Self::Unknown(raw) => raw,
        }
    }

    /// True for the states after which nothing more can happen to the order:
    /// filled, canceled, expired, rejected, replaced.
    ///
    /// `done_for_day` is not terminal: the order may receive fills on a later
    /// day. An unknown spelling is not terminal either.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled | Self::Expired | Self::Rejected | Self::Replaced
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(Self::parse(&raw))
    }
}

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

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
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

/// Days since 1970-01-01 of a proleptic Gregorian date, after Howard
/// Hinnant's `days_from_civil` (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What the engine asks a broker to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The engine's deterministic id for this intent; the broker refuses a
    /// second order with the same one, which makes retries safe.
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// Quantity, positive.
    pub qty: Decimal,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, ...
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Limit price for limit orders.
    pub limit_price: Option<Decimal>,
}

/// A broker's view of an order, shaped like the Alpaca v2 order object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The broker's id.
    pub id: String,
    /// The engine's id for the intent.
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, ...
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Limit price for limit orders.
    pub limit_price: Option<Decimal>,
    /// Status as the broker reports it; may lag `filled_qty`.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Average price of the quantity filled so far.
    pub filled_avg_price: Option<Decimal>,
    /// When the broker accepted the order.
    pub submitted_at: Option<Timestamp>,
    /// When the order filled (completely, for most brokers).
    pub filled_at: Option<Timestamp>,
    /// When the order was canceled.
    pub canceled_at: Option<Timestamp>,
    /// When anything on the order last changed.
    pub updated_at: Option<Timestamp>,
}

/// A broker's position in one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The instrument.
    pub symbol: String,
    /// Signed quantity: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price, when the position is open.
    pub avg_entry_price: Option<Decimal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling the design names parses to `Filled`; the enum-path and
    /// upper-case forms of other statuses parse too.
    #[test]
    fn status_parses_every_filled_spelling() {
        for raw in ["filled", "FILLED", "OrderStatus.FILLED", "fill", " Filled "] {
            assert_eq!(OrderStatus::parse(raw), OrderStatus::Filled, "{raw}");
        }
        assert_eq!(
            OrderStatus::parse("OrderStatus.PARTIALLY_FILLED"),
            OrderStatus::PartiallyFilled
        );
        assert_eq!(
            OrderStatus::parse("pending-cancel"),
            OrderStatus::PendingCancel
        );
        assert_eq!(OrderStatus::parse("CANCELLED"), OrderStatus::Canceled);
    }

    /// An unknown spelling is kept verbatim, not mapped to the nearest guess.
    #[test]
    fn status_keeps_unknown_spelling_verbatim() {
        let parsed = OrderStatus::parse("fully_executed");
        assert_eq!(parsed, OrderStatus::Unknown("fully_executed".to_owned()));
        assert_eq!(parsed.as_str(), "fully_executed");
        assert!(!parsed.is_terminal());
    }

    /// Every canonical spelling round-trips through `parse`.
    #[test]
    fn status_canonical_spellings_round_trip() {
        for status in [
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Filled,
            OrderStatus::DoneForDay,
            OrderStatus::Canceled,
            OrderStatus::Expired,
            OrderStatus::Replaced,
            OrderStatus::PendingCancel,
            OrderStatus::PendingReplace,
            OrderStatus::Accepted,
            OrderStatus::PendingNew,
            OrderStatus::AcceptedForBidding,
            OrderStatus::Stopped,
            OrderStatus::Rejected,
            OrderStatus::Suspended,
            OrderStatus::Calculated,
            OrderStatus::Held,
        ] {
            assert_eq!(OrderStatus::parse(status.as_str()), status);
        }
    }

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
