//! `broker.latency`: per endpoint, one round-trip distribution or the
//! request and response legs.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::distribution::{Dist, DurationDist, Scalar, Seconds, dist_from_map};

/// Latency of one endpoint: one distribution for the round trip (the request
/// applied at the broker halfway), or `{request: D, response: D}`.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencySpec {
    /// Round trip.
    RoundTrip(DurationDist),
    /// Each leg.
    Legs {
        /// Engine to broker.
        request: DurationDist,
        /// Broker to engine.
        response: DurationDist,
    },
}

impl<'de> Deserialize<'de> for LatencySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LatencyVisitor;
        impl<'de> Visitor<'de> for LatencyVisitor {
            type Value = LatencySpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration, a distribution, or {request: D, response: D}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LatencySpec, E> {
                crate::duration::parse_duration(value)
                    .map(|d| LatencySpec::RoundTrip(DurationDist::fixed(d)))
                    .map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LatencySpec, E> {
                self.visit_f64(value as f64)
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<LatencySpec, E> {
                Seconds::from_number(value)
                    .map(|seconds| LatencySpec::RoundTrip(DurationDist(Dist::Fixed(seconds))))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LatencySpec, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty latency; write a duration or a distribution",
                    ));
                };
                if first == "request" || first == "response" {
                    let mut request = None;
                    let mut response = None;
                    let mut key = Some(first);
                    while let Some(name) = key {
                        let value = map.next_value::<DurationDist>()?;
                        match name.as_str() {
                            "request" => request = Some(value),
                            "response" => response = Some(value),
                            other => {
                                return Err(de::Error::custom(format!(
                                    "unknown latency leg `{other}`; expected `request` and `response`"
                                )));
                            }
                        }
                        key = map.next_key::<String>()?;
                    }
                    return Ok(LatencySpec::Legs {
                        request: request.unwrap_or_default(),
                        response: response.unwrap_or_default(),
                    });
                }
                dist_from_map::<Seconds, A>(&first, map)
                    .map(|d| LatencySpec::RoundTrip(DurationDist(d)))
            }
        }
        deserializer.deserialize_any(LatencyVisitor)
    }
}

impl LatencySpec {
    /// The distributions of the request and response legs.
    #[must_use]
    pub fn legs(&self) -> (DurationDist, DurationDist) {
        match self {
            Self::RoundTrip(round_trip) => {
                let half = halve(&round_trip.0);
                (DurationDist(half.clone()), DurationDist(half))
            }
            Self::Legs { request, response } => (request.clone(), response.clone()),
        }
    }
}

/// Half of a round-trip distribution, for each leg: the request is applied
/// at the broker halfway. For shapes that do not halve in closed form the
/// legs are drawn from the halved parameters, which keeps the median.
fn halve(dist: &Dist) -> Dist {
    match dist {
        Dist::Fixed(v) => Dist::Fixed(v / 2.0),
        Dist::Uniform { low, high } => Dist::Uniform {
            low: low / 2.0,
            high: high / 2.0,
        },
        Dist::Normal { mean, std } => Dist::Normal {
            mean: mean / 2.0,
            std: std / 2.0,
        },
        Dist::LogNormal { median, p99 } => Dist::LogNormal {
            median: median / 2.0,
            p99: p99 / 2.0,
        },
        Dist::Exponential { mean } => Dist::Exponential { mean: mean / 2.0 },
        Dist::Samples(values) => Dist::Samples(values.iter().map(|v| v / 2.0).collect()),
        Dist::SamplesFile(path) => Dist::SamplesFile(path.clone()),
    }
}
