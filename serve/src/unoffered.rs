//! What Alpaca offers that the simulated broker does not model, refused
//! as Alpaca refuses a feature an account does not have: 403 `40310000`,
//! naming the feature, never a 404 that would read as a route Alpaca
//! lacks, nor an empty answer that would read as "there is none".
//!
//! - Trading: crypto wallets and transfers (`/v2/wallets`, enabled per
//!   account on request at Alpaca), locates for hard-to-borrow shorts
//!   (`/v1/locates`), tokenization (`/v2/tokenization`, for authorized
//!   participants), the account activities event stream
//!   (`/v2beta1/events/activities`).
//! - Market data the simulated market has none of: crypto perpetual
//!   futures, logos, forex rates, index values, fixed income prices, and
//!   the option condition codes (the market trades no options).
//!
//! Entry point: [`unoffered`]. Imports `wire`.

use crate::wire::{Reply, code};

/// The refusal of a request for something serve does not model, or
/// `None` when `segments` name none of it.
pub(crate) fn unoffered(segments: &[&str]) -> Option<Reply> {
    let feature = match segments {
        ["v2", "wallets", ..] => "crypto wallets and transfers",
        ["v1", "locates", ..] => "locates",
        ["v2", "tokenization", ..] => "tokenization",
        ["v2beta1", "events", ..] => "the account activities event stream",
        ["v1beta1", "crypto-perps", ..] => "crypto perpetual futures data",
        ["v1beta1", "logos", ..] => "logos",
        ["v1beta1", "forex", ..] => "forex rates",
        ["v1beta1", "indices", ..] => "index values",
        ["v1beta1", "fixed_income", ..] => "fixed income data",
        ["v1beta1", "options", "meta", "conditions", ..] => "option condition codes",
        _ => return None,
    };
    Some(Reply::error(
        403,
        code::FORBIDDEN,
        &format!("{feature} is not enabled for this account: fillproof serve does not simulate it"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each feature serve does not model is refused 403 naming it; a
    /// route it serves is left to its handler.
    #[test]
    fn features_serve_does_not_model_are_refused_by_name() {
        for (path, feature) in [
            ("/v2/wallets/transfers", "crypto wallets"),
            ("/v1/locates/quotes", "locates"),
            ("/v2/tokenization/mint", "tokenization"),
            ("/v2beta1/events/activities", "event stream"),
            ("/v1beta1/crypto-perps/global/latest/bars", "perpetual"),
            ("/v1beta1/logos/SPY", "logos"),
            ("/v1beta1/forex/rates", "forex"),
            ("/v1beta1/indices/values", "index"),
            ("/v1beta1/fixed_income/latest/prices", "fixed income"),
            ("/v1beta1/options/meta/conditions/trade", "option condition"),
        ] {
            let segments: Vec<&str> = path.split('/').skip(1).collect();
            match unoffered(&segments) {
                Some(Reply::Json { status, body }) => {
                    assert_eq!(status, 403, "{path}");
                    assert_eq!(body["code"], code::FORBIDDEN, "{path}");
                    let message = body["message"].as_str().unwrap_or_default();
                    assert!(message.contains(feature), "{path}: {message}");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        for path in [
            "/v2/orders",
            "/v1beta1/options/meta/exchanges",
            "/v1beta1/news",
        ] {
            let segments: Vec<&str> = path.split('/').skip(1).collect();
            assert!(unoffered(&segments).is_none(), "{path}");
        }
    }
}
