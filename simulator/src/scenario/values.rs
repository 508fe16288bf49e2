//! Value types several sections share: weights, probabilities, prices,
//! amounts of money and rate limits, each checked as it is parsed.

use std::fmt;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

use super::check::Checker;
use crate::duration::Dur;

/// A weight: a finite number of zero or more.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Weight(pub f64);

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !value.is_finite() || value < 0.0 {
            return Err(de::Error::custom(format!(
                "weight {value} is out of range; weights are numbers of zero or more"
            )));
        }
        Ok(Self(value))
    }
}

/// A probability in 0..=1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probability(pub f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(de::Error::custom(format!(
                "probability {value} is out of range; allowed: 0 to 1"
            )));
        }
        Ok(Self(value))
    }
}

/// A positive price written as a decimal string (`"590.10"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(pub Decimal);

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;
        impl Visitor<'_> for PriceVisitor {
            type Value = Price;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive price as a decimal string, such as \"590.10\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Price, E> {
                let price: Decimal = value.trim().parse().map_err(|_| {
                    E::custom(format!(
                        "`{value}` is not a decimal price; write it like \"590.10\""
                    ))
                })?;
                if price <= Decimal::ZERO {
                    return Err(E::custom(format!("price {price} must be positive")));
                }
                Ok(Price(price))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Price, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Price, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Price, E> {
                Err(E::custom(format!(
                    "price {value} is a binary float; write prices as decimal strings, like \"{value}\""
                )))
            }
        }
        deserializer.deserialize_any(PriceVisitor)
    }
}

/// An amount of money of zero or more, written as a decimal string
/// (`"0.005"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of zero or more as a decimal string, such as \"0.005\"")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Amount, E> {
                let amount: Decimal = value.trim().parse().map_err(|_| {
                    E::custom(format!(
                        "`{value}` is not a decimal amount; write it like \"0.005\""
                    ))
                })?;
                if amount.is_sign_negative() {
                    return Err(E::custom(format!("amount {amount} must be zero or more")));
                }
                Ok(Amount(amount))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Amount, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Amount, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "amount {value} is a binary float; write amounts as decimal strings, like \"{value}\""
                )))
            }
        }
        deserializer.deserialize_any(AmountVisitor)
    }
}

/// A token bucket: `requests` calls per `per`, refilled continuously.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Calls per window, at least 1.
    pub requests: Spanned<u32>,
    /// The window, positive.
    pub per: Dur,
}

impl RateLimitSpec {
    /// Checks the limit set under `section` (`engine` or `broker`): the
    /// engine's client-side limit and the broker's bucket obey the same
    /// rules; the engine refuses at run time what is let through here.
    pub(super) fn check(&self, section: &str, c: &mut Checker<'_>) {
        if self.requests.value == 0 {
            c.at(
                Some(self.requests.referenced),
                format!("{section}.rate_limit.requests"),
                "is 0; allow at least 1 request per window",
            );
        }
        if self.per.0.is_zero() {
            c.at(
                Some(self.requests.referenced),
                format!("{section}.rate_limit.per"),
                "is 0s; the window must be positive",
            );
        }
    }
}
