//! The market on the wire: Alpaca's Market Data API v2 latest quotes and
//! trades for stocks, read from the simulated broker's market-data port
//! (the prices its fills follow, so a bot that buys at the quote it read
//! fills where it read it), and the Trading API's assets. Like every
//! answer, each is stamped at the request's arrival.
//!
//! Entry point: [`Session::market_route`], which answers a market-data or
//! asset request, or `None` for a path that is neither. Imports `session`
//! and `wire`.

use std::time::Duration;

use fillproof_engine::MarketData as _;
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
            ("GET", ["v2", "assets"]) => Reply::json(
                200,
                Value::Array(self.symbols().iter().map(|s| self.asset_json(s)).collect()),
            ),
            ("GET", ["v2", "assets", name]) => match self.symbol_named(name) {
                Some(symbol) => Reply::json(200, self.asset_json(&symbol)),
                None => Reply::error(404, code::NOT_FOUND, &format!("asset not found: {name}")),
            },
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

    /// The scenario's symbol called `name` (a ticker, or an asset id).
    fn symbol_named(&self, name: &str) -> Option<String> {
        self.symbols()
            .into_iter()
            .find(|s| s == name || self.asset_id(s) == name)
    }

    /// `{"symbol": S, "quote": {...}}` or `{"symbol": S, "trade": {...}}`.
    async fn latest_one(&self, symbol: &str, kind: &str, arrival: Duration) -> Reply {
        match self.latest(symbol, kind, arrival).await {
            Some(value) => Reply::json(200, json!({ "symbol": symbol, kind: value })),
            None => unknown_symbol(symbol),
        }
    }

    /// `{"quotes": {S: {...}, ...}}` for the `symbols` the query names.
    async fn latest_many(&self, query: &str, kind: &str, arrival: Duration) -> Reply {
        let Some(symbols) = query_param(query, "symbols").filter(|s| !s.trim().is_empty()) else {
            return Reply::error(400, code::BAD_REQUEST, "symbols is required");
        };
        let names: Vec<&str> = symbols.split(',').map(str::trim).collect();
        if names.len() > MAX_SYMBOLS {
            return Reply::error(
                400,
                code::BAD_REQUEST,
                &format!("at most {MAX_SYMBOLS} symbols per request"),
            );
        }
        let one = kind.trim_end_matches('s');
        let mut found = Map::new();
        for name in names {
            match self.latest(name, one, arrival).await {
                Some(value) => {
                    found.insert(name.to_owned(), value);
                }
                None => return unknown_symbol(name),
            }
        }
        Reply::json(200, json!({ kind: found }))
    }

    /// The latest quote or trade of `symbol` at `arrival`, from the
    /// broker's market-data port, or `None` when it does not know the
    /// symbol.
    async fn latest(&self, symbol: &str, kind: &str, arrival: Duration) -> Option<Value> {
        let at = self.stamp(arrival).to_string();
        Some(if kind == "quote" {
            let quote = self.broker.latest_quote(symbol).await.ok()?;
            json!({
                "t": at, "ax": "V", "ap": number(quote.ask), "as": number(quote.ask_size),
                "bx": "V", "bp": number(quote.bid), "bs": number(quote.bid_size),
                "c": ["R"], "z": "A",
            })
        } else {
            let trade = self.broker.latest_trade(symbol).await.ok()?;
            json!({
                "t": at, "x": "V", "p": number(trade.price), "s": number(trade.size),
                "c": ["@"], "i": 1, "z": "A",
            })
        })
    }

    /// An asset as the Trading API shows it: a US equity with the flags
    /// the market gives it (tradable only when the account may trade it
    /// too).
    fn asset_json(&self, symbol: &str) -> Value {
        let asset = self.broker.market().asset(symbol).unwrap_or_default();
        let tradable =
            asset.tradable && !self.broker.model().not_tradable.iter().any(|s| s == symbol);
        json!({
            "id": self.asset_id(symbol),
            "class": "us_equity",
            "exchange": "NYSE",
            "symbol": symbol,
            "name": symbol,
            "status": if asset.active { "active" } else { "inactive" },
            "tradable": tradable,
            "marginable": true,
            "shortable": asset.shortable,
            "easy_to_borrow": asset.easy_to_borrow,
            "fractionable": asset.fractionable,
            "maintenance_margin_requirement": 30,
            "attributes": [],
        })
    }
}

/// A price or size as the data API sends it: a JSON number (a whole one
/// for a whole size).
fn number(value: Decimal) -> Value {
    if value.fract().is_zero() {
        if let Some(whole) = value.to_u64() {
            return Value::from(whole);
        }
    }
    value.to_f64().map_or(Value::Null, Value::from)
}

/// The answer for a symbol the scenario does not price.
fn unknown_symbol(symbol: &str) -> Reply {
    Reply::error(404, code::NOT_FOUND, &format!("symbol not found: {symbol}"))
}
