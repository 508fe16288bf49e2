//! The `crashes:` section: when the engine under test crashes, how long it
//! stays down, and what its journal keeps.
//!
//! A crash drops every task of the engine at once (calls in flight still
//! reach the broker); after the downtime a fresh engine recovers from the
//! journal and the run goes on with the signals still to come. Crashes
//! come at the instants listed (`at`), and at random ones drawn from the
//! seed (`rate_per_minute`), each from its own stream.

use std::time::Duration;

use fillproof_engine::derive_rng;
use rand::Rng;
use serde::Deserialize;

use super::check::Checker;
use super::values::Probability;
use crate::distribution::DurationDist;
use crate::duration::Dur;

/// `crashes:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashesSpec {
    /// Crashes drawn from the seed, this many per virtual minute on
    /// average (exponential gaps); 0 to 60, default 0.
    #[serde(default)]
    pub rate_per_minute: f64,
    /// Crashes at these instants, virtual time since the run began (the
    /// timeline's `{at: 90s, event: crash}` join them).
    #[serde(default)]
    pub at: Vec<Dur>,
    /// How long the engine stays down after each; default 1 s.
    #[serde(default = "default_downtime")]
    pub downtime: DurationDist,
    /// The chance a crash interrupts a journal write, leaving a torn
    /// record at its end (the engine must detect it and leave it out).
    #[serde(default)]
    pub torn: Probability,
    /// How the journal reaches the disk, which says what a crash loses:
    /// `every_record` (the default: nothing written is lost) or
    /// `{batched: N}` (synced every N records and before every submit: a
    /// crash loses the records written since the last sync).
    #[serde(default)]
    pub journal: JournalSync,
}

/// When the journal is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalSync {
    /// Every record.
    #[default]
    EveryRecord,
    /// Every N records, and before every submit.
    Batched(u32),
}

impl super::Scenario {
    /// How the engine under test crashes: the `crashes:` section, or, for
    /// a timeline with `crash` events and no section, its defaults (down
    /// 1 s, every record synced, no torn write); `None` when nothing
    /// crashes it.
    #[must_use]
    pub fn crash_settings(&self) -> Option<CrashesSpec> {
        let crashes_here = self
            .timeline
            .iter()
            .any(|e| e.event.value == super::TimelineKind::Crash);
        let mut settings = self.crashes.clone().or_else(|| {
            crashes_here.then(|| CrashesSpec {
                rate_per_minute: 0.0,
                at: Vec::new(),
                downtime: default_downtime(),
                torn: Probability(0.0),
                journal: JournalSync::EveryRecord,
            })
        })?;
        // The timeline's crashes at an instant join the section's.
        settings.at.extend(
            self.timeline
                .iter()
                .filter(|e| e.is_instant_crash())
                .filter_map(|e| e.at),
        );
        Some(settings)
    }
}

/// One crash of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashAt {
    /// When, virtual time since the run began.
    pub at: Duration,
    /// How long the engine stays down.
    pub downtime: Duration,
    /// Whether the crash interrupts a journal write.
    pub torn: bool,
}

impl CrashesSpec {
    /// The downtime and torn write of the `n`-th crash at a scripted
    /// crash point, each from a stream of its own.
    #[must_use]
    pub fn at_point(&self, seed: u64, n: u64, at: Duration) -> CrashAt {
        let mut rng = derive_rng(seed, "crash-point", n);
        CrashAt {
            at,
            downtime: self.downtime.sample(&mut rng),
            torn: rng.random::<f64>() < self.torn.0,
        }
    }

    /// The run's crashes before `until`, in time order: the instants
    /// listed and those drawn from `seed` (exponential gaps at the rate),
    /// each with its downtime and torn write drawn from a stream of its
    /// own, so the drawn instants never move another draw. A crash that
    /// comes while the engine is still down from the one before is
    /// dropped: the engine is not running to crash.
    #[must_use]
    pub fn plan(&self, seed: u64, until: Duration) -> Vec<CrashAt> {
        let mut instants: Vec<Duration> = self.at.iter().map(|d| d.0).collect();
        if self.rate_per_minute > 0.0 {
            let mut rng = derive_rng(seed, "crash-instants", 0);
            let mean = 60.0 / self.rate_per_minute;
            let mut t = 0.0f64;
            loop {
                let u: f64 = rng.random::<f64>();
                t += -mean * (1.0 - u).ln();
                if !t.is_finite() || t >= until.as_secs_f64() {
                    break;
                }
                instants.push(Duration::from_secs_f64(t));
            }
        }
        instants.retain(|at| *at < until);
        instants.sort();
        let mut crashes: Vec<CrashAt> = Vec::with_capacity(instants.len());
        for (n, at) in instants.into_iter().enumerate() {
            if crashes
                .last()
                .is_some_and(|last| at <= last.at + last.downtime)
            {
                continue;
            }
            let mut rng = derive_rng(seed, "crash", n as u64);
            crashes.push(CrashAt {
                at,
                downtime: self.downtime.sample(&mut rng),
                torn: rng.random::<f64>() < self.torn.0,
            });
        }
        crashes
    }
}

/// The longest downtime a crash may draw, in seconds: an hour.
const MAX_DOWNTIME_S: f64 = 3_600.0;

fn default_downtime() -> DurationDist {
    DurationDist::fixed(std::time::Duration::from_secs(1))
}

/// Checks the section: a rate in range, a batch size in range, and at
/// least one crash asked for (here or in the timeline).
pub(super) fn check(scenario: &super::Scenario, c: &mut Checker<'_>) {
    let Some(crashes) = scenario.crashes.as_ref() else {
        return;
    };
    let in_timeline = scenario
        .timeline
        .iter()
        .any(|e| e.event.value == super::TimelineKind::Crash);
    if !(crashes.rate_per_minute.is_finite() && (0.0..=60.0).contains(&crashes.rate_per_minute)) {
        c.at(
            None,
            "crashes.rate_per_minute",
            format!("is {}; allowed: 0 to 60", crashes.rate_per_minute),
        );
    }
    if let JournalSync::Batched(n) = crashes.journal
        && !(1..=10_000).contains(&n)
    {
        c.at(
            None,
            "crashes.journal.batched",
            format!("is {n}; allowed: 1 to 10000"),
        );
    }
    if crashes
        .downtime
        .0
        .upper_bound()
        .is_some_and(|most| most > MAX_DOWNTIME_S)
    {
        c.at(
            None,
            "crashes.downtime",
            format!("can be longer than an hour; allowed: at most {MAX_DOWNTIME_S} s"),
        );
    }
    if crashes.rate_per_minute == 0.0 && crashes.at.is_empty() && !in_timeline {
        c.at(
            None,
            "crashes",
            "asks for no crash; give `rate_per_minute` (crashes drawn from the seed) or `at` \
             (instants), script crashes in the timeline, or remove the section",
        );
    }
}
