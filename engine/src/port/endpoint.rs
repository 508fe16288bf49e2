//! The broker port's endpoints, one per [`Broker`](super::Broker) call,
//! and counts of calls by endpoint.

use std::ops::{Index, IndexMut};

/// A broker API endpoint: one per call of the [`Broker`](super::Broker)
/// port.
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
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 5] = [
        Self::Submit,
        Self::GetOrder,
        Self::GetOrderByClientId,
        Self::Cancel,
        Self::GetPosition,
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
        }
    }

    /// A dense index (its place in [`Endpoint::ALL`]), for per-endpoint
    /// arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Broker calls counted by endpoint (for one order: retries and lookups
/// included). Indexed by [`Endpoint`]; iterates in [`Endpoint::ALL`]
/// order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EndpointCounts([u32; Endpoint::ALL.len()]);

impl EndpointCounts {
    /// All calls together.
    #[must_use]
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Adds every count of `other` to this one's.
    pub fn add(&mut self, other: &EndpointCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// Each endpoint with its count, in [`Endpoint::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Endpoint, u32)> + '_ {
        Endpoint::ALL.into_iter().map(|e| (e, self[e]))
    }
}

impl Index<Endpoint> for EndpointCounts {
    type Output = u32;

    fn index(&self, endpoint: Endpoint) -> &u32 {
        &self.0[endpoint.index()]
    }
}

impl IndexMut<Endpoint> for EndpointCounts {
    fn index_mut(&mut self, endpoint: Endpoint) -> &mut u32 {
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
                "get_position"
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
            ]
        );
    }
}
