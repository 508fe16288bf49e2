//! The rest of Alpaca's Market Data API, beside the latest quotes and
//! trades, bars and snapshots (`market`, `bars`): stock quotes and trades
//! (`history`), crypto (`crypto`), options (`options`), the screener
//! (`screener`), news, corporate actions, auctions and the reference
//! tables (`tables`). Like the bars, each is read from the market at the
//! request's arrival without a call of the broker (the latest quotes and
//! trades, crypto's among them, go through its market-data port as the
//! stocks' do).
//!
//! What the simulated world does not have it answers as Alpaca answers a
//! request that matches nothing, once the request reads as Alpaca reads
//! it (a malformed parameter is 400 naming it, one out of range 422):
//!
//! - News (`GET /v1beta1/news`): `{"news": [], "next_page_token": null}`
//!   (no news is published in the simulated world). `start` and `end`
//!   (RFC 3339 or a date, `end` not before `start`), `sort` (`asc` or
//!   `desc`, any case), `limit` (1 to 50), `include_content` and
//!   `exclude_contentless` (`true` or `false`), `symbols` and
//!   `page_token` are checked.
//! - Corporate actions (`GET /v1/corporate-actions`):
//!   `{"corporate_actions": {}, "next_page_token": null}` (the scenario's
//!   market has none). `types` (Alpaca's thirteen), `start` and `end`
//!   (dates), `limit` (1 to 1,000), `sort` are checked.
//! - Auctions (`GET /v2/stocks/{symbol}/auctions`, `GET
//!   /v2/stocks/auctions?symbols=`): the simulated exchange trades
//!   continuously and holds no opening or closing auction, so each symbol
//!   has none: `{"symbol", "auctions": [], "next_page_token": null}` and
//!   `{"auctions": {}, "next_page_token": null}`; a symbol not listed is
//!   404, the time range and paging are checked as for trades.
//!
//! Entry point: [`Session::data_route`]. Imports `api`'s query reading,
//! `bars`, `history`, `session`, `tables`, `wire` and the modules it
//! routes to.

use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_simulator::Date;
use serde_json::json;

use crate::api::query_param;
use crate::bars::{FEEDS, bad, instant, one_of, unprocessable};
use crate::history::{Tick, read_ticks};
use crate::market::unknown_symbol;
use crate::session::Session;
use crate::tables::{
    CQS_QUOTE_CONDITIONS, CTS_TRADE_CONDITIONS, STOCK_EXCHANGES, UTP_QUOTE_CONDITIONS,
    UTP_TRADE_CONDITIONS, table_json,
};
use crate::wire::{Reply, code};

/// The most articles a news page holds.
const MAX_NEWS_LIMIT: u64 = 50;

/// The most corporate actions a page holds.
const MAX_ACTIONS_LIMIT: u64 = 1_000;

/// The corporate action types Alpaca takes in `types`.
const ACTION_TYPES: &[&str] = &[
    "reverse_split",
    "forward_split",
    "unit_split",
    "cash_dividend",
    "stock_dividend",
    "spin_off",
    "cash_merger",
    "stock_merger",
    "stock_and_cash_merger",
    "redemption",
    "name_change",
    "worthless_removal",
    "rights_distribution",
];

impl Session {
    /// The answer to a market-data request this module serves, at
    /// `arrival`, or `None` when `segments` name none of its routes.
    pub(crate) async fn data_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        arrival: Duration,
    ) -> Option<Reply> {
        if let Some(reply) = self.crypto_route(method, segments, query, arrival).await {
            return Some(reply);
        }
        if let Some(reply) = self.options_route(method, segments, query, arrival) {
            return Some(reply);
        }
        if let Some(reply) = self.screener_route(method, segments, query, arrival) {
            return Some(reply);
        }
        let reply = match (method, segments) {
            ("GET", ["v2", "stocks", "quotes"]) => self.ticks_many(query, arrival, Tick::Quotes),
            ("GET", ["v2", "stocks", "trades"]) => self.ticks_many(query, arrival, Tick::Trades),
            ("GET", ["v2", "stocks", "auctions"]) => self.auctions_many(query, arrival),
            ("GET", ["v2", "stocks", "meta", "exchanges"]) => {
                Reply::json(200, table_json(STOCK_EXCHANGES))
            }
            ("GET", ["v2", "stocks", "meta", "conditions", kind]) => conditions(kind, query),
            ("GET", ["v2", "stocks", symbol, "quotes"]) => {
                self.ticks_one(symbol, query, arrival, Tick::Quotes)
            }
            ("GET", ["v2", "stocks", symbol, "trades"]) => {
                self.ticks_one(symbol, query, arrival, Tick::Trades)
            }
            ("GET", ["v2", "stocks", symbol, "auctions"]) => {
                self.auctions_one(symbol, query, arrival)
            }
            ("GET", ["v1beta1", "news"]) => news(query),
            ("GET", ["v1", "corporate-actions"]) => corporate_actions(query),
            (_, ["v1beta1", "news"] | ["v1", "corporate-actions"]) => {
                Reply::error(405, code::BAD_REQUEST, "method not allowed")
            }
            _ => return None,
        };
        Some(reply)
    }

    /// `GET /v2/stocks/{symbol}/auctions`: none (see the module's doc).
    fn auctions_one(&self, symbol: &str, query: &str, arrival: Duration) -> Reply {
        if self.broker.market().step_of(symbol).is_none() {
            return unknown_symbol(symbol);
        }
        match read_ticks(query, self.stamp(arrival).unix_micros, FEEDS) {
            Ok(_) => Reply::json(
                200,
                json!({ "symbol": symbol, "auctions": [], "next_page_token": null }),
            ),
            Err(refusal) => refusal,
        }
    }

    /// `GET /v2/stocks/auctions?symbols=`: none (see the module's doc).
    fn auctions_many(&self, query: &str, arrival: Duration) -> Reply {
        let result = self
            .listed_symbols(query)
            .and_then(|_| read_ticks(query, self.stamp(arrival).unix_micros, FEEDS));
        match result {
            Ok(_) => Reply::json(200, json!({ "auctions": {}, "next_page_token": null })),
            Err(refusal) => refusal,
        }
    }
}

/// `GET /v2/stocks/meta/conditions/{trade,quote}?tape=A|B|C`.
fn conditions(kind: &str, query: &str) -> Reply {
    let Some(tape) = query_param(query, "tape") else {
        return bad("tape is required: A, B or C");
    };
    let utp = match tape.as_str() {
        "A" | "B" => false,
        "C" => true,
        other => return bad(&format!("invalid tape \"{other}\": use A, B or C")),
    };
    let table = match (kind, utp) {
        ("trade", false) => CTS_TRADE_CONDITIONS,
        ("trade", true) => UTP_TRADE_CONDITIONS,
        ("quote", false) => CQS_QUOTE_CONDITIONS,
        ("quote", true) => UTP_QUOTE_CONDITIONS,
        (other, _) => {
            return bad(&format!(
                "invalid tick type \"{other}\": use trade or quote"
            ));
        }
    };
    Reply::json(200, table_json(table))
}

/// `name`'s whole-number value, 1 to `max`, when given.
fn bounded(query: &str, name: &str, max: u64) -> Result<(), Reply> {
    let Some(text) = query_param(query, name) else {
        return Ok(());
    };
    let value: u64 = text
        .trim()
        .parse()
        .map_err(|_| bad(&format!("invalid {name} \"{text}\": use a whole number")))?;
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(unprocessable(&format!(
            "{name} {text} is out of range: use 1 to {max}"
        )))
    }
}

/// `start` and `end` when given, each read by `read`, `end` not before
/// `start`.
fn range(query: &str, read: impl Fn(&str, &str) -> Result<i64, Reply>) -> Result<(), Reply> {
    let start = query_param(query, "start")
        .map(|t| read("start", &t))
        .transpose()?;
    let end = query_param(query, "end")
        .map(|t| read("end", &t))
        .transpose()?;
    if let (Some(start), Some(end)) = (start, end) {
        if end < start {
            return Err(unprocessable(&format!(
                "end {} is before start {}",
                Timestamp::from_unix_micros(end),
                Timestamp::from_unix_micros(start)
            )));
        }
    }
    Ok(())
}

/// `GET /v1beta1/news`: no news (see the module's doc).
fn news(query: &str) -> Reply {
    let checked = range(query, instant)
        .and_then(|()| bounded(query, "limit", MAX_NEWS_LIMIT))
        .and_then(|()| {
            let sort = query_param(query, "sort").map(|s| s.to_ascii_lowercase());
            match sort.as_deref() {
                None | Some("asc" | "desc") => Ok(()),
                Some(other) => Err(bad(&format!("invalid sort \"{other}\": use asc or desc"))),
            }
        })
        .and_then(|()| {
            for name in ["include_content", "exclude_contentless"] {
                if let Some(value) = query_param(query, name) {
                    if !["true", "false"].contains(&value.to_ascii_lowercase().as_str()) {
                        return Err(bad(&format!(
                            "invalid {name} \"{value}\": use true or false"
                        )));
                    }
                }
            }
            Ok(())
        })
        .and_then(|()| no_page(query));
    match checked {
        Ok(()) => Reply::json(200, json!({ "news": [], "next_page_token": null })),
        Err(refusal) => refusal,
    }
}

/// A date parameter of the corporate actions, as New York's midnight.
fn action_date(name: &str, text: &str) -> Result<i64, Reply> {
    text.trim()
        .parse::<Date>()
        .ok()
        .and_then(Date::eastern_midnight)
        .ok_or_else(|| {
            bad(&format!(
                "invalid {name} \"{text}\": use a date such as 2025-01-02"
            ))
        })
}

/// `GET /v1/corporate-actions`: none (see the module's doc).
fn corporate_actions(query: &str) -> Reply {
    let checked = range(query, action_date)
        .and_then(|()| one_of(query, "types", ACTION_TYPES, true))
        .and_then(|_| one_of(query, "sort", &["asc", "desc"], false))
        .and_then(|_| bounded(query, "limit", MAX_ACTIONS_LIMIT))
        .and_then(|()| no_page(query));
    match checked {
        Ok(()) => Reply::json(
            200,
            json!({ "corporate_actions": {}, "next_page_token": null }),
        ),
        Err(refusal) => refusal,
    }
}

/// Refuses a `page_token`: a search with nothing found has no next page,
/// so no token is this server's.
fn no_page(query: &str) -> Result<(), Reply> {
    match query_param(query, "page_token").filter(|t| !t.is_empty()) {
        Some(token) => Err(bad(&format!(
            "invalid page_token \"{token}\": pass next_page_token as it was sent"
        ))),
        None => Ok(()),
    }
}
