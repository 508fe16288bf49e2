//! The `broker:` section: how the simulated broker behaves, one file per
//! part (endpoints, latency, fills, visibility, faults, cancels, the
//! stream, the account), each checked beside its types.
//!
//! Entry points: [`BrokerSpec`] and the section's checks for the
//! scenario's `check.rs`; `model.rs` compiles the section into the
//! broker's model. Imports the scenario's shared values, the crate's
//! distributions, durations and fault vocabulary.

mod account;
mod cancel;
mod faults;
mod fill;
mod latency;
mod stream;
mod visibility;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scenario;
use super::check::{Checker, check_amount};
use super::values::RateLimitSpec;
use crate::distribution::DurationDist;

pub use account::{AccountSpec, DEFAULT_BUYING_POWER};
pub use cancel::{CancelSpec, WhenFilled};
pub use faults::{FaultSpec, OutageSpec};
pub use fill::{FillSpec, PartialSpec, PiecesRange, RejectionSpec};
pub use fillproof_engine::Endpoint;
pub use latency::LatencySpec;
pub use stream::{MAX_DISCONNECTS_PER_RUN, StreamSpec};
pub use visibility::{StaleReadSpec, VisibilitySpec};

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

/// Checks the `broker:` section: its stream, its faults, how reads lag,
/// its rate limit and its outages.
pub(super) fn check(scenario: &Scenario, c: &mut Checker<'_>) {
    let broker = &scenario.broker;
    if let Some(stream) = &broker.stream {
        stream.check(scenario.limits.max_virtual_time.0, c);
    }
    faults::check(&broker.faults, c);
    broker.visibility.check(c);
    if let Some(limit) = &broker.rate_limit {
        limit.check("broker", c);
    }
    let stream_outages = broker.stream.as_ref().map_or(&[][..], |s| &s.outages[..]);
    faults::check_outages("broker.outages", &broker.outages, c);
    faults::check_outages("broker.stream.outages", stream_outages, c);
}

/// Money the broker is given within the engine's bounds (see
/// [`check_amount`]).
pub(super) fn check_bounds(broker: &BrokerSpec, c: &mut Checker<'_>) {
    let buying_power = broker.account.buying_power.map(|p| p.0);
    check_amount("broker.account.buying_power", buying_power, c);
}
