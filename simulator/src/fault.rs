//! The one vocabulary of faults: [`FaultKind`] (each kind with its scenario
//! name), [`FaultTable`] (one value per kind, such as each kind's chance),
//! and [`CallRefusal`] (why a call got no clean answer: an outage, the rate
//! limit, or a fault).
//!
//! Adding a fault kind is one variant here, its name in
//! [`FaultKind::as_str`] and its place in [`FaultKind::ALL`], plus its YAML
//! field in `scenario::broker::faults::FaultSpec` (serde needs a named
//! field to refuse unknown ones with the list of known ones) and what a
//! client sees of it in the broker's `fault_error`. The compiler points at
//! each.
//!
//! This module imports nothing of the crate; from the engine only its
//! did-you-mean suggestion.

use std::fmt;
use std::ops::{Index, IndexMut};
use std::str::FromStr;

use fillproof_engine::did_you_mean;

/// A fault a call can meet, in [`FaultKind::ALL`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// No answer; not applied.
    Timeout,
    /// Connection reset; not applied.
    ConnectionReset,
    /// HTTP 500; not applied.
    Http500,
    /// HTTP 502; not applied.
    Http502,
    /// HTTP 503; not applied.
    Http503,
    /// HTTP 504; applied.
    Http504,
    /// HTTP 429; not applied.
    Http429,
    /// Unparseable body; applied.
    GarbageBody,
    /// Answer lost; applied.
    LostResponse,
}

impl FaultKind {
    /// How many kinds there are.
    pub const COUNT: usize = 9;

    /// Every kind, in the order scenarios list them (and a uniform draw
    /// picks them, see `EndpointFaults::pick`).
    pub const ALL: [FaultKind; Self::COUNT] = [
        Self::Timeout,
        Self::ConnectionReset,
        Self::Http500,
        Self::Http502,
        Self::Http503,
        Self::Http504,
        Self::Http429,
        Self::GarbageBody,
        Self::LostResponse,
    ];

    /// The kind's name as scenarios write it (`broker.faults`, a timeline
    /// `fault`), in reports and in the trace.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ConnectionReset => "connection_reset",
            Self::Http500 => "http_500",
            Self::Http502 => "http_502",
            Self::Http503 => "http_503",
            Self::Http504 => "http_504",
            Self::Http429 => "http_429",
            Self::GarbageBody => "garbage_body",
            Self::LostResponse => "lost_response",
        }
    }

    /// True when the broker applies the request despite the fault.
    #[must_use]
    pub fn applied(self) -> bool {
        matches!(self, Self::Http504 | Self::GarbageBody | Self::LostResponse)
    }

    /// The fault a scenario names `name`, if any.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The fault's scenario name (as [`FaultKind::as_str`]).
    #[must_use]
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

/// Every fault kind's name, in [`FaultKind::ALL`] order.
const fn names() -> [&'static str; FaultKind::COUNT] {
    let mut names = [""; FaultKind::COUNT];
    let mut i = 0;
    while i < FaultKind::COUNT {
        names[i] = FaultKind::ALL[i].as_str();
        i += 1;
    }
    names
}

/// The fault kinds' names, in [`FaultKind::ALL`] order, for messages.
pub const FAULT_KINDS: &[&str] = &names();

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no fault kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFault(pub String);

impl fmt::Display for UnknownFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a fault{}; use one of: {}",
            self.0,
            did_you_mean(&self.0, FAULT_KINDS),
            FAULT_KINDS.join(", ")
        )
    }
}

impl std::error::Error for UnknownFault {}

impl FromStr for FaultKind {
    type Err = UnknownFault;

    /// The kind named, or an error naming the closest kind.
    fn from_str(name: &str) -> Result<Self, UnknownFault> {
        Self::named(name).ok_or_else(|| UnknownFault(name.to_owned()))
    }
}

/// One value per fault kind, such as each kind's chance per call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultTable<T>([T; FaultKind::COUNT]);

impl<T> FaultTable<T> {
    /// The table of `value(kind)` for every kind.
    #[must_use]
    pub fn from_fn(value: impl FnMut(FaultKind) -> T) -> Self {
        Self(FaultKind::ALL.map(value))
    }

    /// The values, in [`FaultKind::ALL`] order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// The values, mutable, in [`FaultKind::ALL`] order.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// Each kind with its value, in [`FaultKind::ALL`] order.
    pub fn by_kind(&self) -> impl Iterator<Item = (FaultKind, &T)> {
        FaultKind::ALL.into_iter().zip(self.0.iter())
    }

    /// Each kind with its value, mutable, in [`FaultKind::ALL`] order.
    pub fn by_kind_mut(&mut self) -> impl Iterator<Item = (FaultKind, &mut T)> {
        FaultKind::ALL.into_iter().zip(self.0.iter_mut())
    }
}

impl<T> Index<FaultKind> for FaultTable<T> {
    type Output = T;

    fn index(&self, kind: FaultKind) -> &T {
        &self.0[kind as usize]
    }
}

impl<T> IndexMut<FaultKind> for FaultTable<T> {
    fn index_mut(&mut self, kind: FaultKind) -> &mut T {
        &mut self.0[kind as usize]
    }
}

impl<T> IntoIterator for FaultTable<T> {
    type Item = T;
    type IntoIter = std::array::IntoIter<T, { FaultKind::COUNT }>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Why a call that reached the broker got no clean answer: an outage
/// window answered 503, the rate limit answered 429, or the call met a
/// fault (drawn, or scripted by the timeline). Named as the broker's count
/// of faults injected and the trace name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallRefusal {
    /// An outage window answered 503; nothing was applied.
    Outage,
    /// The rate limit answered 429; nothing was applied.
    RateLimit,
    /// The call met a fault (applied first when [`FaultKind::applied`]).
    Fault(FaultKind),
}

impl CallRefusal {
    /// The refusal's name: `outage`, `rate_limit`, or the fault's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Outage => "outage",
            Self::RateLimit => "rate_limit",
            Self::Fault(kind) => kind.as_str(),
        }
    }

    /// True when the broker applied the request all the same.
    #[must_use]
    pub fn applied(self) -> bool {
        matches!(self, Self::Fault(kind) if kind.applied())
    }
}

impl fmt::Display for CallRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind's name parses back to it, and the names are the
    /// scenario field names in order.
    #[test]
    fn names_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.as_str().parse::<FaultKind>(), Ok(kind));
        }
        assert_eq!(FAULT_KINDS[0], "timeout");
        assert_eq!(FAULT_KINDS[FaultKind::COUNT - 1], "lost_response");
    }

    /// A misspelt kind is refused with the closest name suggested.
    #[test]
    fn a_misspelt_kind_names_the_closest() {
        let error = "lost_respons".parse::<FaultKind>().expect_err("unknown");
        assert!(
            error.to_string().contains("did you mean `lost_response`"),
            "{error}"
        );
    }
}
