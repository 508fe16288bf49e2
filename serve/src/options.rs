//! Alpaca's option market data (`/v1beta1/options/...`, alpaca-py's
//! `OptionHistoricalDataClient`). The simulated market trades no
//! options, so every contract has no data: Alpaca answers a contract
//! without data with an empty map (200), and so does this module, once
//! the request reads as Alpaca reads it.
//!
//! - `bars?symbols=` (`timeframe` and the rest as stock bars) answers
//!   `{"bars": {}, "next_page_token": null}`; `trades?symbols=` answers
//!   `{"trades": {}, "next_page_token": null}`;
//! - `quotes/latest`, `trades/latest` answer `{"quotes": {}}`,
//!   `{"trades": {}}`;
//! - `snapshots?symbols=` and the chain `snapshots/{underlying}`
//!   (`type`, `strike_price_gte`/`lte`, `expiration_date` and its
//!   `_gte`/`_lte`, `root_symbol`, `updated_since`, `limit` 1 to 1,000)
//!   answer `{"snapshots": {}, "next_page_token": null}`;
//! - `meta/exchanges` answers Alpaca's table of option exchange codes
//!   (`tables`).
//!
//! A symbol that is not an OCC contract symbol (root, `YYMMDD`, `C` or
//! `P`, the strike in thousandths on 8 digits: `SPY261218C00600000`), a
//! `feed` other than `opra` or `indicative`, or another malformed
//! parameter is 400 naming it. Entry point: [`Session::options_route`].
//! Imports `bars`, `history`, `market`, `tables`, `session` and `wire`.

use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_simulator::Date;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::api::query_param;
use crate::bars::{bad, one_of, read_request, unprocessable};
use crate::history::read_ticks;
use crate::market::symbols_param;
use crate::session::Session;
use crate::tables::{OPTION_EXCHANGES, table_json};
use crate::wire::{Reply, code};

/// The feeds Alpaca serves options from.
const OPTION_FEEDS: &[&str] = &["opra", "indicative"];

/// The most snapshots a page of a chain may hold.
const MAX_SNAPSHOT_LIMIT: u64 = 1_000;

/// True when `symbol` is an OCC contract symbol: a root of 1 to 6
/// letters or digits, an expiration date `YYMMDD`, `C` or `P`, and the
/// strike in thousandths of a dollar on 8 digits.
fn is_contract(symbol: &str) -> bool {
    if !symbol.is_ascii() {
        return false;
    }
    let Some(root_len) = symbol.len().checked_sub(15) else {
        return false;
    };
    let (root, rest) = symbol.split_at(root_len);
    let (date, rest) = rest.split_at(6);
    let (right, strike) = rest.split_at(1);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = digits(date)
        && format!("20{}-{}-{}", &date[0..2], &date[2..4], &date[4..6])
            .parse::<Date>()
            .is_ok();
    (1..=6).contains(&root.len())
        && root
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && date_ok
        && (right == "C" || right == "P")
        && digits(strike)
}

/// The contracts `symbols` names, or the refusal naming the first that
/// is not one.
fn contracts(query: &str) -> Result<Vec<String>, Reply> {
    let symbols = symbols_param(query)?;
    match symbols.iter().find(|s| !is_contract(s)) {
        Some(other) => Err(bad(&format!(
            "invalid symbol \"{other}\" in symbols: use an OCC contract symbol such as \
             SPY261218C00600000"
        ))),
        None => Ok(symbols),
    }
}

/// Checks the chain's filters and paging.
fn chain_filters(query: &str) -> Result<(), Reply> {
    one_of(query, "type", &["call", "put"], false)?;
    for name in ["strike_price_gte", "strike_price_lte"] {
        if let Some(text) = query_param(query, name) {
            text.trim().parse::<Decimal>().map_err(|_| {
                bad(&format!(
                    "invalid {name} \"{text}\": use a price such as 600"
                ))
            })?;
        }
    }
    for name in [
        "expiration_date",
        "expiration_date_gte",
        "expiration_date_lte",
    ] {
        if let Some(text) = query_param(query, name) {
            text.trim().parse::<Date>().map_err(|_| {
                bad(&format!(
                    "invalid {name} \"{text}\": use a date such as 2026-12-18"
                ))
            })?;
        }
    }
    if let Some(text) = query_param(query, "updated_since") {
        if Timestamp::parse_rfc3339(&text).is_none() && text.trim().parse::<Date>().is_err() {
            return Err(bad(&format!(
                "invalid updated_since \"{text}\": use RFC 3339 or a date"
            )));
        }
    }
    snapshot_paging(query)
}

/// Checks a snapshot request's `limit` (1 to 1,000) and `page_token`
/// (no page follows an empty one, so no token is this server's).
fn snapshot_paging(query: &str) -> Result<(), Reply> {
    if let Some(text) = query_param(query, "limit") {
        let limit: u64 = text
            .trim()
            .parse()
            .map_err(|_| bad(&format!("invalid limit \"{text}\": use a whole number")))?;
        if !(1..=MAX_SNAPSHOT_LIMIT).contains(&limit) {
            return Err(unprocessable(&format!(
                "limit {text} is out of range: use 1 to {MAX_SNAPSHOT_LIMIT}"
            )));
        }
    }
    match query_param(query, "page_token").filter(|t| !t.is_empty()) {
        Some(token) => Err(bad(&format!(
            "invalid page_token \"{token}\": pass next_page_token as it was sent"
        ))),
        None => Ok(()),
    }
}

/// `{key: {}}`, with `"next_page_token": null` when `paged`.
fn empty(key: &str, paged: bool) -> Value {
    if paged {
        json!({ key: {}, "next_page_token": null })
    } else {
        json!({ key: {} })
    }
}

impl Session {
    /// The answer to an option data request at `arrival`, or `None` when
    /// `segments` are not under `/v1beta1/options`.
    pub(crate) fn options_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        arrival: Duration,
    ) -> Option<Reply> {
        let ["v1beta1", "options", route @ ..] = segments else {
            return None;
        };
        if method != "GET" {
            return Some(Reply::error(405, code::BAD_REQUEST, "method not allowed"));
        }
        let now = self.stamp(arrival).unix_micros;
        let answer = match route {
            ["meta", "exchanges"] => return Some(Reply::json(200, table_json(OPTION_EXCHANGES))),
            ["bars"] => contracts(query)
                .and_then(|_| read_request(query, now))
                .map(|_| empty("bars", true)),
            ["trades"] => contracts(query)
                .and_then(|_| read_ticks(query, now, OPTION_FEEDS))
                .map(|_| empty("trades", true)),
            ["quotes", "latest"] | ["trades", "latest"] => contracts(query)
                .and_then(|_| one_of(query, "feed", OPTION_FEEDS, false))
                .map(|_| empty(route[0], false)),
            ["snapshots"] => contracts(query)
                .and_then(|_| one_of(query, "feed", OPTION_FEEDS, false))
                .and_then(|_| snapshot_paging(query))
                .map(|()| empty("snapshots", true)),
            ["snapshots", underlying] => underlying_symbol(underlying)
                .and_then(|()| one_of(query, "feed", OPTION_FEEDS, false))
                .and_then(|_| chain_filters(query))
                .map(|()| empty("snapshots", true)),
            _ => Err(Reply::error(404, code::NOT_FOUND, "endpoint not found")),
        };
        Some(answer.map_or_else(|refusal| refusal, |body| Reply::json(200, body)))
    }
}

/// Checks a chain's underlying: a stock symbol.
fn underlying_symbol(symbol: &str) -> Result<(), Reply> {
    let valid = !symbol.is_empty()
        && symbol.len() <= 10
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(bad(&format!(
            "invalid underlying_symbol \"{symbol}\": use a stock symbol such as SPY"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OCC symbols read as contracts; anything else does not.
    #[test]
    fn contract_symbols_are_occ_symbols() {
        for good in [
            "SPY261218C00600000",
            "A250117P00010000",
            "BRKB261218C00500000",
        ] {
            assert!(is_contract(good), "{good}");
        }
        for bad in [
            "SPY",
            "SPY261318C00600000",
            "SPY261218X00600000",
            "SPY261218C0060000",
            "spy261218C00600000",
            "TOOLONG261218C00600000",
            "",
        ] {
            assert!(!is_contract(bad), "{bad}");
        }
    }
}
