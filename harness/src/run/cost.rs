//! What a run will cost, estimated before it starts, so that a run that
//! would take hours of CPU or more memory than the machine has is refused
//! with the reason and a way out, instead of being killed by the OS or
//! left running. The entry point is [`admit`]; [`estimate`] gives the
//! figures. (The engine's call budget, the calls it may make to the broker
//! in a window, is another thing: see `Scenario::call_budget`.)
//!
//! Memory per order was measured on the release build: 200,000 orders
//! spaced 1 ms apart peak at about 430 MB (about 2 KB an order for the
//! ledger, outcomes and verdicts); 200,000 at once peak at about 1.8 GB
//! (about 7.5 KB more for each order in flight: its task and its state).

use anyhow::Result;
use fillproof_engine::{PartialFillPolicy, PollContext};

use super::seed::RunSpec;

/// Memory an order holds for the whole run.
pub const BYTES_PER_ORDER: u64 = 2_000;

/// Memory an order holds while it is in flight.
pub const BYTES_PER_ORDER_IN_FLIGHT: u64 = 7_500;

/// The most order reads a run may plan for: about twenty minutes of CPU
/// at the simulator's few microseconds a read.
pub const MAX_READS: u64 = 250_000_000;

/// A run's cost, worst case per seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Orders placed.
    pub orders: u64,
    /// Orders in flight at once, at most.
    pub in_flight: u64,
    /// Peak memory, in bytes.
    pub bytes: u64,
    /// Reads of one order that never fills, before its deadline (counted
    /// up to what the run may plan, so a larger figure is a lower bound).
    pub reads_per_order: u64,
}

/// The cost of one seed of `spec`.
#[must_use]
pub fn estimate(spec: &RunSpec) -> Estimate {
    let scenario = &spec.scenario;
    let orders = u64::from(spec.orders.unwrap_or(scenario.workload.orders.value));
    let extension = match spec.config.partial_fill_policy {
        PartialFillPolicy::KeepWorking { extension } => extension,
        PartialFillPolicy::CancelRemainder => std::time::Duration::ZERO,
    };
    // An order lives through its deadline and, at worst, the post-cancel
    // reads after it.
    let lifetime = (spec.config.timeout + extension).as_secs_f64() + 60.0;
    let gap = scenario
        .workload
        .arrival
        .as_ref()
        .map_or(0.0, |arrival| arrival.0.mean());
    let in_flight = if gap > 0.0 {
        // Saturating float-to-int conversion: huge ratios cap at orders.
        ((lifetime / gap).ceil() as u64)
            .saturating_add(1)
            .min(orders)
    } else {
        orders
    };
    let bytes = orders
        .saturating_mul(BYTES_PER_ORDER)
        .saturating_add(in_flight.saturating_mul(BYTES_PER_ORDER_IN_FLIGHT));
    let read_cap = MAX_READS / orders.max(1) + 1;
    Estimate {
        orders,
        in_flight,
        bytes,
        reads_per_order: reads_before_deadline(spec, read_cap),
    }
}

/// The polling loop's reads of an order that never changes, counted by
/// running its strategy over the deadline; stops counting past `cap`.
fn reads_before_deadline(spec: &RunSpec, cap: u64) -> u64 {
    let timeout = spec.config.timeout;
    let mut strategy = spec.config.polling.build();
    let mut elapsed = std::time::Duration::ZERO;
    let mut reads = 0u64;
    while elapsed < timeout && reads <= cap {
        let polls_done = u32::try_from(reads).unwrap_or(u32::MAX);
        elapsed += strategy.next_interval(PollContext {
            polls_done,
            elapsed,
            remaining: timeout - elapsed,
            polls_since_change: polls_done,
        });
        reads += 1;
    }
    reads
}

/// Memory the machine has available, when it says (Linux).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Refuses a run of `seeds` seeds, `jobs` at a time, that would plan more
/// than [`MAX_READS`] reads or hold more memory than the machine has.
///
/// # Errors
/// The reason, with the figures and what to change.
pub fn admit(spec: &RunSpec, seeds: usize, jobs: usize) -> Result<()> {
    let cost = estimate(spec);
    let seeds = seeds as u64;
    let reads = cost
        .reads_per_order
        .saturating_mul(cost.orders)
        .saturating_mul(seeds);
    if reads > MAX_READS {
        anyhow::bail!(
            "{}: this run could make more than {MAX_READS} order reads, the most a run may plan ({} orders x {seeds} seeds x at least {} reads each of an order that never fills before its {} deadline); shorten engine.timeout, poll less often (a larger polling interval or cap), or run fewer orders or seeds",
            spec.scenario.name,
            cost.orders,
            cost.reads_per_order,
            fillproof_simulator::format_duration(spec.config.timeout),
        );
    }
    let at_once = seeds.min(jobs.max(1) as u64);
    let bytes = cost.bytes.saturating_mul(at_once);
    if let Some(available) = available_memory() {
        if bytes > available / 10 * 9 {
            anyhow::bail!(
                "{}: this run would hold about {} ({} orders, up to {} in flight at once, {at_once} seed(s) at a time) but this machine has {} available; space the orders out with workload.arrival, run fewer with --orders, or fewer seeds at once with --jobs",
                spec.scenario.name,
                gigabytes(bytes),
                cost.orders,
                cost.in_flight,
                gigabytes(available),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fillproof_simulator::Scenario;

    use super::*;

    fn spec(body: &str) -> RunSpec {
        let yaml = format!(
            "version: 1\nname: t\nworkload:\n  orders: 1000\n  symbols: [SPY]\n  qty: 1\n  reference_price: {{SPY: \"10\"}}\n{body}"
        );
        let scenario = Scenario::parse(yaml.as_bytes(), "t.yaml", None).expect("loads");
        RunSpec::from_scenario(Arc::new(scenario), 1).expect("spec")
    }

    /// Reads are counted by running the strategy: 60 s of the default
    /// linear polling (500 ms, +100 ms, up to 2 s) is 36 reads.
    #[test]
    fn reads_follow_the_strategy() {
        let cost = estimate(&spec(""));
        assert_eq!(cost.reads_per_order, 36);
        let cost = estimate(&spec(
            "engine:\n  polling: {strategy: fixed, interval: 100ms}\n",
        ));
        assert_eq!(cost.reads_per_order, 600);
    }

    /// Orders spaced out are in flight a lifetime's worth at a time; with
    /// no spacing all of them are.
    #[test]
    fn in_flight_follows_the_arrival_gap() {
        assert_eq!(estimate(&spec("")).in_flight, 1000);
        // 60 s deadline + 60 s after it, one order a second.
        let spaced = estimate(&spec("  arrival: {fixed: 1s}\n"));
        assert_eq!(spaced.in_flight, 121);
        assert_eq!(
            spaced.bytes,
            1000 * BYTES_PER_ORDER + 121 * BYTES_PER_ORDER_IN_FLIGHT
        );
    }

    /// A run planning too many reads is refused; the same orders with a
    /// sane deadline are admitted.
    #[test]
    fn read_plan_is_bounded() {
        let heavy = spec("engine:\n  timeout: 24h\n  polling: {strategy: fixed, interval: 10ms}\n");
        let error = admit(&heavy, 1, 1).expect_err("refused");
        assert!(error.to_string().contains("order reads"), "{error}");
        admit(&spec(""), 1, 1).expect("admitted");
    }
}
