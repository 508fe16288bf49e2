//! `broker.stream`: the `trade_updates` stream and its faults.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::OutageSpec;
use crate::distribution::DurationDist;
use crate::scenario::check::Checker;
use crate::scenario::values::Probability;

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

/// Most stream disconnects a run may expect within `limits.max_virtual_time`:
/// each is a window the stream keeps and a reconnect the engine answers
/// with a read of every open order, so a stream that flaps every
/// millisecond for a week would make a run explode.
pub const MAX_DISCONNECTS_PER_RUN: f64 = 1_000_000.0;

impl StreamSpec {
    /// Checks the stream's disconnects: a positive time connected between
    /// them, and not so many that a run within `horizon` explodes.
    pub(super) fn check(&self, horizon: Duration, c: &mut Checker<'_>) {
        let Some(disconnects) = &self.disconnects else {
            return;
        };
        if disconnects.value.every.0.upper_bound() == Some(0.0) {
            c.at(
                Some(disconnects.referenced),
                "broker.stream.disconnects.every",
                "is 0s; the stream must stay connected for a positive time between disconnects",
            );
        } else {
            check_flap_rate(disconnects, horizon, c);
        }
    }
}

/// Refuses disconnects so frequent that a run could expect more than
/// [`MAX_DISCONNECTS_PER_RUN`] of them: the mean of `every` plus the mean of
/// `down_for` (one disconnect cycle) must be at least
/// `limits.max_virtual_time` / [`MAX_DISCONNECTS_PER_RUN`].
fn check_flap_rate(disconnects: &Spanned<DisconnectSpec>, horizon: Duration, c: &mut Checker<'_>) {
    use crate::duration::format_duration;
    let (line, disconnects) = (disconnects.referenced, &disconnects.value);
    // The stream stays connected at least 1 ms between disconnects.
    let every = disconnects.every.0.mean().max(0.001);
    let down = disconnects.down_for.0.mean().max(0.0);
    let cycle = every + down;
    let expected = horizon.as_secs_f64() / cycle;
    if expected.is_nan() || expected <= MAX_DISCONNECTS_PER_RUN {
        return;
    }
    let least_cycle = horizon.as_secs_f64() / MAX_DISCONNECTS_PER_RUN;
    // Rounded to whole milliseconds and seconds, each on the safe side.
    let least_every = Duration::from_millis(((least_cycle - down).max(0.001) * 1e3).ceil() as u64);
    let longest_run = Duration::from_secs((cycle * MAX_DISCONNECTS_PER_RUN).floor() as u64);
    c.at(
        Some(line),
        "broker.stream.disconnects.every",
        format!(
            "averages {} between disconnects, each down for {} on average: about {expected:.0} \
             disconnects within `limits.max_virtual_time` ({}), and a run may expect at most \
             {MAX_DISCONNECTS_PER_RUN:.0}; make `every` average at least {}, or lower \
             `limits.max_virtual_time` to at most {}",
            format_duration(Duration::from_secs_f64(every)),
            format_duration(Duration::from_secs_f64(down)),
            format_duration(horizon),
            format_duration(least_every),
            format_duration(longest_run),
        ),
    );
}
