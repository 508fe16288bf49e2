//! Broker API endpoints, as scenarios name them.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A broker API endpoint.
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

    /// The endpoint's name as written in scenarios.
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

    /// A dense index, for per-endpoint arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The endpoint names, for messages.
const ENDPOINT_NAMES: &[&str] = &[
    "submit",
    "get_order",
    "get_order_by_client_id",
    "cancel",
    "get_position",
];

// Parsed from a plain string (not as a serde enum) so that the field path of
// an error under it names the endpoint: `broker.faults.get_order.timeout`.
impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointVisitor;
        impl Visitor<'_> for EndpointVisitor {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an endpoint: one of {}", ENDPOINT_NAMES.join(", "))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Endpoint, E> {
                Endpoint::ALL
                    .into_iter()
                    .find(|e| e.as_str() == value)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown endpoint `{value}`{}; expected one of {}",
                            crate::suggest::did_you_mean(value, ENDPOINT_NAMES),
                            ENDPOINT_NAMES.join(", ")
                        ))
                    })
            }
        }
        deserializer.deserialize_str(EndpointVisitor)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
