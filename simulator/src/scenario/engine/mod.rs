//! The `engine:` section: how the engine under test is set up, its checks,
//! and its one translation into the engine's configuration.
//!
//! Entry points: [`Scenario::detection_config`],
//! [`Scenario::executor_config`] (and `executor_config_with`),
//! [`Scenario::call_budget`], [`polling_config`]; the section's check for
//! the scenario's `check.rs`. `polling.rs` holds the polling strategies.
//! Imports the engine's configuration types and the scenario's shared
//! values; the harness and serve take the engine's configuration from
//! here.

mod polling;

use std::fmt;

use fillproof_engine::{
    Commission, Decimal, ExecutorConfig, FillDetectionConfig, PartialFillPolicy, RateLimit,
    RiskLimits, ValidationConfig,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::Scenario;
use super::check::{Checker, check_amount};
use super::values::{Amount, Price, RateLimitSpec, Weight};
use crate::duration::Dur;

use polling::check_polling;
pub use polling::{PollingSpec, polling_config};

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
    /// The fillproof engine keeping its state only in memory: after a
    /// crash it reads no journal, and sends again, under new ids, the
    /// orders it had not concluded; kept to show the orphans and
    /// duplicates a restart costs without a journal.
    MemoryOnly,
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
            Self::MemoryOnly => "memory-only",
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
    /// Slippage control: cancel a working order when the market moves
    /// this many basis points against it from the signal's price; default
    /// off.
    #[serde(default)]
    pub max_slippage_bps: Option<Weight>,
    /// How often slippage control reads the quote; default 1s.
    #[serde(default)]
    pub slippage_check_every: Option<Dur>,
    /// A limit price must be within this many percent of the reference
    /// price; default 5.
    #[serde(default)]
    pub price_band_pct: Option<Weight>,
    /// How long a bracket's exits are watched once its entry filled;
    /// default a day.
    #[serde(default)]
    pub exits_watched_for: Option<Dur>,
    /// How long the other exit may stay working after one filled before
    /// the engine cancels it; default 5s.
    #[serde(default)]
    pub exit_grace: Option<Dur>,
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

impl Scenario {
    /// The fill detector configuration the scenario's `engine:` section
    /// describes, on top of the engine's defaults.
    ///
    /// # Errors
    /// What is wrong with the polling section or the resulting configuration.
    pub fn detection_config(&self) -> Result<FillDetectionConfig, String> {
        let spec = &self.engine;
        let mut config = FillDetectionConfig::default();
        if let Some(timeout) = &spec.timeout {
            config.timeout = timeout.value.0;
        }
        if let Some(horizon) = &spec.reconcile_horizon {
            config.reconcile_horizon = horizon.value.0;
        }
        if let Some(polling) = &spec.polling {
            config.polling = polling_config(&polling.value)?;
        }
        if let Some(final_verification) = spec.final_verification {
            config.final_verification = final_verification;
        }
        if let Some(max_retries) = spec.max_retries {
            config.retry.max_retries = max_retries;
        }
        if let Some(policy) = spec.partial_fills {
            config.partial_fill_policy = match policy {
                PartialPolicySpec::CancelRemainder => PartialFillPolicy::CancelRemainder,
                PartialPolicySpec::KeepWorking => PartialFillPolicy::KeepWorking {
                    extension: config.timeout,
                },
            };
        }
        // The field first, as the scenario spells it under `engine:`.
        config
            .validate()
            .map_err(|error| format!("{} {}", error.field, error.problem))?;
        Ok(config)
    }

    /// The executor configuration the scenario's `engine:` section
    /// describes: its fill detection configuration
    /// ([`Scenario::detection_config`]), client-side rate limit
    /// ([`Scenario::call_budget`]), risk limits and commission, and the
    /// broker account's buying power. Risk limits the scenario leaves out
    /// are off: the harness measures fill detection unless a scenario asks
    /// for limits.
    ///
    /// # Errors
    /// What is wrong with the detection configuration, or a limit out of
    /// range.
    pub fn executor_config(&self) -> Result<ExecutorConfig, String> {
        self.executor_config_with(self.detection_config()?)
    }

    /// As [`Scenario::executor_config`], with the fill detection
    /// configuration given (a run may override the scenario's polling).
    ///
    /// # Errors
    /// A limit out of range, its field first as the scenario spells it
    /// (`engine.rate_limit...`).
    pub fn executor_config_with(
        &self,
        detection: FillDetectionConfig,
    ) -> Result<ExecutorConfig, String> {
        let engine = &self.engine;
        let rate_limit = self.call_budget();
        if let Some(limit) = &rate_limit {
            limit.validate().map_err(|e| format!("engine.{e}"))?;
        }
        let defaults = ExecutorConfig::default();
        Ok(ExecutorConfig {
            detection,
            validation: engine.validation_config(),
            risk: engine.risk_limits(),
            commission: engine.commission_charged(),
            rate_limit,
            call_timeout: engine
                .call_timeout
                .as_ref()
                .map_or(defaults.call_timeout, |t| t.value.0),
            submit_max_wait: engine
                .shed_after
                .as_ref()
                .map_or(defaults.submit_max_wait, |t| t.value.0),
            buying_power: Some(self.buying_power()),
            slippage_guard: engine
                .max_slippage_bps
                .map(|bps| fillproof_engine::SlippageGuard {
                    max_bps: Decimal::from_f64_retain(bps.0)
                        .unwrap_or(Decimal::MAX)
                        .round_dp(2),
                    every: engine
                        .slippage_check_every
                        .map_or(std::time::Duration::from_secs(1), |every| every.0),
                }),
            exits_watched_for: engine
                .exits_watched_for
                .map_or(defaults.exits_watched_for, |d| d.0),
            exit_grace: engine.exit_grace.map_or(defaults.exit_grace, |d| d.0),
        })
    }

    /// The call budget the scenario's engine runs under: the engine's own
    /// default (180 a minute) unless the scenario sets one, or none when it
    /// says `rate_limit: none`, as a bot in production would run.
    #[must_use]
    pub fn call_budget(&self) -> Option<RateLimit> {
        match &self.engine.rate_limit {
            None => ExecutorConfig::default().rate_limit,
            Some(budget) => budget.limit().map(|r| RateLimit {
                requests: r.requests.value,
                per: r.per.0,
            }),
        }
    }
}

impl EngineSpec {
    /// The risk limits set; each left out is off.
    fn risk_limits(&self) -> RiskLimits {
        self.risk.as_ref().map_or(
            RiskLimits {
                max_position: None,
                daily_loss_limit: None,
                max_orders_per_minute: u32::MAX,
            },
            |r| RiskLimits {
                max_position: r.max_position.map(Decimal::from),
                daily_loss_limit: r.daily_loss_limit.map(|p| p.0),
                max_orders_per_minute: r.max_orders_per_minute.unwrap_or(u32::MAX),
            },
        )
    }

    /// The commission set; none when left out.
    fn commission_charged(&self) -> Commission {
        self.commission
            .as_ref()
            .map_or(Commission::default(), |c| Commission {
                per_order: c.per_order.map_or(Decimal::ZERO, |p| p.0),
                per_share: c.per_share.map_or(Decimal::ZERO, |p| p.0),
            })
    }

    /// The pre-trade validation set: the price band, or the engine's.
    fn validation_config(&self) -> ValidationConfig {
        ValidationConfig {
            price_band_pct: self
                .price_band_pct
                .and_then(|w| Decimal::try_from(w.0).ok())
                .unwrap_or_else(|| ValidationConfig::default().price_band_pct),
        }
    }
}

/// Checks the `engine:` section: its polling strategy, the waits it gives
/// the engine, the detection configuration it makes, its call timeout and
/// its call budget.
pub(super) fn check(scenario: &Scenario, c: &mut Checker<'_>) {
    check_polling(scenario, c);
    warn_waits_past_deadline(scenario, c);
    check_detection_config(scenario, c);
    check_call_timeout(&scenario.engine, c);
    let budget = scenario.engine.rate_limit.as_ref();
    if let Some(limit) = budget.and_then(EngineRateLimit::limit) {
        limit.check("engine", c);
    }
}

/// Money the engine is given within its bounds (see [`check_amount`]).
pub(super) fn check_bounds(engine: &EngineSpec, c: &mut Checker<'_>) {
    let loss_limit = engine.risk.as_ref().and_then(|r| r.daily_loss_limit);
    check_amount("engine.risk.daily_loss_limit", loss_limit.map(|p| p.0), c);
    let commission = engine.commission.as_ref();
    let per_order = commission.and_then(|c| c.per_order).map(|p| p.0);
    check_amount("engine.commission.per_order", per_order, c);
    let per_share = commission.and_then(|c| c.per_share).map(|p| p.0);
    check_amount("engine.commission.per_share", per_share, c);
}

/// Refuses what the engine's own validation of the detection
/// configuration refuses, on the line of the setting at fault; a polling
/// section already refused is not reported again.
fn check_detection_config(scenario: &Scenario, c: &mut Checker<'_>) {
    let Err(message) = scenario.detection_config() else {
        return;
    };
    let engine = &scenario.engine;
    if engine
        .polling
        .as_ref()
        .is_none_or(|p| polling_config(&p.value).is_ok())
    {
        // The line of the setting at fault, when the scenario has it.
        let line = [
            ("polling.", engine.polling.as_ref().map(|p| p.referenced)),
            ("timeout", engine.timeout.as_ref().map(|t| t.referenced)),
            (
                "reconcile_horizon",
                engine.reconcile_horizon.as_ref().map(|t| t.referenced),
            ),
            (
                "partial_fill_policy",
                engine.timeout.as_ref().map(|t| t.referenced),
            ),
        ]
        .into_iter()
        .find(|(field, _)| message.starts_with(field))
        .and_then(|(_, line)| line);
        let (field, problem) = message.split_once(' ').unwrap_or(("", &message));
        c.at(line, format!("engine.{field}"), problem);
    }
}

/// Refuses a call timeout that is zero or longer than the submit deadline.
fn check_call_timeout(engine: &EngineSpec, c: &mut Checker<'_>) {
    if let Some(limit) = &engine.call_timeout {
        let submit = FillDetectionConfig::default().submit_timeout;
        if limit.value.0.is_zero() || limit.value.0 > submit {
            c.at(
                Some(limit.referenced),
                "engine.call_timeout",
                format!(
                    "is {}; it must be positive and at most the submit deadline ({})",
                    crate::duration::format_duration(limit.value.0),
                    crate::duration::format_duration(submit)
                ),
            );
        }
    }
}

/// Warns where a wait the engine is given is longer than the order's
/// deadline (`engine.timeout`), so that it can never take effect as meant.
fn warn_waits_past_deadline(scenario: &Scenario, c: &mut Checker<'_>) {
    use crate::duration::format_duration;
    let engine = &scenario.engine;
    let deadline = engine
        .timeout
        .as_ref()
        .map_or_else(|| FillDetectionConfig::default().timeout, |t| t.value.0);
    if let Some(shed_after) = engine.shed_after.as_ref().filter(|s| s.value.0 > deadline) {
        c.warn(
            Some(shed_after.referenced),
            "engine.shed_after",
            format!(
                "is {}, longer than the order's deadline (`engine.timeout`, {}): a submission \
                 may wait for a turn longer than the order is watched once placed; make it at \
                 most the deadline",
                format_duration(shed_after.value.0),
                format_duration(deadline)
            ),
        );
    }
    let safety = engine
        .polling
        .as_ref()
        .filter(|p| p.value.strategy == "hybrid")
        .and_then(|p| p.value.safety.map(|s| (p.referenced, s.0)))
        .filter(|(_, safety)| *safety > deadline);
    if let Some((line, safety)) = safety {
        c.warn(
            Some(line),
            "engine.polling.safety",
            format!(
                "is {}, longer than the order's deadline (`engine.timeout`, {}): an order the \
                 stream is quiet on gets no safety read before its deadline; make it shorter \
                 than the deadline",
                format_duration(safety),
                format_duration(deadline)
            ),
        );
    }
}
