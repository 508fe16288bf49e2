//! The broker API's endpoints, one per call the simulator models (each
//! [`Broker`](super::Broker) call, and the account, positions and clock
//! reads `fillproof serve` answers), and counts of calls by endpoint.

use std::fmt;
use std::ops::{Index, IndexMut};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A broker API endpoint: one per broker API call the simulator models.
/// The first eight are the calls of the [`Broker`](super::Broker) port;
/// [`Account`](Self::Account), [`Positions`](Self::Positions) and
/// [`Clock`](Self::Clock) are reads the engine never makes, which
/// `fillproof serve` answers through the simulated broker so that they
/// meet the scenario's latency, faults and rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `submit_order`.
    Submit,
    /// `get_order`.
    GetOrder,
    /// `get_order_by_client_id`.
    GetOrderByClientId,
    /// `cancel_order`.
    Cancel,
    /// `get_position`.
    GetPosition,
    /// `replace_order`.
    Replace,
    /// `list_orders`.
    ListOrders,
    /// `fill_activities`.
    FillActivities,
    /// `account`: the account's figures (Alpaca's `GET /v2/account`).
    Account,
    /// `positions`: every open position (Alpaca's `GET /v2/positions`).
    Positions,
    /// `clock`: the market clock (Alpaca's `GET /v2/clock`).
    Clock,
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 11] = [
        Self::Submit,
        Self::GetOrder,
        Self::GetOrderByClientId,
        Self::Cancel,
        Self::GetPosition,
        Self::Replace,
        Self::ListOrders,
        Self::FillActivities,
        Self::Account,
        Self::Positions,
        Self::Clock,
    ];

    /// The endpoint's name as written in scenarios and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::GetOrder => "get_order",
            Self::GetOrderByClientId => "get_order_by_client_id",
            Self::Cancel => "cancel",
            Self::GetPosition => "get_position",
            Self::Replace => "replace",
            Self::ListOrders => "list_orders",
            Self::FillActivities => "fill_activities",
            Self::Account => "account",
            Self::Positions => "positions",
            Self::Clock => "clock",
        }
    }

    /// A dense index (its place in [`Endpoint::ALL`]), for per-endpoint
    /// arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Endpoint {
    /// Every endpoint's name, in [`Endpoint::ALL`] order.
    #[must_use]
    pub fn names() -> [&'static str; Self::ALL.len()] {
        Self::ALL.map(Self::as_str)
    }

    /// The endpoint called `name` (`submit`, `get_order`, ...).
    ///
    /// # Errors
    /// A message naming the closest endpoint, when `name` looks like a typo
    /// of one, and listing them all.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown endpoint `{name}`{}; expected one of {}",
                    super::did_you_mean(name, &Self::names()),
                    Self::names().join(", ")
                )
            })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Read from a plain string (not as a serde enum) so that the message for an
// unknown name suggests the closest one, and the field path of an error
// under it (a scenario's `broker.faults.get_order.timeout`) names it.
impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointVisitor;
        impl Visitor<'_> for EndpointVisitor {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an endpoint: one of {}", Endpoint::names().join(", "))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Endpoint, E> {
                Endpoint::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(EndpointVisitor)
    }
}

/// Broker calls counted by endpoint: for one order (retries and lookups
/// included) in `u32`, the engine's default, or for a whole run in `u64`.
/// Indexed by [`Endpoint`]; iterates in [`Endpoint::ALL`] order; written
/// and read as a JSON array in that order, as run shards keep it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointCounts<T = u32>([T; Endpoint::ALL.len()]);

impl<T: Copy + std::iter::Sum<T> + std::ops::AddAssign> EndpointCounts<T> {
    /// All calls together.
    #[must_use]
    pub fn total(&self) -> T {
        self.0.iter().copied().sum()
    }

    /// Adds every count of `other` to this one's.
    pub fn add(&mut self, other: &EndpointCounts<T>) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// Each endpoint with its count, in [`Endpoint::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Endpoint, T)> + '_ {
        Endpoint::ALL.into_iter().map(|e| (e, self[e]))
    }

    /// The counts in [`Endpoint::ALL`] order.
    #[must_use]
    pub fn values(&self) -> &[T] {
        &self.0
    }
}

impl<T> Index<Endpoint> for EndpointCounts<T> {
    type Output = T;

    fn index(&self, endpoint: Endpoint) -> &T {
        &self.0[endpoint.index()]
    }
}

impl<T> IndexMut<Endpoint> for EndpointCounts<T> {
    fn index_mut(&mut self, endpoint: Endpoint) -> &mut T {
        &mut self.0[endpoint.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: each endpoint's name and index are where the simulator and the
    /// reports expect them. Method: list them in `ALL` order.
    #[test]
    fn names_and_indices_follow_all() {
        let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "submit",
                "get_order",
                "get_order_by_client_id",
                "cancel",
                "get_position",
                "replace",
                "list_orders",
                "fill_activities",
                "account",
                "positions",
                "clock"
            ]
        );
        for (i, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(endpoint.index(), i);
        }
    }

    /// Goal: counts index, add up and iterate by endpoint. Method: count a
    /// few calls, add another set, read them back.
    #[test]
    fn counts_index_add_and_iterate() {
        let mut counts = EndpointCounts::default();
        counts[Endpoint::GetOrder] += 3;
        counts[Endpoint::Submit] += 1;
        let mut more = EndpointCounts::default();
        more[Endpoint::GetOrder] = 2;
        more[Endpoint::GetPosition] = 4;
        counts.add(&more);
        assert_eq!(counts[Endpoint::GetOrder], 5);
        assert_eq!(counts.total(), 10);
        let listed: Vec<_> = counts.iter().collect();
        assert_eq!(
            listed,
            [
                (Endpoint::Submit, 1),
                (Endpoint::GetOrder, 5),
                (Endpoint::GetOrderByClientId, 0),
                (Endpoint::Cancel, 0),
                (Endpoint::GetPosition, 4),
                (Endpoint::Replace, 0),
                (Endpoint::ListOrders, 0),
                (Endpoint::FillActivities, 0),
                (Endpoint::Account, 0),
                (Endpoint::Positions, 0),
                (Endpoint::Clock, 0),
            ]
        );
    }
}
