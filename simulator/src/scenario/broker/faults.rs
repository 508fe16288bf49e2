//! `broker.faults` and `broker.outages`: transient errors per endpoint,
//! and windows in which every call answers 503.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Endpoint;
use crate::fault::{FaultKind, FaultTable};
use crate::scenario::check::Checker;

use crate::duration::Dur;
use crate::scenario::values::Probability;

/// Transient errors of one endpoint, as the chance of each per call. Their
/// sum must be at most 1.
///
/// One field per [`FaultKind`], named as [`FaultKind::as_str`] names it:
/// serde needs named fields to refuse an unknown one with the list of
/// known ones (a new kind adds its field here and its arm in
/// [`FaultSpec::probability`]).
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

impl FaultSpec {
    /// The chance of `kind` per call.
    #[must_use]
    pub fn probability(&self, kind: FaultKind) -> Probability {
        match kind {
            FaultKind::Timeout => self.timeout,
            FaultKind::ConnectionReset => self.connection_reset,
            FaultKind::Http500 => self.http_500,
            FaultKind::Http502 => self.http_502,
            FaultKind::Http503 => self.http_503,
            FaultKind::Http504 => self.http_504,
            FaultKind::Http429 => self.http_429,
            FaultKind::GarbageBody => self.garbage_body,
            FaultKind::LostResponse => self.lost_response,
        }
    }

    /// The chance of every kind per call.
    #[must_use]
    pub fn probabilities(&self) -> FaultTable<f64> {
        FaultTable::from_fn(|kind| self.probability(kind).0)
    }
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

/// Refuses an endpoint whose fault probabilities add up to more than 1.
pub(super) fn check(faults: &IndexMap<Endpoint, Spanned<FaultSpec>>, c: &mut Checker<'_>) {
    for (endpoint, fault) in faults {
        let total: f64 = fault.value.probabilities().iter().sum();
        if total > 1.0 + 1e-12 {
            c.at(
                Some(fault.referenced),
                format!("broker.faults.{endpoint}"),
                format!("fault probabilities add up to {total}; their sum must be at most 1"),
            );
        }
    }
}

/// Refuses an outage of `section` that lasts no time.
pub(super) fn check_outages(section: &str, outages: &[OutageSpec], c: &mut Checker<'_>) {
    for (i, outage) in outages.iter().enumerate() {
        if outage.duration.0.is_zero() {
            c.at(
                None,
                format!("{section}[{i}].for"),
                "is 0s; an outage must last a positive time",
            );
        }
    }
}
