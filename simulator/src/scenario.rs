//! The scenario file: its schema, parsed with `serde-saphyr` into typed
//! structs that refuse unknown fields.
//!
//! Every value with a range is checked while it is parsed (probabilities,
//! durations, distributions, prices), so the error carries the line and
//! column; checks that span several fields (symbols without a reference
//! price, timeline orders that do not exist) run afterwards in
//! [`crate::load`], using the locations kept by [`Spanned`] fields.
//!
//! Defaults, where a field is left out: `seed` 1; `workload.side` buy;
//! `workload.type` market; `workload.traders` 1; no arrival gaps (every
//! order at the start); `engine` the engine's own defaults; no latency, no
//! faults; every order fills at once in one piece at the reference price;
//! status never lags; cancel of a filled order answers 422; no rate limit,
//! no outages; `limits.settle` 2m, `limits.max_virtual_time` 7d.

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::distribution::{Dist, DurationDist, NumberDist, Scalar, Seconds, dist_from_map};
use crate::duration::Dur;

/// The scenario format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Format version; must be [`FORMAT_VERSION`].
    pub version: Spanned<u32>,
    /// Short name, used in reports.
    pub name: String,
    /// What the scenario tests.
    #[serde(default)]
    pub description: String,
    /// The run seed; default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The orders to place.
    pub workload: WorkloadSpec,
    /// How the engine under test is set up.
    #[serde(default)]
    pub engine: EngineSpec,
    /// How the broker behaves.
    #[serde(default)]
    pub broker: BrokerSpec,
    /// Exact events for named orders; overrides the random model for them.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
    /// Metric thresholds: `detection_rate: ">= 0.999"`.
    #[serde(default)]
    pub expect: IndexMap<String, Spanned<String>>,
    /// Per seed, switch off a random subset of fault kinds and weight the
    /// rest at random within the scenario's bounds.
    #[serde(default)]
    pub swarm: bool,
    /// Bounds on a run.
    #[serde(default)]
    pub limits: Limits,
    /// What `check` found questionable but not wrong (a setting that can
    /// never take effect, a scripted fill a draw may not fit); filled in by
    /// [`Scenario::parse`], never read from the file.
    #[serde(skip)]
    pub warnings: Vec<crate::error::Diagnostic>,
}

fn default_seed() -> u64 {
    1
}

/// Bounds on one run, so that no scenario runs forever.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Virtual time the engine gets to finish, with faults healed, after
    /// the last order's deadline and the engine's reconcile horizon;
    /// default 2m.
    #[serde(default = "default_settle")]
    pub settle: Dur,
    /// Virtual time after which a run is stopped; default 7d.
    #[serde(default = "default_max_virtual_time")]
    pub max_virtual_time: Dur,
}

fn default_settle() -> Dur {
    Dur(Duration::from_secs(120))
}

fn default_max_virtual_time() -> Dur {
    Dur(Duration::from_secs(7 * 86_400))
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            settle: default_settle(),
            max_virtual_time: default_max_virtual_time(),
        }
    }
}

/// The orders a run places.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// How many orders, 1 to 10,000,000.
    pub orders: Spanned<u32>,
    /// Gap between one order's submission and the next; default none.
    #[serde(default)]
    pub arrival: Option<DurationDist>,
    /// Symbols, drawn uniformly per order.
    pub symbols: Spanned<Vec<String>>,
    /// Buy, sell, or weights of each; default buy.
    #[serde(default)]
    pub side: SideSpec,
    /// Quantity per order, rounded to a whole number from 1 to
    /// 1,000,000,000.
    pub qty: NumberDist,
    /// Order type; default market.
    #[serde(rename = "type", default)]
    pub order_type: OrderKind,
    /// The price each symbol trades at, as decimal strings.
    pub reference_price: Spanned<IndexMap<String, Price>>,
    /// Traders placing orders, round robin; default 1.
    #[serde(default = "default_traders")]
    pub traders: u32,
    /// The orders themselves, one entry each in submission order, as
    /// `fillproof import` writes them from an incident. When given, `orders`
    /// counts them, and `arrival`, `side`, `qty` and `type` are not drawn
    /// from; default none.
    #[serde(default)]
    pub list: Vec<Spanned<ListedOrder>>,
}

/// One order of a listed workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedOrder {
    /// When it is submitted, since the run began.
    pub at: Dur,
    /// The instrument; it needs a `reference_price`.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: ListedSide,
    /// Whole shares, 1 to 1,000,000,000.
    pub qty: u64,
    /// `market` (default) or `limit`.
    #[serde(rename = "type", default)]
    pub order_type: OrderKind,
    /// The limit price of a limit order, a decimal string.
    #[serde(default)]
    pub limit_price: Option<Price>,
}

/// The side of a listed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListedSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

fn default_traders() -> u32 {
    1
}

/// Market or limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Market orders.
    #[default]
    Market,
    /// Limit orders at the reference price.
    Limit,
}

/// Which side orders take.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SideSpec {
    /// Always buy.
    #[default]
    Buy,
    /// Always sell.
    Sell,
    /// Buy with weight `buy`, sell with weight `sell`.
    Mixed {
        /// Weight of buys.
        buy: f64,
        /// Weight of sells.
        sell: f64,
    },
}

impl<'de> Deserialize<'de> for SideSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SideVisitor;
        impl<'de> Visitor<'de> for SideVisitor {
            type Value = SideSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`buy`, `sell`, or weights such as {buy: 0.6, sell: 0.4}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<SideSpec, E> {
                match value {
                    "buy" => Ok(SideSpec::Buy),
                    "sell" => Ok(SideSpec::Sell),
                    other => Err(E::custom(format!(
                        "unknown side `{other}`; expected `buy`, `sell`, or weights such as {{buy: 0.6, sell: 0.4}}"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SideSpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Weights {
                    #[serde(default)]
                    buy: Weight,
                    #[serde(default)]
                    sell: Weight,
                }
                let w = Weights::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if w.buy.0 + w.sell.0 <= 0.0 {
                    return Err(de::Error::custom("side weights must not both be zero"));
                }
                Ok(SideSpec::Mixed {
                    buy: w.buy.0,
                    sell: w.sell.0,
                })
            }
        }
        deserializer.deserialize_any(SideVisitor)
    }
}

/// A weight: a finite number of zero or more.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Weight(pub f64);

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !value.is_finite() || value < 0.0 {
            return Err(de::Error::custom(format!(
                "weight {value} is out of range; weights are numbers of zero or more"
            )));
        }
        Ok(Self(value))
    }
}

/// A probability in 0..=1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probability(pub f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(de::Error::custom(format!(
                "probability {value} is out of range; allowed: 0 to 1"
            )));
        }
        Ok(Self(value))
    }
}

/// A positive price written as a decimal string (`"590.10"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(pub Decimal);

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;
        impl Visitor<'_> for PriceVisitor {
            type Value = Price;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive price as a decimal string, such as \"590.10\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Price, E> {
                let price: Decimal = value.trim().parse().map_err(|_| {
                    E::custom(format!(
                        "`{value}` is not a decimal price; write it like \"590.10\""
                    ))
                })?;
                if price <= Decimal::ZERO {
                    return Err(E::custom(format!("price {price} must be positive")));
                }
                Ok(Price(price))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Price, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Price, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Price, E> {
                Err(E::custom(format!(
                    "price {value} is a binary float; write prices as decimal strings, like \"{value}\""
                )))
            }
        }
        deserializer.deserialize_any(PriceVisitor)
    }
}

/// An amount of money of zero or more, written as a decimal string
/// (`"0.005"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of zero or more as a decimal string, such as \"0.005\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Amount, E> {
                let amount: Decimal = value.trim().parse().map_err(|_| {
                    E::custom(format!(
                        "`{value}` is not a decimal amount; write it like \"0.005\""
                    ))
                })?;
                if amount.is_sign_negative() {
                    return Err(E::custom(format!("amount {amount} must be zero or more")));
                }
                Ok(Amount(amount))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Amount, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Amount, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "amount {value} is a binary float; write amounts as decimal strings, like \"{value}\""
                )))
            }
        }
        deserializer.deserialize_any(AmountVisitor)
    }
}

/// Which engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// The fillproof engine.
    Robust,
    /// The original status-field-only detector, kept to show what it misses.
    Naive,
    /// The robust loop with the literal "any of four methods" verifier, kept
    /// to show the fills it invents.
    SeedLiteral,
    /// The naive detector behind the Python client's own retries of 429 and
    /// 504 on every call, kept to show the duplicate orders they make.
    NaiveRetry,
}

impl EngineKind {
    /// The kind's name as written in scenarios and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Robust => "robust",
            Self::Naive => "naive",
            Self::SeedLiteral => "seed-literal",
            Self::NaiveRetry => "naive-retry",
        }
    }
}

/// How the engine under test is set up. Every field defaults to the
/// engine's own default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// Which engine; default robust.
    #[serde(default)]
    pub kind: Option<EngineKind>,
    /// Monitoring deadline per order, at most 1 day.
    #[serde(default)]
    pub timeout: Option<Spanned<Dur>>,
    /// The longest one broker call may take, once sent, before the engine
    /// treats it as an ambiguous outcome; default 5s.
    #[serde(default)]
    pub call_timeout: Option<Spanned<Dur>>,
    /// How long past a deadline the engine keeps working to learn an
    /// order's fate (lookups after an unknown submit, reads through a long
    /// `pending_cancel`); default 10m, at most 1 day.
    #[serde(default)]
    pub reconcile_horizon: Option<Spanned<Dur>>,
    /// Polling strategy.
    #[serde(default)]
    pub polling: Option<Spanned<PollingSpec>>,
    /// Final verification at the deadline.
    #[serde(default)]
    pub final_verification: Option<bool>,
    /// Retries per failed call.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// What to do with a partial fill at the deadline.
    #[serde(default)]
    pub partial_fills: Option<PartialPolicySpec>,
    /// Client-side rate limit on the engine's broker calls (its call
    /// budget): absent, the engine's own default (180 a minute, as a bot
    /// in production runs it); `none` for no budget at all.
    #[serde(default)]
    pub rate_limit: Option<EngineRateLimit>,
    /// The longest a submission waits for a turn in the call budget before
    /// it is shed, never sent; default 30s.
    #[serde(default)]
    pub shed_after: Option<Spanned<Dur>>,
    /// Risk limits; default none (every limit off).
    #[serde(default)]
    pub risk: Option<RiskSpec>,
    /// Commission deducted from realized P&L; default none.
    #[serde(default)]
    pub commission: Option<CommissionSpec>,
    /// A limit price must be within this many percent of the reference
    /// price; default 5.
    #[serde(default)]
    pub price_band_pct: Option<Weight>,
}

/// Risk limits; each is off when left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    /// Largest absolute position per symbol, in shares.
    #[serde(default)]
    pub max_position: Option<u64>,
    /// Largest realized loss in a trading day, in dollars.
    #[serde(default)]
    pub daily_loss_limit: Option<Price>,
    /// Most orders a trader may place in any minute.
    #[serde(default)]
    pub max_orders_per_minute: Option<u32>,
}

/// Commission per fill.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionSpec {
    /// Per order that fills, in dollars.
    #[serde(default)]
    pub per_order: Option<Amount>,
    /// Per share, in dollars.
    #[serde(default)]
    pub per_share: Option<Amount>,
}

/// A partial-fill policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialPolicySpec {
    /// Cancel the remainder and keep what filled.
    CancelRemainder,
    /// Keep working the remainder for one more timeout, then cancel.
    KeepWorking,
}

/// A polling strategy: `{strategy: linear, initial: 500ms, step: 100ms,
/// max: 2s}`, `{strategy: fixed, interval: 1s}`, `{strategy: exponential,
/// initial: 250ms, factor: 2, max: 4s}` or `{strategy: adaptive}` (with
/// optional `first`, `cruise`, `growth`, `max`, `endgame`,
/// `endgame_interval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingSpec {
    /// `fixed`, `linear` or `exponential`.
    pub strategy: String,
    /// Fixed interval.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// First interval.
    #[serde(default)]
    pub initial: Option<Dur>,
    /// Linear growth per poll.
    #[serde(default)]
    pub step: Option<Dur>,
    /// Exponential growth factor.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Cap.
    #[serde(default)]
    pub max: Option<Dur>,
    /// Adaptive: first interval.
    #[serde(default)]
    pub first: Option<Dur>,
    /// Adaptive: interval after the first and after any change.
    #[serde(default)]
    pub cruise: Option<Dur>,
    /// Adaptive: unchanged polls at the cruise interval before it grows.
    #[serde(default)]
    pub patience: Option<u32>,
    /// Adaptive: growth per unchanged poll after that.
    #[serde(default)]
    pub growth: Option<f64>,
    /// Adaptive: how long before the deadline the endgame starts.
    #[serde(default)]
    pub endgame: Option<Dur>,
    /// Adaptive: interval in the endgame.
    #[serde(default)]
    pub endgame_interval: Option<Dur>,
    /// Hybrid: quiet time on the stream before a safety read.
    #[serde(default)]
    pub safety: Option<Dur>,
}

/// A broker API endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `submit_order`.
    Submit,
    /// `get_order`.
    GetOrder,
    /// `get_order_by_client_id`.
    GetOrderByClientId,
    /// `cancel_order`.
    Cancel,
    /// `get_position`.
    GetPosition,
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 5] = [
        Self::Submit,
        Self::GetOrder,
        Self::GetOrderByClientId,
        Self::Cancel,
        Self::GetPosition,
    ];

    /// The endpoint's name as written in scenarios.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::GetOrder => "get_order",
            Self::GetOrderByClientId => "get_order_by_client_id",
            Self::Cancel => "cancel",
            Self::GetPosition => "get_position",
        }
    }

    /// A dense index, for per-endpoint arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The endpoint names, for messages.
const ENDPOINT_NAMES: &[&str] = &[
    "submit",
    "get_order",
    "get_order_by_client_id",
    "cancel",
    "get_position",
];

// Parsed from a plain string (not as a serde enum) so that the field path of
// an error under it names the endpoint: `broker.faults.get_order.timeout`.
impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointVisitor;
        impl Visitor<'_> for EndpointVisitor {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an endpoint: one of {}", ENDPOINT_NAMES.join(", "))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Endpoint, E> {
                Endpoint::ALL
                    .into_iter()
                    .find(|e| e.as_str() == value)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown endpoint `{value}`{}; expected one of {}",
                            crate::suggest::did_you_mean(value, ENDPOINT_NAMES),
                            ENDPOINT_NAMES.join(", ")
                        ))
                    })
            }
        }
        deserializer.deserialize_str(EndpointVisitor)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the broker behaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSpec {
    /// Latency per endpoint; default none.
    #[serde(default)]
    pub latency: IndexMap<Endpoint, LatencySpec>,
    /// When and how orders fill.
    #[serde(default)]
    pub fill: FillSpec,
    /// How reads lag the truth.
    #[serde(default)]
    pub visibility: VisibilitySpec,
    /// Transient errors per endpoint.
    #[serde(default)]
    pub faults: IndexMap<Endpoint, Spanned<FaultSpec>>,
    /// How cancels are processed.
    #[serde(default)]
    pub cancel: CancelSpec,
    /// A token bucket on all calls; default none.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// Windows during which every call answers 503.
    #[serde(default)]
    pub outages: Vec<OutageSpec>,
    /// How far positions lag fills; default none.
    #[serde(default)]
    pub position_lag: DurationDist,
    /// Rejections of submitted orders.
    #[serde(default)]
    pub rejections: RejectionSpec,
    /// The account: buying power and symbols it may not trade.
    #[serde(default)]
    pub account: AccountSpec,
    /// The `trade_updates` stream; default none.
    #[serde(default)]
    pub stream: Option<StreamSpec>,
}

/// The broker's `trade_updates` stream and its faults. Every event is
/// published from the ledger's truth at the moment it happens and
/// delivered after a delay; faults drop, duplicate and reorder events, and
/// disconnects and outages lose what happens while the connection is down
/// (no replay, as with Alpaca's stream).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Delivery delay after the event; default none.
    #[serde(default)]
    pub delay: DurationDist,
    /// Chance an event is never delivered; default 0.
    #[serde(default)]
    pub drop: Probability,
    /// Chance an event is delivered twice; default 0.
    #[serde(default)]
    pub duplicate: Probability,
    /// Chance an event is held back (up to 2 s more), so that later events
    /// of its order can overtake it; default 0.
    #[serde(default)]
    pub reorder: Probability,
    /// Disconnects: how often and for how long; default none.
    #[serde(default)]
    pub disconnects: Option<Spanned<DisconnectSpec>>,
    /// Windows in which the stream is down; default none.
    #[serde(default)]
    pub outages: Vec<OutageSpec>,
}

/// How often the stream disconnects, and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectSpec {
    /// Time from one reconnect to the next disconnect.
    pub every: DurationDist,
    /// How long each disconnect lasts.
    pub down_for: DurationDist,
}

/// The broker account behind the orders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Cash available for buys; a buy costing more is refused with 403.
    /// Default: not limited.
    #[serde(default)]
    pub buying_power: Option<Price>,
    /// Symbols the account may not trade; orders in them are refused with
    /// 422. Default none.
    #[serde(default)]
    pub not_tradable: Vec<String>,
}

/// Latency of one endpoint: one distribution for the round trip (the request
/// applied at the broker halfway), or `{request: D, response: D}`.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencySpec {
    /// Round trip.
    RoundTrip(DurationDist),
    /// Each leg.
    Legs {
        /// Engine to broker.
        request: DurationDist,
        /// Broker to engine.
        response: DurationDist,
    },
}

impl<'de> Deserialize<'de> for LatencySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LatencyVisitor;
        impl<'de> Visitor<'de> for LatencyVisitor {
            type Value = LatencySpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration, a distribution, or {request: D, response: D}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LatencySpec, E> {
                crate::duration::parse_duration(value)
                    .map(|d| LatencySpec::RoundTrip(DurationDist::fixed(d)))
                    .map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LatencySpec, E> {
                self.visit_f64(value as f64)
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<LatencySpec, E> {
                Seconds::from_number(value)
                    .map(|seconds| LatencySpec::RoundTrip(DurationDist(Dist::Fixed(seconds))))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LatencySpec, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty latency; write a duration or a distribution",
                    ));
                };
                if first == "request" || first == "response" {
                    let mut request = None;
                    let mut response = None;
                    let mut key = Some(first);
                    while let Some(name) = key {
                        let value = map.next_value::<DurationDist>()?;
                        match name.as_str() {
                            "request" => request = Some(value),
                            "response" => response = Some(value),
                            other => {
                                return Err(de::Error::custom(format!(
                                    "unknown latency leg `{other}`; expected `request` and `response`"
                                )));
                            }
                        }
                        key = map.next_key::<String>()?;
                    }
                    return Ok(LatencySpec::Legs {
                        request: request.unwrap_or_default(),
                        response: response.unwrap_or_default(),
                    });
                }
                dist_from_map::<Seconds, A>(&first, map)
                    .map(|d| LatencySpec::RoundTrip(DurationDist(d)))
            }
        }
        deserializer.deserialize_any(LatencyVisitor)
    }
}

impl LatencySpec {
    /// The distributions of the request and response legs.
    #[must_use]
    pub fn legs(&self) -> (DurationDist, DurationDist) {
        match self {
            Self::RoundTrip(round_trip) => {
                let half = halve(&round_trip.0);
                (DurationDist(half.clone()), DurationDist(half))
            }
            Self::Legs { request, response } => (request.clone(), response.clone()),
        }
    }
}

/// Half of a round-trip distribution, for each leg: the request is applied
/// at the broker halfway. For shapes that do not halve in closed form the
/// legs are drawn from the halved parameters, which keeps the median.
fn halve(dist: &Dist) -> Dist {
    match dist {
        Dist::Fixed(v) => Dist::Fixed(v / 2.0),
        Dist::Uniform { low, high } => Dist::Uniform {
            low: low / 2.0,
            high: high / 2.0,
        },
        Dist::Normal { mean, std } => Dist::Normal {
            mean: mean / 2.0,
            std: std / 2.0,
        },
        Dist::LogNormal { median, p99 } => Dist::LogNormal {
            median: median / 2.0,
            p99: p99 / 2.0,
        },
        Dist::Exponential { mean } => Dist::Exponential { mean: mean / 2.0 },
        Dist::Samples(values) => Dist::Samples(values.iter().map(|v| v / 2.0).collect()),
        Dist::SamplesFile(path) => Dist::SamplesFile(path.clone()),
    }
}

/// When and how orders fill.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillSpec {
    /// Chance an order fills at all; default 1.
    #[serde(default = "certain")]
    pub probability: Probability,
    /// Time from acceptance to the first fill; default 0.
    #[serde(default)]
    pub delay: DurationDist,
    /// Fills in several pieces.
    #[serde(default)]
    pub partial: Option<PartialSpec>,
    /// Price slippage in basis points, positive against the trader; default 0.
    #[serde(default)]
    pub slippage_bps: NumberDist,
}

fn certain() -> Probability {
    Probability(1.0)
}

impl Default for FillSpec {
    fn default() -> Self {
        Self {
            probability: certain(),
            delay: DurationDist::default(),
            partial: None,
            slippage_bps: NumberDist::default(),
        }
    }
}

/// Fills in several pieces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSpec {
    /// Chance a filling order fills in pieces.
    pub probability: Probability,
    /// How many pieces, `[low, high]`, 2 to 1000.
    pub pieces: PiecesRange,
    /// Time between pieces.
    #[serde(default)]
    pub spacing: DurationDist,
    /// Chance that the last piece never fills: the remainder rests until
    /// it is cancelled. Default 0.
    #[serde(default)]
    pub unfilled: Probability,
}

/// A range of piece counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiecesRange {
    /// Fewest pieces.
    pub low: u32,
    /// Most pieces.
    pub high: u32,
}

impl<'de> Deserialize<'de> for PiecesRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<u32>::deserialize(deserializer)?;
        let [low, high] = values[..] else {
            return Err(de::Error::custom(format!(
                "`pieces` takes two counts [low, high], got {}",
                values.len()
            )));
        };
        if low < 2 || high > 1000 || high < low {
            return Err(de::Error::custom(format!(
                "`pieces` [{low}, {high}] is out of range; allowed: 2 <= low <= high <= 1000"
            )));
        }
        Ok(Self { low, high })
    }
}

/// How reads lag the truth.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibilitySpec {
    /// How long the status field lags `filled_qty`, per order; default 0.
    #[serde(default)]
    pub status_lag: DurationDist,
    /// Weights of the spellings of the filled status; default `filled`.
    #[serde(default)]
    pub status_spelling: IndexMap<String, Weight>,
    /// Reads that return an older snapshot.
    #[serde(default)]
    pub stale_reads: Option<StaleReadSpec>,
}

/// Reads that return an older snapshot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleReadSpec {
    /// Chance a read is stale.
    pub probability: Probability,
    /// How old the snapshot is.
    pub age: DurationDist,
}

/// Transient errors of one endpoint, as the chance of each per call. Their
/// sum must be at most 1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// No answer and not applied; the engine sees a timeout after
    /// `timeout_after`.
    #[serde(default)]
    pub timeout: Probability,
    /// Connection reset before the broker saw the request.
    #[serde(default)]
    pub connection_reset: Probability,
    /// HTTP 500, not applied.
    #[serde(default)]
    pub http_500: Probability,
    /// HTTP 502, not applied.
    #[serde(default)]
    pub http_502: Probability,
    /// HTTP 503, not applied.
    #[serde(default)]
    pub http_503: Probability,
    /// HTTP 504: the gateway gave up, but the broker applied the request.
    #[serde(default)]
    pub http_504: Probability,
    /// HTTP 429 with Retry-After `retry_after`, not applied.
    #[serde(default)]
    pub http_429: Probability,
    /// Applied, but the body cannot be parsed.
    #[serde(default)]
    pub garbage_body: Probability,
    /// Applied, but the answer is lost; the engine sees a timeout after
    /// `timeout_after`.
    #[serde(default)]
    pub lost_response: Probability,
    /// How long the engine waits before it sees a timeout; default 5s.
    #[serde(default)]
    pub timeout_after: Option<Dur>,
    /// Retry-After sent with a 429; default 1s.
    #[serde(default)]
    pub retry_after: Option<Dur>,
}

/// The fault kinds of [`FaultSpec`], for messages and swarm mode.
pub const FAULT_KINDS: &[&str] = &[
    "timeout",
    "connection_reset",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "http_429",
    "garbage_body",
    "lost_response",
];

impl FaultSpec {
    /// The probabilities in [`FAULT_KINDS`] order.
    #[must_use]
    pub fn probabilities(&self) -> [f64; 9] {
        [
            self.timeout.0,
            self.connection_reset.0,
            self.http_500.0,
            self.http_502.0,
            self.http_503.0,
            self.http_504.0,
            self.http_429.0,
            self.garbage_body.0,
            self.lost_response.0,
        ]
    }
}

/// How cancels are processed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelSpec {
    /// What a cancel of a filled order answers; default `reject_422`.
    #[serde(default)]
    pub when_filled: WhenFilled,
    /// How long an accepted cancel takes; fills during it win. Default 0.
    #[serde(default)]
    pub processing: Dur,
}

/// What a cancel of a filled order answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFilled {
    /// 422 `order is already in "filled" state`.
    #[default]
    #[serde(rename = "reject_422")]
    Reject422,
    /// 204, as if the cancel were accepted; nothing changes.
    #[serde(rename = "accept_204")]
    Accept204,
}

/// The engine's call budget as a scenario sets it: `none`, or a limit.
#[derive(Debug, Clone)]
pub enum EngineRateLimit {
    /// `rate_limit: none`: the engine runs without a call budget.
    Off,
    /// `rate_limit: {requests: N, per: D}`.
    Limit(RateLimitSpec),
}

impl EngineRateLimit {
    /// The limit, unless the budget is off.
    #[must_use]
    pub fn limit(&self) -> Option<&RateLimitSpec> {
        match self {
            Self::Off => None,
            Self::Limit(limit) => Some(limit),
        }
    }
}

impl<'de> Deserialize<'de> for EngineRateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BudgetVisitor;
        impl<'de> Visitor<'de> for BudgetVisitor {
            type Value = EngineRateLimit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`none` or {requests: N, per: D}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<EngineRateLimit, E> {
                if value == "none" {
                    Ok(EngineRateLimit::Off)
                } else {
                    Err(E::custom(format!(
                        "`{value}` is not a call budget; write `none` for no budget, or {{requests: 180, per: 60s}}"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EngineRateLimit, A::Error> {
                RateLimitSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(EngineRateLimit::Limit)
            }
        }
        deserializer.deserialize_any(BudgetVisitor)
    }
}

/// A token bucket: `requests` calls per `per`, refilled continuously.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Calls per window, at least 1.
    pub requests: Spanned<u32>,
    /// The window, positive.
    pub per: Dur,
}

/// A window during which every call answers 503.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageSpec {
    /// Start, in virtual time since the run began.
    pub at: Dur,
    /// Length, positive.
    #[serde(rename = "for")]
    pub duration: Dur,
}

/// Rejections of submitted orders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionSpec {
    /// Chance a submit is refused at once (422); default 0.
    #[serde(default)]
    pub probability: Probability,
    /// Chance an accepted order is rejected later; default 0.
    #[serde(default)]
    pub async_probability: Probability,
    /// When, after acceptance, a later rejection lands; default 0.
    #[serde(default)]
    pub async_delay: DurationDist,
}

/// One scripted event for one order: something the broker does to it at a
/// time (`fill`, `reject`, `cancel`, `expire`), or a fault one of its calls
/// meets (`fault`: "the first POST of order 3 loses its response").
///
/// The order is named by its workload (arrival) index, `order`, or by its
/// `client_order_id`; exactly one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEvent {
    /// When, in virtual time since the run began; required for every event
    /// but `fault`, which names a call instead.
    #[serde(default)]
    pub at: Option<Dur>,
    /// The workload order it applies to, numbered from 0 in arrival order.
    #[serde(default)]
    pub order: Option<Spanned<u32>>,
    /// The order it applies to, by the client's id for it.
    #[serde(default)]
    pub client_order_id: Option<Spanned<String>>,
    /// What happens.
    pub event: Spanned<TimelineKind>,
    /// Quantity filled by a `fill`; default the rest of the order.
    #[serde(default)]
    pub qty: Option<u32>,
    /// Price of a `fill`; default the reference price.
    #[serde(default)]
    pub price: Option<Price>,
    /// The endpoint whose call a `fault` strikes.
    #[serde(default)]
    pub call: Option<EndpointName>,
    /// Which call of that endpoint for the order a `fault` strikes, from 1
    /// (the first); default 1.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// The fault a `fault` event injects, one of the fault kinds of
    /// `broker.faults` (`timeout`, `lost_response`, `http_504`, ...).
    #[serde(default)]
    pub fault: Option<Spanned<String>>,
}

impl TimelineEvent {
    /// When the event happens; a `fault` event has no time and reads 0.
    #[must_use]
    pub fn at(&self) -> Duration {
        self.at.map_or(Duration::ZERO, |at| at.0)
    }

    /// Where in the file the event is, for messages.
    #[must_use]
    pub fn location(&self) -> serde_saphyr::Location {
        self.event.referenced
    }

    /// The order the event names, for messages: `order 3` or
    /// `client_order_id "abc"`.
    #[must_use]
    pub fn target_name(&self) -> String {
        match (&self.order, &self.client_order_id) {
            (Some(order), _) => format!("order {}", order.value),
            (None, Some(id)) => format!("client_order_id {:?}", id.value),
            (None, None) => "no order".to_owned(),
        }
    }
}

/// An endpoint as a scenario names it (`submit`, `get_order`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointName {
    /// `submit`.
    Submit,
    /// `get_order`.
    GetOrder,
    /// `get_order_by_client_id`.
    GetOrderByClientId,
    /// `cancel`.
    Cancel,
    /// `get_position`.
    GetPosition,
}

impl EndpointName {
    /// The endpoint named.
    #[must_use]
    pub fn endpoint(self) -> Endpoint {
        match self {
            Self::Submit => Endpoint::Submit,
            Self::GetOrder => Endpoint::GetOrder,
            Self::GetOrderByClientId => Endpoint::GetOrderByClientId,
            Self::Cancel => Endpoint::Cancel,
            Self::GetPosition => Endpoint::GetPosition,
        }
    }
}

/// What a timeline event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A fill of `qty` at `price`.
    Fill,
    /// The broker rejects the order.
    Reject,
    /// The broker cancels the order on its own.
    Cancel,
    /// The order expires.
    Expire,
    /// One call of the order's meets a fault (`call`, `attempt`, `fault`).
    Fault,
}
