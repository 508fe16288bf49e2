//! The order model: what the engine sends and what a broker answers.
//!
//! The shapes mirror the Alpaca v2 order object so that a REST adapter maps
//! fields one to one. Quantities and prices are [`Decimal`]; statuses are
//! parsed tolerantly because brokers and SDKs spell them differently.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::port::Timestamp;
use crate::port::class::{OrderClass, StopLoss, Trail};

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
    /// May trade in the pre- and after-hours sessions (a limit `day` order
    /// only, as Alpaca requires); default false.
    #[serde(default)]
    pub extended_hours: bool,
    /// The price that triggers a stop or stop-limit order.
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// How far a trailing stop trails.
    #[serde(default)]
    pub trail: Option<Trail>,
    /// Simple, or a bracket, OCO or OTO carrying exit legs.
    #[serde(default)]
    pub order_class: OrderClass,
    /// The take-profit leg's limit price (bracket, OCO, OTO).
    #[serde(default)]
    pub take_profit: Option<Decimal>,
    /// The stop-loss leg (bracket, OCO, OTO).
    #[serde(default)]
    pub stop_loss: Option<StopLoss>,
    /// A dollar amount to trade instead of a quantity (a market `day`
    /// order in a fractionable asset): the broker buys or sells what it
    /// buys at the touch; `qty` is then ignored.
    #[serde(default)]
    pub notional: Option<Decimal>,
}

/// What a replace changes (`PATCH /v2/orders/{id}`): each field given
/// overrides the old order's, the rest stay. The broker answers the new
/// order, which takes the old one's place once the replace is processed,
/// unless the old one filled first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceRequest {
    /// The new quantity.
    #[serde(default)]
    pub qty: Option<Decimal>,
    /// The new time in force.
    #[serde(default)]
    pub time_in_force: Option<TimeInForce>,
    /// The new limit price.
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    /// The new stop price.
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// A trailing stop's new trail, in its own unit (dollars or percent).
    #[serde(default)]
    pub trail: Option<Decimal>,
    /// The new order's client order id; the broker makes one up when it
    /// is not given, and a retried replace naming the same one is refused
    /// as a duplicate, never placed twice.
    #[serde(default)]
    pub client_order_id: Option<String>,
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
    /// May trade in the pre- and after-hours sessions; default false.
    #[serde(default)]
    pub extended_hours: bool,
    /// The price that triggers a stop, stop-limit or trailing-stop order
    /// (for a trailing stop, where the trail stands now).
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// How far a trailing stop trails.
    #[serde(default)]
    pub trail: Option<Trail>,
    /// A trailing stop's high-water mark: the best price since it was
    /// placed (the highest for a sell, the lowest for a buy).
    #[serde(default)]
    pub hwm: Option<Decimal>,
    /// Simple, or the class of the group this order heads or belongs to.
    #[serde(default)]
    pub order_class: OrderClass,
    /// The exit legs of a bracket, OCO or OTO, when listed nested.
    #[serde(default)]
    pub legs: Vec<Order>,
    /// The order this one replaced.
    #[serde(default)]
    pub replaces: Option<String>,
    /// The order that replaced this one.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// The dollar amount of a notional order (its `qty` is the shares the
    /// amount came to).
    #[serde(default)]
    pub notional: Option<Decimal>,
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
}
