//! Random distributions as scenario files write them.
//!
//! `{fixed: X}`, `{uniform: [A, B]}`, `{normal: {mean: M, std: S}}`,
//! `{lognormal: {median: M, p99: P}}`, `{exponential: {mean: M}}`,
//! `{samples: [X, Y, ...]}` (drawn uniformly) or `{samples_file: PATH}` (one
//! value a line, relative to the scenario file). A bare value means `fixed`.
//! Values are durations (`80ms`) or plain numbers, depending on the field;
//! every parameter is checked when the file is read.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::duration::{UNITS, parse_duration};

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874_040_841;

/// A distribution over `f64`, in seconds for durations.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Always the same value.
    Fixed(f64),
    /// Uniform between `low` and `high`, inclusive of `low`.
    Uniform {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation, zero or more.
        std: f64,
    },
    /// Log-normal given by its median and 99th percentile.
    LogNormal {
        /// Median, positive.
        median: f64,
        /// 99th percentile, above the median.
        p99: f64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean, positive.
        mean: f64,
    },
    /// One of these values, each equally likely.
    Samples(Vec<f64>),
    /// Samples to be read from a file, relative to the scenario file. The
    /// loader replaces it with [`Dist::Samples`].
    SamplesFile(String),
}

impl Dist {
    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Self::Fixed(value) => *value,
            Self::Uniform { low, high } => low + (high - low) * rng.random::<f64>(),
            Self::Normal { mean, std } => mean + std * standard_normal(rng),
            Self::LogNormal { median, p99 } => {
                let sigma = (p99.ln() - median.ln()) / Z_P99;
                (median.ln() + sigma * standard_normal(rng)).exp()
            }
            Self::Exponential { mean } => -mean * (1.0 - rng.random::<f64>()).ln(),
            Self::Samples(values) => {
                if values.is_empty() {
                    0.0
                } else {
                    values[rng.random_range(0..values.len())]
                }
            }
            // The loader resolves files; an unresolved one draws nothing.
            Self::SamplesFile(_) => 0.0,
        }
    }

    /// True for `{fixed: 0}`: a knob that is off.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Fixed(value) if *value == 0.0)
    }

    /// The mean of a draw (for a run's cost estimate, not for drawing).
    #[must_use]
    pub fn mean(&self) -> f64 {
        match self {
            Self::Fixed(value) => *value,
            Self::Uniform { low, high } => (low + high) / 2.0,
            Self::Normal { mean, .. } | Self::Exponential { mean } => *mean,
            Self::LogNormal { median, p99 } => {
                let sigma = (p99.ln() - median.ln()) / Z_P99;
                median * (sigma * sigma / 2.0).exp()
            }
            Self::Samples(values) if !values.is_empty() => {
                values.iter().sum::<f64>() / values.len() as f64
            }
            Self::Samples(_) | Self::SamplesFile(_) => 0.0,
        }
    }

    /// The smallest value a draw can take, where bounded below.
    #[must_use]
    pub fn lower_bound(&self) -> Option<f64> {
        match self {
            Self::Fixed(value) => Some(*value),
            Self::Uniform { low, .. } => Some(*low),
            Self::Samples(values) => values.iter().copied().reduce(f64::min),
            Self::LogNormal { .. } | Self::Exponential { .. } => Some(0.0),
            _ => None,
        }
    }

    /// The largest value a draw can take, where bounded.
    #[must_use]
    pub fn upper_bound(&self) -> Option<f64> {
        match self {
            Self::Fixed(value) => Some(*value),
            Self::Uniform { high, .. } => Some(*high),
            Self::Samples(values) => values.iter().copied().reduce(f64::max),
            _ => None,
        }
    }
}

/// Box–Muller: one standard normal draw from two uniforms.
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What a distribution's values are.
pub trait Scalar {
    /// How the value is described in errors.
    const EXPECTING: &'static str;
    /// True when values may be negative (slippage), false for durations and
    /// counts.
    const SIGNED: bool;
    /// A value from its text.
    ///
    /// # Errors
    /// What is wrong and what is allowed.
    fn from_text(text: &str) -> Result<f64, String>;
    /// A value from a YAML number.
    ///
    /// # Errors
    /// What is wrong and what is allowed.
    fn from_number(value: f64) -> Result<f64, String>;
}

/// Durations, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Seconds;

impl Scalar for Seconds {
    const EXPECTING: &'static str = "a duration such as 80ms";
    const SIGNED: bool = false;

    fn from_text(text: &str) -> Result<f64, String> {
        parse_duration(text).map(|d| d.as_secs_f64())
    }

    fn from_number(value: f64) -> Result<f64, String> {
        if value == 0.0 {
            Ok(0.0)
        } else {
            Err(format!("`{value}` needs a unit: {UNITS}"))
        }
    }
}

/// Plain numbers (basis points, quantities).
#[derive(Debug, Clone, Copy)]
pub struct Number;

impl Scalar for Number {
    const EXPECTING: &'static str = "a number";
    const SIGNED: bool = true;

    fn from_text(text: &str) -> Result<f64, String> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        Self::from_number(value)
    }

    fn from_number(value: f64) -> Result<f64, String> {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(format!("`{value}` is not a finite number"))
        }
    }
}

/// A distribution of durations.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationDist(pub Dist);

impl DurationDist {
    /// Always `value`.
    #[must_use]
    pub fn fixed(value: Duration) -> Self {
        Self(Dist::Fixed(value.as_secs_f64()))
    }

    /// One draw; negative draws (from a normal) count as zero.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let seconds = self.0.sample(rng);
        if seconds.is_finite() && seconds > 0.0 {
            Duration::from_secs_f64(seconds.min(315_360_000.0))
        } else {
            Duration::ZERO
        }
    }
}

impl Default for DurationDist {
    fn default() -> Self {
        Self::fixed(Duration::ZERO)
    }
}

/// A distribution of plain numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberDist(pub Dist);

impl NumberDist {
    /// Always `value`.
    #[must_use]
    pub fn fixed(value: f64) -> Self {
        Self(Dist::Fixed(value))
    }
}

impl Default for NumberDist {
    fn default() -> Self {
        Self::fixed(0.0)
    }
}

impl<'de> Deserialize<'de> for DurationDist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DistVisitor::<Seconds>(PhantomData))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for NumberDist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DistVisitor::<Number>(PhantomData))
            .map(Self)
    }
}

/// One scalar of kind `K`.
struct Value<K>(f64, PhantomData<K>);

impl<'de, K: Scalar> Deserialize<'de> for Value<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ValueVisitor::<K>(PhantomData))
            .map(|v| Value(v, PhantomData))
    }
}

struct ValueVisitor<K>(PhantomData<K>);

impl<K: Scalar> Visitor<'_> for ValueVisitor<K> {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(K::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
        K::from_text(value).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        K::from_number(value as f64).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        K::from_number(value as f64).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        K::from_number(value).map_err(E::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "K: Scalar")]
struct NormalParams<K> {
    mean: Value<K>,
    std: Value<K>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "K: Scalar")]
struct LogNormalParams<K> {
    median: Value<K>,
    p99: Value<K>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "K: Scalar")]
struct ExponentialParams<K> {
    mean: Value<K>,
}

/// The kinds a distribution may be, for error messages.
pub const KINDS: &[&str] = &[
    "fixed",
    "uniform",
    "normal",
    "lognormal",
    "exponential",
    "samples",
    "samples_file",
];

struct DistVisitor<K>(PhantomData<K>);

impl<'de, K: Scalar> Visitor<'de> for DistVisitor<K> {
    type Value = Dist;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} or a distribution: one of {}",
            K::EXPECTING,
            KINDS.join(", ")
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Dist, E> {
        K::from_text(value).map(Dist::Fixed).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Dist, E> {
        K::from_number(value as f64)
            .map(Dist::Fixed)
            .map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Dist, E> {
        K::from_number(value as f64)
            .map(Dist::Fixed)
            .map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Dist, E> {
        K::from_number(value).map(Dist::Fixed).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dist, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!(
                "empty distribution; write one of {}",
                KINDS.join(", ")
            )));
        };
        dist_from_map::<K, A>(&kind, map)
    }
}

/// The rest of a distribution mapping whose first key, `kind`, was read.
pub(crate) fn dist_from_map<'de, K: Scalar, A: MapAccess<'de>>(
    kind: &str,
    mut map: A,
) -> Result<Dist, A::Error> {
    let dist = match kind {
        "fixed" => Dist::Fixed(map.next_value::<Value<K>>()?.0),
        "uniform" => {
            let bounds = map.next_value::<UniformBounds<K>>()?;
            Dist::Uniform {
                low: bounds.0,
                high: bounds.1,
            }
        }
        "normal" => {
            let p = map.next_value::<NormalParams<K>>()?;
            if p.std.0 < 0.0 {
                return Err(de::Error::custom("normal `std` must be zero or more"));
            }
            Dist::Normal {
                mean: p.mean.0,
                std: p.std.0,
            }
        }
        "lognormal" => {
            let p = map.next_value::<LogNormalParams<K>>()?;
            if p.median.0 <= 0.0 {
                return Err(de::Error::custom("lognormal `median` must be positive"));
            }
            if p.p99.0 <= p.median.0 {
                return Err(de::Error::custom("lognormal `p99` must be above `median`"));
            }
            Dist::LogNormal {
                median: p.median.0,
                p99: p.p99.0,
            }
        }
        "exponential" => {
            let p = map.next_value::<ExponentialParams<K>>()?;
            if p.mean.0 <= 0.0 {
                return Err(de::Error::custom("exponential `mean` must be positive"));
            }
            Dist::Exponential { mean: p.mean.0 }
        }
        "samples" => {
            let values = map.next_value::<Vec<Value<K>>>()?;
            if values.is_empty() {
                return Err(de::Error::custom("`samples` needs at least one value"));
            }
            Dist::Samples(values.into_iter().map(|v| v.0).collect())
        }
        "samples_file" => Dist::SamplesFile(map.next_value::<String>()?),
        other => {
            return Err(de::Error::custom(format!(
                "unknown distribution `{other}`{}; expected one of {}",
                fillproof_engine::did_you_mean(other, KINDS),
                KINDS.join(", ")
            )));
        }
    };
    if let Some(extra) = map.next_key::<String>()? {
        return Err(de::Error::custom(format!(
            "a distribution has exactly one kind, but `{extra}` follows `{kind}`"
        )));
    }
    if !K::SIGNED {
        if let Some(low) = lowest_fixed_bound(&dist) {
            if low < 0.0 {
                return Err(de::Error::custom("values must be zero or more"));
            }
        }
    }
    Ok(dist)
}

fn lowest_fixed_bound(dist: &Dist) -> Option<f64> {
    match dist {
        Dist::Fixed(value) => Some(*value),
        Dist::Uniform { low, .. } => Some(*low),
        Dist::Samples(values) => values.iter().copied().reduce(f64::min),
        _ => None,
    }
}

struct UniformBounds<K>(f64, f64, PhantomData<K>);

impl<'de, K: Scalar> Deserialize<'de> for UniformBounds<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(UniformVisitor::<K>(PhantomData))
    }
}

struct UniformVisitor<K>(PhantomData<K>);

impl<'de, K: Scalar> Visitor<'de> for UniformVisitor<K> {
    type Value = UniformBounds<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "two values [low, high], each {}", K::EXPECTING)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let missing = || de::Error::custom("`uniform` needs two values: [low, high]");
        let low = seq.next_element::<Value<K>>()?.ok_or_else(missing)?.0;
        let high = seq.next_element::<Value<K>>()?.ok_or_else(missing)?.0;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "`uniform` takes exactly two values: [low, high]",
            ));
        }
        if high < low {
            return Err(de::Error::custom(format!(
                "`uniform` bounds are out of order: high ({high}) is below low ({low})"
            )));
        }
        Ok(UniformBounds(low, high, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use fillproof_engine::derive_rng;

    use super::*;

    /// Each distribution's mean, in closed form, agrees with the average of
    /// many draws.
    #[test]
    fn means_match_the_draws() {
        let dists = [
            Dist::Fixed(2.0),
            Dist::Uniform {
                low: 1.0,
                high: 3.0,
            },
            Dist::Normal {
                mean: 5.0,
                std: 1.0,
            },
            Dist::LogNormal {
                median: 1.0,
                p99: 4.0,
            },
            Dist::Exponential { mean: 0.5 },
            Dist::Samples(vec![1.0, 2.0, 6.0]),
        ];
        for dist in dists {
            let mut rng = derive_rng(7, "mean", 0);
            let n = 200_000;
            let average = (0..n).map(|_| dist.sample(&mut rng)).sum::<f64>() / f64::from(n);
            let mean = dist.mean();
            assert!(
                (average - mean).abs() < 0.02 * mean.max(1.0),
                "{dist:?}: mean {mean}, draws average {average}"
            );
        }
        assert_eq!(Dist::Samples(Vec::new()).mean(), 0.0);
        assert_eq!(Dist::Samples(vec![1.0, 2.0, 6.0]).mean(), 3.0);
    }

    fn durations(yaml: &str) -> Result<DurationDist, String> {
        serde_saphyr::from_str::<DurationDist>(yaml).map_err(|e| e.to_string())
    }

    fn numbers(yaml: &str) -> Result<NumberDist, String> {
        serde_saphyr::from_str::<NumberDist>(yaml).map_err(|e| e.to_string())
    }

    /// Every distribution form of the contract parses.
    #[test]
    fn parses_every_form() {
        assert_eq!(durations("80ms").map(|d| d.0), Ok(Dist::Fixed(0.08)));
        assert_eq!(durations("{fixed: 2s}").map(|d| d.0), Ok(Dist::Fixed(2.0)));
        assert_eq!(
            durations("{uniform: [20ms, 60ms]}").map(|d| d.0),
            Ok(Dist::Uniform {
                low: 0.02,
                high: 0.06
            })
        );
        assert_eq!(
            durations("{lognormal: {median: 80ms, p99: 600ms}}").map(|d| d.0),
            Ok(Dist::LogNormal {
                median: 0.08,
                p99: 0.6
            })
        );
        assert_eq!(
            durations("{exponential: {mean: 3s}}").map(|d| d.0),
            Ok(Dist::Exponential { mean: 3.0 })
        );
        assert_eq!(
            numbers("{normal: {mean: 0.5, std: 3}}").map(|d| d.0),
            Ok(Dist::Normal {
                mean: 0.5,
                std: 3.0
            })
        );
        assert_eq!(
            numbers("{samples: [1, 2, 3]}").map(|d| d.0),
            Ok(Dist::Samples(vec![1.0, 2.0, 3.0]))
        );
        assert_eq!(numbers("1").map(|d| d.0), Ok(Dist::Fixed(1.0)));
    }

    /// Out-of-range parameters are refused with what is wrong.
    #[test]
    fn refuses_bad_parameters() {
        let cases = [
            ("{uniform: [60ms, 20ms]}", "out of order"),
            ("{lognormal: {median: 80ms, p99: 10ms}}", "above `median`"),
            ("{exponential: {mean: 0s}}", "must be positive"),
            ("{uniform: [1ms]}", "two values"),
            ("{normall: {mean: 1s, std: 1s}}", "did you mean `normal`"),
            (
                "{gaussian: {mean: 1s, std: 1s}}",
                "unknown distribution `gaussian`",
            ),
            ("{fixed: 1s, uniform: [1s, 2s]}", "exactly one kind"),
            ("80", "needs a unit"),
            ("-5ms", "negative"),
            ("{samples: []}", "at least one"),
        ];
        for (yaml, needle) in cases {
            let error = durations(yaml).expect_err(yaml);
            assert!(error.contains(needle), "{yaml}: {error}");
        }
    }

    /// Draws respect each distribution's shape: uniform stays in bounds,
    /// lognormal's median and p99 are about where they were set.
    #[test]
    fn draws_follow_parameters() {
        let mut rng = derive_rng(3, "dist-test", 0);
        let uniform = Dist::Uniform {
            low: 1.0,
            high: 2.0,
        };
        assert!(
            (0..1000)
                .map(|_| uniform.sample(&mut rng))
                .all(|x| (1.0..=2.0).contains(&x))
        );

        let lognormal = Dist::LogNormal {
            median: 0.08,
            p99: 0.6,
        };
        let mut draws: Vec<f64> = (0..20_000).map(|_| lognormal.sample(&mut rng)).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[10_000];
        let p99 = draws[19_800];
        assert!((median - 0.08).abs() < 0.005, "median {median}");
        assert!((p99 - 0.6).abs() < 0.08, "p99 {p99}");

        let exponential = Dist::Exponential { mean: 3.0 };
        let mean = (0..20_000)
            .map(|_| exponential.sample(&mut rng))
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 3.0).abs() < 0.1, "mean {mean}");
    }
}
