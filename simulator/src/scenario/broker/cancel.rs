//! `broker.cancel`: how cancels are processed.

use serde::Deserialize;

use crate::distribution::DurationDist;
use crate::duration::Dur;

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
    /// How long, after one exit of a bracket or OCO fills, the broker
    /// takes to cancel the other (a reader sees both open meanwhile; the
    /// other never fills). Default 0.
    #[serde(default)]
    pub oco_delay: DurationDist,
    /// The chance, per bracket or OCO, that both exits are touched in the
    /// instant the first one fills (a print through both in one volatile
    /// instant): exactly one of them fills, picked by the group's own
    /// draw, the other is canceled `oco_delay` later. Default 0.
    #[serde(default)]
    pub both_exits_touched: crate::scenario::Probability,
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
