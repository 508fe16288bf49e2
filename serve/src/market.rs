//! The market on the wire: Alpaca's Market Data API v2 latest quotes and
//! trades for stocks, read from the simulated broker's market (the prices
//! its fills follow, so a bot that buys at the quote it read fills where
//! it read it), and the Trading API's assets. A quote is stamped at the
//! request's arrival; a trade is the tape's last print, stamped at its
//! step. Bars and snapshots are in `bars`.
//!
//! Entry point: [`Session::market_route`], which answers a market-data or
//! asset request, or `None` for a path that is neither; [`trade_json`],
//! [`quote_json`] and [`number`] give the shapes `bars` and the data
//! stream send too. Imports `bars`, `session` and `wire`.

use std::time::Duration;

use fillproof_engine::{MarketData as _, Quote, Timestamp};
use fillproof_simulator::TapeTrade;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use crate::api::query_param;
use crate::session::Session;
use crate::wire::{Reply, code};

/// The most symbols one multi-symbol request may name.
pub const MAX_SYMBOLS: usize = 500;

impl Session {
    /// The answer to a market-data or asset request at `arrival`, or
    /// `None` when `segments` name neither.
    pub(crate) async fn market_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        arrival: Duration,
    ) -> Option<Reply> {
        let reply = match (method, segments) {
            ("GET", ["v2", "stocks", symbol, "quotes", "latest"]) => {
                self.latest_one(symbol, "quote", arrival).await
            }
            ("GET", ["v2", "stocks", symbol, "trades", "latest"]) => {
                self.latest_one(symbol, "trade", arrival).await
            }
            ("GET", ["v2", "stocks", "quotes", "latest"]) => {
                self.latest_many(query, "quotes", arrival).await
            }
            ("GET", ["v2", "stocks", "trades", "latest"]) => {
                self.latest_many(query, "trades", arrival).await
            }
            ("GET", ["v2", "stocks", "bars"]) => self.bars_many(query, arrival),
            ("GET", ["v2", "stocks", symbol, "bars"]) => self.bars_one(symbol, query, arrival),
            ("GET", ["v2", "stocks", "bars", "latest"]) => self.latest_bars(query, arrival),
            ("GET", ["v2", "stocks", symbol, "bars", "latest"]) => self.latest_bar(symbol, arrival),
            ("GET", ["v2", "stocks", "snapshots"]) => self.snapshots(query, arrival),
            ("GET", ["v2", "stocks", symbol, "snapshot"]) => self.snapshot_one(symbol, arrival),
            ("GET", ["v2", "assets"]) => self.assets(query),
            ("GET", ["v2", "assets", name @ ..]) if !name.is_empty() => {
                // A crypto pair's slash is sent unencoded: `/v2/assets/BTC/USD`.
                let name = name.join("/");
                match self.symbol_named(&name) {
                    Some(symbol) => Reply::json(200, self.asset_json(&symbol)),
                    None => Reply::error(404, code::NOT_FOUND, &format!("asset not found: {name}")),
                }
            }
            (_, ["v2", "stocks" | "assets", ..]) => {
                Reply::error(405, code::BAD_REQUEST, "method not allowed")
            }
            _ => return None,
        };
        Some(reply)
    }

    /// The symbols the market lists, in the scenario's order.
    fn symbols(&self) -> Vec<String> {
        self.broker.market().symbols().map(str::to_owned).collect()
    }

    /// The scenario's symbol called `name` (a ticker, a crypto pair with
    /// or without its slash, or an asset id).
    fn symbol_named(&self, name: &str) -> Option<String> {
        self.symbols().into_iter().find(|s| {
            s == name || (s.contains('/') && s.replace('/', "") == name) || self.asset_id(s) == name
        })
    }

    /// `GET /v2/assets`: the listed assets of the `status` and
    /// `asset_class` asked for (any when not named), in the scenario's
    /// order; an unknown value is 422 naming it.
    fn assets(&self, query: &str) -> Reply {
        let filter = |name: &str, allowed: &[&str]| match query_param(query, name) {
            Some(value) if !allowed.contains(&value.as_str()) => Err(Reply::error(
                422,
                code::UNPROCESSABLE,
                &format!("invalid {name} \"{value}\": use {}", allowed.join(", ")),
            )),
            value => Ok(value),
        };
        let (status, class) = match (
            filter("status", &["active", "inactive"]),
            filter("asset_class", &["us_equity", "us_option", "crypto"]),
        ) {
            (Ok(status), Ok(class)) => (status, class),
            (Err(refusal), _) | (_, Err(refusal)) => return refusal,
        };
        let assets = self
            .symbols()
            .iter()
            .map(|s| self.asset_json(s))
            .filter(|a| status.as_ref().is_none_or(|s| a["status"] == s.as_str()))
            .filter(|a| class.as_ref().is_none_or(|c| a["class"] == c.as_str()))
            .collect();
        Reply::json(200, Value::Array(assets))
    }

    /// `{"symbol": S, "quote": {...}}` or `{"symbol": S, "trade": {...}}`.
    async fn latest_one(&self, symbol: &str, kind: &str, arrival: Duration) -> Reply {
        match self.latest(symbol, kind, arrival).await {
            Some(value) => Reply::json(200, json!({ "symbol": symbol, kind: value })),
            None => unknown_symbol(symbol),
        }
    }

    /// `{"quotes": {S: {...}, ...}}` for the `symbols` the query names.
    pub(crate) async fn latest_many(&self, query: &str, kind: &str, arrival: Duration) -> Reply {
        let names = match symbols_param(query) {
            Ok(names) => names,
            Err(refusal) => return refusal,
        };
        let one = kind.trim_end_matches('s');
        let mut found = Map::new();
        for name in names {
            match self.latest(&name, one, arrival).await {
                Some(value) => {
                    found.insert(name, value);
                }
                None => return unknown_symbol(&name),
            }
        }
        Reply::json(200, json!({ kind: found }))
    }

    /// The latest quote or trade of `symbol` at `arrival`, from the
    /// broker's market-data port, or `None` when it does not know the
    /// symbol.
    async fn latest(&self, symbol: &str, kind: &str, arrival: Duration) -> Option<Value> {
        Some(if kind == "quote" {
            let quote = self.broker.latest_quote(symbol).await.ok()?;
            quote_json(&quote, self.stamp(arrival))
        } else {
            // Known to the port, so listed.
            self.broker.latest_trade(symbol).await.ok()?;
            self.last_trade_json(symbol, arrival)
        })
    }

    /// The tape's last print of `symbol` at `arrival`, as Alpaca's trade;
    /// `null` when a halt has held it since the session began.
    pub(crate) fn last_trade_json(&self, symbol: &str, arrival: Duration) -> Value {
        self.broker
            .market()
            .last_trade(symbol, arrival)
            .map_or(Value::Null, |trade| {
                trade_json(&trade, self.stamp(trade.at))
            })
    }

    /// An asset as the Trading API shows it: a US equity, or a crypto
    /// pair (a symbol with a slash: class `crypto`, exchange `CRYPTO`, not
    /// marginable), with the flags the market gives it (tradable only
    /// when the account may trade it too).
    pub(crate) fn asset_json(&self, symbol: &str) -> Value {
        let asset = self.broker.market().asset(symbol).unwrap_or_default();
        let tradable =
            asset.tradable && !self.broker.model().not_tradable.iter().any(|s| s == symbol);
        let crypto = symbol.contains('/');
        json!({
            "id": self.asset_id(symbol),
            "class": if crypto { "crypto" } else { "us_equity" },
            "exchange": if crypto { "CRYPTO" } else { "NYSE" },
            "symbol": symbol,
            "name": symbol,
            "status": if asset.active { "active" } else { "inactive" },
            "tradable": tradable,
            "marginable": !crypto,
            "shortable": asset.shortable,
            "easy_to_borrow": asset.easy_to_borrow,
            "fractionable": asset.fractionable,
            "maintenance_margin_requirement": 30,
            "attributes": [],
        })
    }
}

/// A trade as the data API sends it (the REST shape; the stream adds `T`
/// and `S`): its step on the tape is its id.
pub(crate) fn trade_json(trade: &TapeTrade, at: Timestamp) -> Value {
    json!({
        "t": at.to_string(), "x": "V", "p": number(trade.price), "s": trade.size,
        "c": ["@"], "i": trade.step, "z": "A",
    })
}

/// A quote as the data API sends it, stamped `at`.
pub(crate) fn quote_json(quote: &Quote, at: Timestamp) -> Value {
    json!({
        "t": at.to_string(), "ax": "V", "ap": number(quote.ask), "as": number(quote.ask_size),
        "bx": "V", "bp": number(quote.bid), "bs": number(quote.bid_size),
        "c": ["R"], "z": "A",
    })
}

/// The `symbols` a multi-symbol request names (at most [`MAX_SYMBOLS`]),
/// or the refusal naming the parameter.
pub(crate) fn symbols_param(query: &str) -> Result<Vec<String>, Reply> {
    let Some(symbols) = query_param(query, "symbols").filter(|s| !s.trim().is_empty()) else {
        return Err(Reply::error(400, code::BAD_REQUEST, "symbols is required"));
    };
    let names: Vec<String> = symbols.split(',').map(|s| s.trim().to_owned()).collect();
    if names.len() > MAX_SYMBOLS {
        return Err(Reply::error(
            400,
            code::BAD_REQUEST,
            &format!("symbols: at most {MAX_SYMBOLS} symbols per request"),
        ));
    }
    Ok(names)
}

/// A price or size as the data API sends it: a JSON number (a whole one
/// for a whole size).
pub(crate) fn number(value: Decimal) -> Value {
    if value.fract().is_zero() {
        if let Some(whole) = value.to_u64() {
            return Value::from(whole);
        }
    }
    value.to_f64().map_or(Value::Null, Value::from)
}

/// The answer for a symbol the scenario does not price.
pub(crate) fn unknown_symbol(symbol: &str) -> Reply {
    Reply::error(404, code::NOT_FOUND, &format!("symbol not found: {symbol}"))
}
