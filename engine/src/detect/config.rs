//! Fill detection configuration, with the original specification's defaults
//! and range checks that name the field at fault.

use std::time::Duration;

use rust_decimal::Decimal;

use crate::detect::polling::PollingConfig;
use crate::port::ConfigError;

fn positive(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(
            field,
            "is zero; it must be a positive duration such as 500ms",
        ));
    }
    Ok(())
}

/// A deadline or horizon: positive and at most [`MAX_DEADLINE`].
fn bounded(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    positive(field, value)?;
    if value > MAX_DEADLINE {
        return Err(ConfigError::new(
            field,
            format!("is {value:?}; it must be at most {MAX_DEADLINE:?} (one day)"),
        ));
    }
    Ok(())
}

/// Retries of a failed broker call.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt; default 3.
    pub max_retries: u32,
    /// Backoff before the first retry, doubled for each one after; default
    /// 500 ms.
    pub backoff_base: Duration,
    /// Cap on one backoff; default 8 s.
    pub backoff_max: Duration,
    /// Fraction of each backoff that is random, in 0..=1: a delay `d` becomes
    /// a uniform draw from `[d * (1 - jitter), d]`. Default 0.5.
    pub jitter: f64,
    /// 429 answers waited out per call without spending a retry: the broker
    /// said it did not act, so waiting as asked is safe. Default 30.
    pub rate_limit_waits: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            jitter: 0.5,
            rate_limit_waits: 30,
        }
    }
}

/// What to do with an order that is partly filled when its deadline comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialFillPolicy {
    /// Cancel the remainder and keep what filled (default).
    CancelRemainder,
    /// Keep monitoring the remainder for up to `extension` past the deadline,
    /// then cancel what is still open.
    KeepWorking {
        /// How long past the deadline to keep working.
        extension: Duration,
    },
}

/// Reads after a cancel, until the broker shows a terminal state. The
/// first read is at once; the waits between reads start at `interval` and
/// grow by half each time up to `max_interval`, because a cancel may take a
/// while to process and a lagging status field longer still to show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostCancelConfig {
    /// Reads at most; default 16 (about 45 s with the default waits).
    pub max_reads: u32,
    /// First wait between reads; default 250 ms.
    pub interval: Duration,
    /// Longest wait between reads; default 4 s.
    pub max_interval: Duration,
}

impl Default for PostCancelConfig {
    fn default() -> Self {
        Self {
            max_reads: 16,
            interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(4),
        }
    }
}

impl PostCancelConfig {
    /// The wait before read number `read` (0 is the first read: no wait).
    #[must_use]
    pub fn wait_before(&self, read: u32) -> Duration {
        if read == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(read.min(64) - 1).unwrap_or(63);
        let scaled = self.interval.as_secs_f64() * 1.5f64.powi(exponent);
        if scaled >= self.max_interval.as_secs_f64() {
            self.max_interval
        } else {
            Duration::from_secs_f64(scaled)
        }
    }
}

/// Reads of the broker's position when checking it against the engine's
/// expectation; brokers' positions can lag their fills.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsistencyConfig {
    /// Reads at most before reporting a discrepancy; default 3.
    pub max_reads: u32,
    /// Wait between reads; default 1 s.
    pub interval: Duration,
}

impl Default for ConsistencyConfig {
    fn default() -> Self {
        Self {
            max_reads: 3,
            interval: Duration::from_secs(1),
        }
    }
}

/// Everything the fill detector needs to know.
///
/// Defaults (the original specification's): 60 s timeout; linear-adaptive
/// polling 500 ms +100 ms per poll up to 2 s; 3 retries with a 500 ms backoff
/// base (doubling, capped at 8 s, half of it jitter); final verification on;
/// cancel the remainder of a partial fill; 16 post-cancel reads, 250 ms
/// apart at first and up to 4 s;
/// slippage flagged above 50 bps adverse; 3 position reads 1 s apart; 60 s
/// to resolve a submission; 10 min past a deadline to learn an order's
/// fate.
///
/// Call [`FillDetectionConfig::validate`] (the detector does on construction)
/// to check ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct FillDetectionConfig {
    /// How long to monitor before the deadline path; default 60 s.
    pub timeout: Duration,
    /// When to read next.
    pub polling: PollingConfig,
    /// Retries of failed reads, cancels and submits.
    pub retry: RetryConfig,
    /// Read once more at the deadline before cancelling; default on.
    pub final_verification: bool,
    /// Partial fills at the deadline.
    pub partial_fill_policy: PartialFillPolicy,
    /// Reads after a cancel.
    pub post_cancel: PostCancelConfig,
    /// Adverse slippage above this many basis points is flagged and logged
    /// at WARN; default 50.
    pub slippage_threshold_bps: Decimal,
    /// Position reads for the consistency check.
    pub consistency: ConsistencyConfig,
    /// How long a submission may take to resolve, counting 429 waits and
    /// lookups after ambiguous failures; default 60 s.
    pub submit_timeout: Duration,
    /// How long past a deadline the engine keeps working to learn an
    /// order's fate when the broker cannot tell it yet: lookups by
    /// `client_order_id` after a submit whose outcome is unknown, reads
    /// while a cancel is pending, reads to price a fill proven by a cancel
    /// refusal. Default 10 min, long enough to ride out a multi-minute
    /// outage.
    pub reconcile_horizon: Duration,
    /// What a "not found" from a lookup by `client_order_id` proves.
    pub absence: AbsenceProof,
}

/// What a lookup by `client_order_id` answering "not found" proves about
/// an order whose submit got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbsenceProof {
    /// Absence is proven only when no submit of the intent can still
    /// arrive: while one sent without an answer (a timeout, a reset) may
    /// still be travelling, lookups go on for up to `reconcile_horizon`
    /// after it was sent, and an order that turns up late is watched and
    /// cancelled. The default.
    #[default]
    AfterInFlightSubmits,
    /// The first "not found" after the retries are spent is taken as
    /// absence: a submit still travelling lands unwatched. The rule of
    /// earlier engines, kept so the harness can show what it costs.
    FirstNotFound,
}

/// The longest deadline, submit deadline or reconcile horizon the engine
/// accepts: one day, the life of a day order.
pub const MAX_DEADLINE: Duration = Duration::from_secs(86_400);

impl Default for FillDetectionConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            polling: PollingConfig::linear_default(),
            retry: RetryConfig::default(),
            final_verification: true,
            partial_fill_policy: PartialFillPolicy::CancelRemainder,
            post_cancel: PostCancelConfig::default(),
            slippage_threshold_bps: Decimal::from(50),
            consistency: ConsistencyConfig::default(),
            submit_timeout: Duration::from_secs(60),
            reconcile_horizon: Duration::from_secs(600),
            absence: AbsenceProof::AfterInFlightSubmits,
        }
    }
}

impl FillDetectionConfig {
    /// Checks every range.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first field out of range, what it is and
    /// what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        bounded("timeout", self.timeout)?;
        self.polling.validate()?;
        positive("retry.backoff_base", self.retry.backoff_base)?;
        if self.retry.backoff_max < self.retry.backoff_base {
            return Err(ConfigError::new(
                "retry.backoff_max",
                format!(
                    "({:?}) is below retry.backoff_base ({:?}); the cap must be at least the base",
                    self.retry.backoff_max, self.retry.backoff_base
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.retry.jitter) {
            return Err(ConfigError::new(
                "retry.jitter",
                format!(
                    "is {}; it must be a fraction between 0 and 1",
                    self.retry.jitter
                ),
            ));
        }
        if self.post_cancel.max_reads == 0 {
            return Err(ConfigError::new(
                "post_cancel.max_reads",
                "is 0; at least one read is needed to see how a cancel ended",
            ));
        }
        positive("post_cancel.interval", self.post_cancel.interval)?;
        if self.post_cancel.max_interval < self.post_cancel.interval {
            return Err(ConfigError::new(
                "post_cancel.max_interval",
                format!(
                    "({:?}) is below post_cancel.interval ({:?}); the cap must be at least the first wait",
                    self.post_cancel.max_interval, self.post_cancel.interval
                ),
            ));
        }
        if let PartialFillPolicy::KeepWorking { extension } = self.partial_fill_policy {
            bounded("partial_fill_policy.extension", extension)?;
        }
        if self.slippage_threshold_bps.is_sign_negative() {
            return Err(ConfigError::new(
                "slippage_threshold_bps",
                format!(
                    "is {}; it must be zero or more basis points",
                    self.slippage_threshold_bps
                ),
            ));
        }
        if self.consistency.max_reads == 0 {
            return Err(ConfigError::new(
                "consistency.max_reads",
                "is 0; at least one read is needed to compare positions",
            ));
        }
        positive("consistency.interval", self.consistency.interval)?;
        bounded("submit_timeout", self.submit_timeout)?;
        bounded("reconcile_horizon", self.reconcile_horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::polling::MIN_POLL_INTERVAL;

    /// Post-cancel waits start at the interval, grow by half and stop at
    /// the cap; the first read does not wait.
    #[test]
    fn post_cancel_waits_grow_to_cap() {
        let p = PostCancelConfig::default();
        let waits: Vec<u64> = (0..6)
            .map(|r| p.wait_before(r).as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![0, 250, 375, 562, 843, 1265]);
        assert_eq!(p.wait_before(40), Duration::from_secs(4));
    }

    /// The defaults are the original specification's and pass validation.
    #[test]
    fn defaults_match_specification_and_validate() {
        let config = FillDetectionConfig::default();
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.polling, PollingConfig::linear_default());
        assert_eq!(config.retry.max_retries, 3);
        assert_eq!(config.retry.backoff_base, Duration::from_millis(500));
        assert!(config.final_verification);
        assert_eq!(
            config.partial_fill_policy,
            PartialFillPolicy::CancelRemainder
        );
        assert_eq!(config.validate(), Ok(()));
    }

    fn field_of(config: &FillDetectionConfig) -> &'static str {
        config.validate().expect_err("config must be refused").field
    }

    /// Each kind of bad value is refused with the field that holds it.
    #[test]
    fn validation_names_the_offending_field() {
        let base = FillDetectionConfig::default();

        let mut c = base.clone();
        c.timeout = Duration::ZERO;
        assert_eq!(field_of(&c), "timeout");

        let mut c = base.clone();
        c.polling = PollingConfig::Fixed {
            interval: Duration::ZERO,
        };
        assert_eq!(field_of(&c), "polling.interval");

        let mut c = base.clone();
        c.polling = PollingConfig::Linear {
            initial: Duration::from_secs(2),
            step: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(field_of(&c), "polling.max");
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("below polling.initial")
        );

        let mut c = base.clone();
        c.polling = PollingConfig::Exponential {
            initial: Duration::from_millis(100),
            factor: 0.5,
            max: Duration::from_secs(1),
        };
        assert_eq!(field_of(&c), "polling.factor");

        let mut c = base.clone();
        c.retry.jitter = 1.5;
        assert_eq!(field_of(&c), "retry.jitter");

        let mut c = base.clone();
        c.retry.backoff_max = Duration::from_millis(100);
        assert_eq!(field_of(&c), "retry.backoff_max");

        let mut c = base.clone();
        c.post_cancel.max_reads = 0;
        assert_eq!(field_of(&c), "post_cancel.max_reads");

        let mut c = base.clone();
        c.slippage_threshold_bps = Decimal::NEGATIVE_ONE;
        assert_eq!(field_of(&c), "slippage_threshold_bps");

        let mut c = base.clone();
        c.partial_fill_policy = PartialFillPolicy::KeepWorking {
            extension: Duration::ZERO,
        };
        assert_eq!(field_of(&c), "partial_fill_policy.extension");

        let mut c = base;
        c.reconcile_horizon = Duration::ZERO;
        assert_eq!(field_of(&c), "reconcile_horizon");
    }

    /// Polling faster than the floor, and deadlines longer than a day, are
    /// refused: they would only turn a run into hours of CPU.
    #[test]
    fn work_bounds_are_refused() {
        let base = FillDetectionConfig::default();

        let mut c = base.clone();
        c.polling = PollingConfig::Fixed {
            interval: Duration::from_nanos(1),
        };
        assert_eq!(field_of(&c), "polling.interval");
        assert!(c.validate().unwrap_err().to_string().contains("10ms"));
        c.polling = PollingConfig::Fixed {
            interval: MIN_POLL_INTERVAL,
        };
        assert_eq!(c.validate(), Ok(()));

        let mut c = base.clone();
        c.polling = PollingConfig::Linear {
            initial: Duration::from_millis(9),
            step: Duration::ZERO,
            max: Duration::from_secs(1),
        };
        assert_eq!(field_of(&c), "polling.initial");

        let mut c = base.clone();
        c.timeout = Duration::from_secs(10 * 365 * 86_400);
        assert_eq!(field_of(&c), "timeout");
        c.timeout = MAX_DEADLINE;
        assert_eq!(c.validate(), Ok(()));

        let mut c = base;
        c.reconcile_horizon = MAX_DEADLINE + Duration::from_secs(1);
        assert_eq!(field_of(&c), "reconcile_horizon");
    }
}
