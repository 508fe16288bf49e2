//! When the market trades: always, or the regular US equity sessions of
//! the bundled calendar (with pre- and after-hours for orders that may
//! trade in them), in the run's virtual time.

use std::time::Duration;

use fillproof_engine::Timestamp;

use crate::calendar::{Calendar, TradingDay};
use crate::time::TimeOrigin;

/// When the market trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Hours {
    /// At any instant: no sessions, no close.
    #[default]
    Always,
    /// The regular sessions of the bundled calendar.
    Regular,
}

/// The sessions in a run's virtual time: the calendar read through the
/// run's time origin.
#[derive(Debug, Clone)]
pub struct Sessions {
    calendar: Calendar,
    origin: TimeOrigin,
}

impl Sessions {
    /// The bundled calendar's sessions for a run whose virtual time zero
    /// is `origin`.
    #[must_use]
    pub fn new(origin: TimeOrigin) -> Self {
        Self {
            calendar: Calendar::us_equities(),
            origin,
        }
    }

    /// The calendar the sessions follow.
    #[must_use]
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The trading day an order placed at `t` trades in: the first whose
    /// trading (regular, or with `extended` through after-hours) ends
    /// after `t`. `None` past the calendar's years.
    #[must_use]
    pub fn day_of(&self, t: Duration, extended: bool) -> Option<TradingDay> {
        let unix = self.origin.at(t).unix_micros;
        self.calendar.day_ending_after(unix, extended)
    }

    /// When an order may trade at `t`: `None` when it may now, else the
    /// instant it next may (`Duration::MAX` when never, past the
    /// calendar's years).
    #[must_use]
    pub fn closed_until(&self, t: Duration, extended: bool) -> Option<Duration> {
        let Some(day) = self.day_of(t, extended) else {
            return Some(Duration::MAX);
        };
        let start = if extended { day.session_open } else { day.open };
        let unix = self.origin.at(t).unix_micros;
        (unix < start).then(|| self.elapsed(start))
    }

    /// The end of the trading an order may do from `t`: the day's
    /// regular close, or with `extended` its after-hours end
    /// (`Duration::MAX` past the calendar's years).
    #[must_use]
    pub fn trading_ends(&self, t: Duration, extended: bool) -> Duration {
        self.day_of(t, extended).map_or(Duration::MAX, |day| {
            self.elapsed(if extended {
                day.session_close
            } else {
                day.close
            })
        })
    }

    /// The virtual time of a calendar instant (zero for one before the
    /// run began).
    #[must_use]
    pub fn elapsed(&self, unix_micros: i64) -> Duration {
        self.origin
            .elapsed_of(Timestamp::from_unix_micros(unix_micros))
            .unwrap_or(Duration::ZERO)
    }

    /// The calendar instant of a virtual time.
    #[must_use]
    pub fn unix_micros(&self, t: Duration) -> i64 {
        self.origin.at(t).unix_micros
    }
}
