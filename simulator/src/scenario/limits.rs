//! The `limits:` section: bounds on one run, so that no scenario runs
//! forever.

use std::time::Duration;

use serde::Deserialize;

use super::check::Checker;
use crate::duration::Dur;

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

/// Checks the `limits:` section: a settle window of at most a day, and a
/// positive bound on a run.
pub(super) fn check(limits: &Limits, c: &mut Checker<'_>) {
    if limits.settle.0 > Duration::from_secs(86_400) {
        c.at(
            None,
            "limits.settle",
            "is over a day; the settle window is at most 1d",
        );
    }
    if limits.max_virtual_time.0.is_zero() {
        c.at(
            None,
            "limits.max_virtual_time",
            "is 0s; give runs a positive bound",
        );
    }
}
