//! Alpaca's screener (`/v1beta1/screener/...`, alpaca-py's
//! `ScreenerClient`), over the symbols the scenario prices and the tape
//! the market prints.
//!
//! - `stocks/most-actives?by=volume|trades&top=` (`top` 1 to 100, default
//!   10; `by` default `volume`): `{"most_actives": [{"symbol", "volume",
//!   "trade_count"}], "last_updated"}`, the stock symbols (those without
//!   a slash) by their volume or trades over the current day (the day bar
//!   in progress), most first, ties in name order; a symbol with no trade
//!   today is not listed.
//! - `{stocks,crypto}/movers?top=` (`top` 1 to 50, default 10):
//!   `{"gainers": [...], "losers": [...], "market_type", "last_updated"}`,
//!   each `{"symbol", "percent_change", "change", "price"}`: the tape's
//!   last price now against the previous day's close, or the price when
//!   the session began for a symbol with no earlier day. Gainers rose
//!   (most first), losers fell (most first); a symbol that did not move
//!   is neither.
//!
//! `last_updated` is the request's arrival. A malformed `top` or `by` is
//! 400 naming it, one out of range 422. Entry point:
//! [`Session::screener_route`]. Imports `bars`, `session` and `wire`.

use std::time::Duration;

use fillproof_simulator::Timeframe;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::api::query_param;
use crate::bars::{bad, one_of, unprocessable};
use crate::market::number;
use crate::session::Session;
use crate::wire::{Reply, code};

/// The `top` a request gets when it names none.
const DEFAULT_TOP: u64 = 10;

/// `top`: 1 to `max`, [`DEFAULT_TOP`] when absent.
fn top(query: &str, max: u64) -> Result<usize, Reply> {
    let Some(text) = query_param(query, "top") else {
        return usize::try_from(DEFAULT_TOP).map_err(|_| bad("top"));
    };
    let top: u64 = text
        .trim()
        .parse()
        .map_err(|_| bad(&format!("invalid top \"{text}\": use a whole number")))?;
    if !(1..=max).contains(&top) {
        return Err(unprocessable(&format!(
            "top {text} is out of range: use 1 to {max}"
        )));
    }
    usize::try_from(top).map_err(|_| bad(&format!("invalid top \"{text}\"")))
}

/// One symbol's move since the reference price.
struct Move {
    symbol: String,
    percent: Decimal,
    change: Decimal,
    price: Decimal,
}

impl Move {
    fn json(&self) -> Value {
        json!({
            "symbol": self.symbol, "percent_change": number(self.percent),
            "change": number(self.change), "price": number(self.price),
        })
    }
}

impl Session {
    /// The answer to a screener request at `arrival`, or `None` when
    /// `segments` are not under `/v1beta1/screener`.
    pub(crate) fn screener_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        arrival: Duration,
    ) -> Option<Reply> {
        let ["v1beta1", "screener", route @ ..] = segments else {
            return None;
        };
        if method != "GET" {
            return Some(Reply::error(405, code::BAD_REQUEST, "method not allowed"));
        }
        let answer = match route {
            ["stocks", "most-actives"] => self.most_actives(query, arrival),
            ["stocks", "movers"] => self.movers(query, arrival, false),
            ["crypto", "movers"] => self.movers(query, arrival, true),
            _ => Err(Reply::error(404, code::NOT_FOUND, "endpoint not found")),
        };
        Some(answer.map_or_else(|refusal| refusal, |body| Reply::json(200, body)))
    }

    /// The listed symbols of one kind: crypto pairs or stocks.
    fn symbols_of(&self, crypto: bool) -> Vec<String> {
        self.broker
            .market()
            .symbols()
            .filter(|s| s.contains('/') == crypto)
            .map(str::to_owned)
            .collect()
    }

    fn most_actives(&self, query: &str, arrival: Duration) -> Result<Value, Reply> {
        let top = top(query, 100)?;
        let by_trades =
            one_of(query, "by", &["volume", "trades"], false)?.as_deref() == Some("trades");
        let symbols = self.symbols_of(false);
        self.snapshot_budget(&symbols, arrival)?;
        let now = self.stamp(arrival).unix_micros;
        let mut actives = Vec::new();
        for symbol in symbols {
            if let Some(day) = self.bar_holding(&symbol, Timeframe::Day, now, now + 1)? {
                actives.push((symbol, day.v, day.n));
            }
        }
        actives.sort_by(|a, b| {
            let key = |x: &(String, u64, u64)| if by_trades { x.2 } else { x.1 };
            key(b).cmp(&key(a)).then_with(|| a.0.cmp(&b.0))
        });
        let list: Vec<Value> = actives
            .into_iter()
            .take(top)
            .map(|(symbol, volume, trades)| {
                json!({ "symbol": symbol, "volume": volume, "trade_count": trades })
            })
            .collect();
        Ok(json!({
            "most_actives": list,
            "last_updated": self.stamp(arrival).to_string(),
        }))
    }

    /// `symbol`'s move at `arrival`: its last price against the previous
    /// day's close, or the session's first price; `None` with no price.
    fn move_of(&self, symbol: &str, arrival: Duration) -> Result<Option<Move>, Reply> {
        let market = self.broker.market();
        let Some(last) = market.last_trade(symbol, arrival) else {
            return Ok(None);
        };
        let today = Timeframe::Day.bucket_start(self.stamp(arrival).unix_micros);
        let previous = self.bar_holding(symbol, Timeframe::Day, today - 1, today)?;
        let reference = match previous {
            Some(bar) => bar.c,
            None => market
                .price_at(symbol, Duration::ZERO)
                .unwrap_or(last.price),
        };
        if reference.is_zero() {
            return Ok(None);
        }
        let change = last.price - reference;
        Ok(Some(Move {
            symbol: symbol.to_owned(),
            percent: (change / reference * Decimal::ONE_HUNDRED).round_dp(2),
            change,
            price: last.price,
        }))
    }

    fn movers(&self, query: &str, arrival: Duration, crypto: bool) -> Result<Value, Reply> {
        let top = top(query, 50)?;
        let symbols = self.symbols_of(crypto);
        self.snapshot_budget(&symbols, arrival)?;
        let mut moves = Vec::new();
        for symbol in &symbols {
            moves.extend(self.move_of(symbol, arrival)?);
        }
        let mut gainers: Vec<&Move> = moves.iter().filter(|m| m.change > Decimal::ZERO).collect();
        gainers.sort_by(|a, b| {
            b.percent
                .cmp(&a.percent)
                .then_with(|| a.symbol.cmp(&b.symbol))
        });
        let mut losers: Vec<&Move> = moves.iter().filter(|m| m.change < Decimal::ZERO).collect();
        losers.sort_by(|a, b| {
            a.percent
                .cmp(&b.percent)
                .then_with(|| a.symbol.cmp(&b.symbol))
        });
        let list = |moves: Vec<&Move>| -> Vec<Value> {
            moves.iter().take(top).map(|m| m.json()).collect()
        };
        Ok(json!({
            "gainers": list(gainers),
            "losers": list(losers),
            "market_type": if crypto { "crypto" } else { "stocks" },
            "last_updated": self.stamp(arrival).to_string(),
        }))
    }
}
