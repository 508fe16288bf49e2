//! What a merge refuses: shards of different runs, a shard missing or
//! given twice, a shard whose seeds or raw counts no run could have
//! produced, and totals past any number. Each check names the report, the
//! seed and the field.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};

use super::{EXAMPLES, ShardReport};
use crate::cli::Shard;
use crate::measure::metrics::Tally;
use crate::measure::report::{Provenance, SeedSummary, VERSION};

/// `other` is a shard of the same run as `first`: same fillproof, same
/// scenario contents, same workload, setup and seeds, the same count of
/// shards.
pub(super) fn same_run(first: &ShardReport, other: &ShardReport, what: &str) -> Result<()> {
    type Field = (&'static str, fn(&ShardReport, &Provenance, Shard) -> String);
    const FIELDS: [Field; 10] = [
        ("provenance.fillproof_version", |_, p, _| {
            p.fillproof_version.clone()
        }),
        ("provenance.scenario_sha256", |_, p, _| {
            p.scenario_sha256.clone()
        }),
        ("provenance.orders_override (--orders)", |_, p, _| {
            p.orders_override
                .map_or_else(|| "none".to_owned(), |n| n.to_string())
        }),
        ("provenance.workload_orders", |_, p, _| {
            p.workload_orders.to_string()
        }),
        ("provenance.swarm", |_, p, _| p.swarm.to_string()),
        ("provenance.first_seed", |_, p, _| p.first_seed.to_string()),
        ("provenance.seeds", |_, p, _| p.seeds.to_string()),
        ("the shard count N of provenance.shard K/N", |_, _, s| {
            s.count.to_string()
        }),
        ("replay_flags (the engine setup's overrides)", |r, _, _| {
            format!("{:?}", r.replay_flags)
        }),
        ("expectations_skipped", |r, _, _| {
            format!("{:?}", r.expectations_skipped)
        }),
    ];
    let (p, s) = first.slice()?;
    let (q, t) = other.slice()?;
    for (field, value) in FIELDS {
        let (a, b) = (value(first, p, s), value(other, q, t));
        if a != b {
            bail!(
                "report {}: {field} is {b}, and report {}, a shard of the same scenario, engine and strategy, {what}, has {a}: shards merge only when they are slices of one run; rerun the odd shard like the others",
                other.source,
                first.source
            );
        }
    }
    Ok(())
}

/// Why the shards of a group are not each shard once: the message, and
/// the shard missing, when one is.
pub(super) struct NotEveryShard {
    pub(super) message: String,
    pub(super) shard: Option<Shard>,
}

/// Each shard K of N is given exactly once.
pub(super) fn every_shard_once(shards: &[ShardReport], what: &str) -> Result<(), NotEveryShard> {
    let mut given: BTreeMap<u32, &str> = BTreeMap::new();
    let mut count = 1;
    for shard in shards {
        let (_, slice) = shard.slice().map_err(|error| NotEveryShard {
            message: format!("{error:#}"),
            shard: None,
        })?;
        count = slice.count;
        if let Some(earlier) = given.insert(slice.index, &shard.source) {
            return Err(NotEveryShard {
                message: format!(
                    "shard {slice} of {what} is given twice, in report {earlier} and report {}: merge each shard once",
                    shard.source
                ),
                shard: None,
            });
        }
    }
    if given.len() as u64 == u64::from(count) {
        return Ok(());
    }
    let missing = Shard {
        index: given
            .keys()
            .zip(0..)
            .find(|(k, i)| *k != i)
            .map_or(given.len() as u32, |(_, i)| i),
        count,
    };
    let have: Vec<String> = given
        .keys()
        .take(8)
        .map(|k| format!("{}/{count}", k + 1))
        .collect();
    Err(NotEveryShard {
        message: format!(
            "shard {missing} of {what} is missing ({} of {count} shards missing; given {}{}): merged, the shards given would stand for the whole run; merge every shard",
            u64::from(count) - given.len() as u64,
            have.join(", "),
            if given.len() > 8 { ", ..." } else { "" }
        ),
        shard: Some(missing),
    })
}

/// A shard's own consistency: it says what run it is a slice of, by this
/// fillproof, and each seed is one of its slice's, once, with counts a run
/// could have made.
pub(super) fn check_shard(shard: &ShardReport) -> Result<()> {
    let (provenance, slice) = shard.slice()?;
    let source = &shard.source;
    if provenance.fillproof_version != VERSION {
        bail!(
            "report {source}: provenance.fillproof_version is {}, and this merge is fillproof {VERSION}: the merge recomputes the metrics and judges the thresholds, so it must be the fillproof that ran the shards",
            provenance.fillproof_version
        );
    }
    if !(shard.wall_ms.is_finite() && shard.wall_ms >= 0.0) {
        bail!(
            "report {source}: wall_ms is {}; a time is never negative",
            shard.wall_ms
        );
    }
    let seeds = u64::from(provenance.seeds);
    if seeds == 0 || provenance.first_seed.checked_add(seeds - 1).is_none() {
        bail!(
            "report {source}: provenance.seeds {} from provenance.first_seed {} is no list of seeds (at least one, never past {})",
            provenance.seeds,
            provenance.first_seed,
            u64::MAX
        );
    }
    let mut held: Vec<u64> = Vec::with_capacity(shard.seed_runs.len());
    for run in &shard.seed_runs {
        in_slice(run.seed, provenance, slice)
            .and_then(|()| possible_tally(run, provenance.workload_orders))
            .map_err(|why| anyhow!("report {source}: seed {}: {why}", run.seed))?;
        held.push(run.seed);
    }
    held.sort_unstable();
    if let Some(pair) = held.windows(2).find(|w| w[0] == w[1]) {
        bail!(
            "report {source}: seed {} is in the shard twice; a shard runs each of its seeds once",
            pair[0]
        );
    }
    let index = u64::from(slice.index);
    let count = u64::from(slice.count);
    let expected = if seeds > index {
        (seeds - index).div_ceil(count)
    } else {
        0
    };
    if held.len() as u64 != expected {
        // Seeds are all of the slice's, once each: so some are missing.
        let missing = (0..)
            .map(|n| provenance.first_seed + index + n * count)
            .find(|seed| held.binary_search(seed).is_err())
            .unwrap_or(provenance.first_seed);
        bail!(
            "report {source}: seed_runs holds {} seeds, and shard {slice} of {seeds} seeds from {} runs {expected}: seed {missing} is missing",
            held.len(),
            provenance.first_seed
        );
    }
    Ok(())
}

/// `seed` is one of the run's, in shard `slice`'s share: every N-th seed
/// from the K-th.
fn in_slice(seed: u64, provenance: &Provenance, slice: Shard) -> Result<(), String> {
    let index = seed
        .checked_sub(provenance.first_seed)
        .filter(|i| *i < u64::from(provenance.seeds))
        .ok_or_else(|| {
            format!(
                "not one of the run's seeds ({} seeds from {}, as provenance says)",
                provenance.seeds, provenance.first_seed
            )
        })?;
    if index % u64::from(slice.count) != u64::from(slice.index) {
        return Err(format!(
            "the run's seed number {} (from 1), which shard {slice} does not run: shard K/N runs every N-th seed from the K-th",
            index + 1
        ));
    }
    Ok(())
}

/// The identities every seed's tally satisfies, as `metrics::Tally::of`
/// counts it: each count is of the workload's orders the run started, and
/// these add up. A tally that breaks one was not made by a run.
fn possible_tally(run: &SeedSummary, workload_orders: u64) -> Result<(), String> {
    times(run)?;
    order_counts(&run.tally, workload_orders)?;
    taken_and_detected(&run.tally)?;
    examples_match(run)
}

/// Each count of orders is of the orders the run started, which with
/// those left unrun make the workload; detected, missed and invented
/// fills are verdicts on filled and unfilled orders that exclude each
/// other.
fn order_counts(t: &Tally, workload_orders: u64) -> Result<(), String> {
    let orders = t.orders;
    if orders.checked_add(t.orders_unrun) != Some(workload_orders) {
        return Err(format!(
            "tally.orders {orders} and tally.orders_unrun {} do not add up to the workload's {workload_orders} orders (provenance.workload_orders)",
            t.orders_unrun
        ));
    }
    let at_most = |field: &str, value: u64, bound: u64, bound_name: &str| {
        if value > bound {
            Err(format!(
                "tally.{field} is {value}, more than {bound_name} {bound}, which is impossible"
            ))
        } else {
            Ok(())
        }
    };
    at_most("filled_orders", t.filled_orders, orders, "tally.orders")?;
    at_most(
        "detected",
        t.detected,
        t.filled_orders,
        "tally.filled_orders",
    )?;
    // An order is detected or missed, detected or a false positive, never
    // both.
    let undetected = orders - t.detected;
    at_most(
        "missed_fills",
        t.missed_fills,
        undetected,
        "the orders not detected (tally.orders - tally.detected)",
    )?;
    at_most(
        "false_positives",
        t.false_positives,
        undetected,
        "the orders not detected (tally.orders - tally.detected)",
    )?;
    // A price is judged on a filled order with a quantity and a price
    // claimed; a mismatch is one judged.
    at_most(
        "price_checked",
        t.price_checked,
        t.filled_orders,
        "tally.filled_orders",
    )?;
    at_most(
        "price_mismatches",
        t.price_mismatches,
        t.price_checked,
        "tally.price_checked",
    )?;
    for (field, value) in [
        ("timed_out", t.timed_out),
        ("unresolved", t.unresolved),
        ("abandoned_orders", t.abandoned_orders),
        ("sent", t.sent),
        ("rate_limit_errors_surfaced", t.rate_limit_errors_surfaced),
        ("engine_panics", t.engine_panics),
    ] {
        at_most(field, value, orders, "tally.orders")?;
    }
    Ok(())
}

/// Each order is taken for execution or refused before it; only a taken
/// one can go unplaced; each detected fill has one latency sample; each
/// broker order that filled has at most one slippage sample.
fn taken_and_detected(t: &Tally) -> Result<(), String> {
    let orders = t.orders;
    if t.taken.checked_add(t.risk_rejections) != Some(orders) {
        return Err(format!(
            "tally.taken {} and tally.risk_rejections {} do not add up to tally.orders {orders}: each order is taken or refused",
            t.taken, t.risk_rejections
        ));
    }
    let by = &t.not_placed;
    let not_placed = [
        by.rate_limit,
        by.outage,
        by.rejected_by_broker,
        by.shed,
        by.gave_up,
    ]
    .into_iter()
    .try_fold(0u64, u64::checked_add);
    if not_placed.is_none_or(|n| n > t.taken) {
        return Err(format!(
            "tally.not_placed adds up to more than tally.taken {}: only an order taken can go unplaced",
            t.taken
        ));
    }
    if t.latencies_ms.len() as u64 != t.detected {
        return Err(format!(
            "tally.latencies_ms holds {} samples, and tally.detected is {}: each detected fill has one latency",
            t.latencies_ms.len(),
            t.detected
        ));
    }
    // The broker orders that can have filled: a filled intent's, its
    // duplicates among them, and those of no intent.
    let fillable = [t.filled_orders, t.duplicate_orders, t.unknown_broker_orders]
        .into_iter()
        .try_fold(0u64, u64::checked_add);
    if fillable.is_some_and(|n| t.slippage_bps.len() as u64 > n) {
        return Err(format!(
            "tally.slippage_bps holds {} samples, more than the broker orders that can have filled (tally.filled_orders {} + tally.duplicate_orders {} + tally.unknown_broker_orders {}): each filled broker order has one",
            t.slippage_bps.len(),
            t.filled_orders,
            t.duplicate_orders,
            t.unknown_broker_orders
        ));
    }
    Ok(())
}

/// Times are finite and never negative; a detection happens between the
/// fill and the end of the seed's run.
fn times(run: &SeedSummary) -> Result<(), String> {
    let t = &run.tally;
    let end_ms = run.virtual_seconds * 1000.0;
    if !(run.virtual_seconds.is_finite() && run.virtual_seconds >= 0.0) {
        return Err(format!(
            "virtual_seconds is {}; a time is never negative",
            run.virtual_seconds
        ));
    }
    if let Some(bad) = t
        .latencies_ms
        .iter()
        .find(|l| !(l.is_finite() && **l >= 0.0 && **l <= end_ms))
    {
        return Err(format!(
            "tally.latencies_ms holds {bad}, outside 0 to the run's {end_ms} ms: a fill is detected after it happens and before the run ends"
        ));
    }
    if let Some(bad) = t
        .queue_waits_ms
        .iter()
        .flatten()
        .find(|w| !(w.is_finite() && **w >= 0.0))
    {
        return Err(format!(
            "tally.queue_waits_ms holds {bad}; a time is never negative"
        ));
    }
    Ok(())
}

/// Each kind of example names the seed's first offending orders: as many
/// as its count, up to ten, each of this seed.
fn examples_match(run: &SeedSummary) -> Result<(), String> {
    let t = &run.tally;
    let counts = [
        ("missed_fills", t.missed_fills),
        ("false_positives", t.false_positives),
        ("unresolved", t.unresolved),
        ("abandoned_orders", t.abandoned_orders),
        ("engine_panics", t.engine_panics),
    ];
    let prefix = format!("{}:", run.seed);
    let named = t
        .examples
        .iter()
        .enumerate()
        .map(|(i, examples)| (format!("examples[{i}]"), examples))
        .chain([("price_examples".to_owned(), &t.price_examples)]);
    let counts = counts
        .into_iter()
        .chain([("price_mismatches", t.price_mismatches)]);
    for ((field, count), (list, examples)) in counts.zip(named) {
        if examples.len() as u64 != count.min(EXAMPLES) {
            return Err(format!(
                "tally.{field} is {count}, and tally.{list} names {} orders: a seed names its first {EXAMPLES}",
                examples.len()
            ));
        }
        if let Some(other) = examples.iter().find(|e| !e.starts_with(&prefix)) {
            return Err(format!(
                "tally.{list} names {other:?}, not an order of this seed"
            ));
        }
    }
    Ok(())
}

/// The counts no order bounds add up over the seeds without overflowing,
/// and the times stay finite.
pub(super) fn totals_fit(runs: &[SeedSummary], wall_ms: f64, what: &str) -> Result<()> {
    type Count = (&'static str, fn(&Tally) -> Option<u64>);
    const UNBOUNDED: [Count; 8] = [
        ("duplicate_orders", |t| Some(t.duplicate_orders)),
        ("unknown_broker_orders", |t| Some(t.unknown_broker_orders)),
        ("rate_limited_calls", |t| Some(t.rate_limited_calls)),
        ("consistency_violations", |t| {
            Some(t.consistency_violations.unwrap_or(0))
        }),
        ("pnl_mismatches", |t| Some(t.pnl_mismatches.unwrap_or(0))),
        ("audit_missing", |t| Some(t.audit_missing.unwrap_or(0))),
        ("position_alarms", |t| Some(t.position_alarms.unwrap_or(0))),
        // Every endpoint's calls, so each endpoint's fits too.
        ("calls", |t| {
            t.calls
                .values()
                .iter()
                .try_fold(0u64, |sum, n| sum.checked_add(*n))
        }),
    ];
    for (field, count) in UNBOUNDED {
        let mut total: Option<u64> = Some(0);
        for run in runs {
            total = total
                .zip(count(&run.tally))
                .and_then(|(a, b)| a.checked_add(b));
            if total.is_none() {
                bail!(
                    "seed {} of {what}: tally.{field} is too large to add up over the seeds; no run counts that many",
                    run.seed
                );
            }
        }
    }
    let virtual_seconds: f64 = runs.iter().map(|r| r.virtual_seconds).sum();
    if !(virtual_seconds.is_finite() && wall_ms.is_finite()) {
        bail!("{what}: the shards' times add up past any number; no run takes that long");
    }
    Ok(())
}
