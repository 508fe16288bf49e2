//! Closing positions as Alpaca does: `DELETE /v2/positions/{symbol}`
//! (all of it, `qty` shares or a `percentage`) places a market order on
//! the other side; `DELETE /v2/positions` (`cancel_orders`) closes every
//! position and answers 207 with one entry per symbol.
//!
//! Shares already held for open orders on the closing side (a bracket's
//! exit legs among them, held or working) are not available: asking for
//! more is Alpaca's 403 `insufficient qty available for order`, with the
//! figures. Imports the session's placement (`api.rs`) and the wire.

use std::time::Duration;

use fillproof_engine::{OrderClass, OrderRequest, OrderType, Side, TimeInForce};
use fillproof_simulator::LegRole;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::api::query_param;
use crate::session::Session;
use crate::wire::{self, Reply, code};

/// A position's size and what of it open orders hold.
struct Holding {
    qty: Decimal,
    held_for_orders: Decimal,
}

impl Session {
    /// `DELETE /v2/positions/{symbol}`.
    pub(crate) async fn close_position(&self, symbol: &str, query: &str, now: Duration) -> Reply {
        let symbol = symbol.to_ascii_uppercase();
        let qty = match close_qty(query) {
            Ok(qty) => qty,
            Err(message) => return Reply::error(422, code::BAD_REQUEST, &message),
        };
        let holding = self.holding(&symbol, now);
        if holding.qty.is_zero() {
            return Reply::error(404, code::NOT_FOUND, "position does not exist");
        }
        let size = holding.qty.abs();
        let wanted = match qty {
            Close::All => size,
            Close::Qty(qty) => qty,
            Close::Percentage(pct) => {
                let share = size * pct / Decimal::ONE_HUNDRED;
                // Fractional only when the position is.
                if size.fract().is_zero() {
                    share.floor()
                } else {
                    share.round_dp(9)
                }
            }
        };
        if wanted <= Decimal::ZERO {
            return Reply::error(
                422,
                code::BAD_REQUEST,
                &format!("percentage leaves no whole share of the {size} held to close"),
            );
        }
        if let Some(refusal) = insufficient(&symbol, &holding, wanted) {
            return refusal;
        }
        self.place_for_client(closing_order(&symbol, holding.qty, wanted))
            .await
    }

    /// `DELETE /v2/positions`: every open order canceled first when
    /// `cancel_orders` is true (any case), then each position closed whole.
    pub(crate) async fn close_all_positions(&self, query: &str, arrival: Duration) -> Reply {
        let mut now = arrival;
        if query_param(query, "cancel_orders").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            self.cancel_all(now).await;
            // Alpaca cancels the orders before it liquidates: the closing
            // orders arrive once every cancel took effect, and a fill that
            // won its cancel's race is in the position closed.
            now = self.cancels_effective(now);
        }
        fillproof_simulator::at_arrival(now, self.close_each(now)).await
    }

    /// Closes every position open at `now`, whole: one entry per symbol.
    async fn close_each(&self, now: Duration) -> Reply {
        let positions = self.broker.with_ledger(|l| l.positions_at(now));
        let mut results = Vec::new();
        for (symbol, qty) in positions.into_iter().filter(|(_, q)| !q.is_zero()) {
            let holding = self.holding(&symbol, now);
            let reply = match insufficient(&symbol, &holding, qty.abs()) {
                Some(refusal) => refusal,
                None => {
                    self.place_for_client(closing_order(&symbol, qty, qty.abs()))
                        .await
                }
            };
            let (status, body) = match reply {
                Reply::Json { status, body } => (status, body),
                _ => (500, wire::error_body(50_000_000, "no answer")),
            };
            results.push(json!({ "symbol": symbol, "status": status, "body": body }));
        }
        Reply::json(207, Value::Array(results))
    }

    /// The instant every cancel requested so far has taken effect (its
    /// latency and the broker's processing), from `now` on.
    fn cancels_effective(&self, now: Duration) -> Duration {
        self.broker.with_ledger(|ledger| {
            ledger
                .orders()
                .iter()
                .filter_map(|o| o.cancel_effective_at)
                .fold(now, Duration::max)
        })
    }

    /// The position in `symbol` at `now` and the shares open orders on
    /// the closing side hold (their unfilled quantity, held legs
    /// included).
    fn holding(&self, symbol: &str, now: Duration) -> Holding {
        self.broker.with_ledger(|ledger| {
            let qty = ledger.position_at(symbol, now);
            let closing = if qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let held_for_orders = ledger
                .orders()
                .iter()
                .filter(|o| o.symbol == symbol && o.side == closing && o.accepted_at <= now)
                .filter(|o| !o.status_at(now).is_terminal())
                // A bracket's or OCO's two exits hold the same shares:
                // count them once, by the take profit.
                .filter(|o| {
                    !matches!(&o.links.parent, Some((_, LegRole::StopLoss)))
                        || !matches!(o.links.class, OrderClass::Bracket | OrderClass::Oco)
                })
                .map(|o| o.qty - o.filled_qty_at(now))
                .sum();
            Holding {
                qty,
                held_for_orders,
            }
        })
    }
}

/// How much of a position to close.
enum Close {
    All,
    Qty(Decimal),
    Percentage(Decimal),
}

/// The query's `qty` or `percentage` (not both); neither closes it all.
fn close_qty(query: &str) -> Result<Close, String> {
    let number = |name: &str| -> Result<Option<Decimal>, String> {
        query_param(query, name)
            .map(|text| {
                text.trim()
                    .parse::<Decimal>()
                    .map_err(|_| format!("{name} \"{text}\" is not a decimal number"))
            })
            .transpose()
    };
    match (number("qty")?, number("percentage")?) {
        (Some(_), Some(_)) => Err("only one of qty or percentage may be given".into()),
        (Some(qty), None) if qty <= Decimal::ZERO => Err("qty must be > 0".into()),
        (Some(qty), None) => Ok(Close::Qty(qty)),
        (None, Some(pct)) if pct <= Decimal::ZERO || pct > Decimal::ONE_HUNDRED => Err(format!(
            "percentage {pct} must be more than 0 and at most 100"
        )),
        (None, Some(pct)) => Ok(Close::Percentage(pct)),
        (None, None) => Ok(Close::All),
    }
}

/// Alpaca's 403 when `wanted` shares are more than the position leaves
/// free of open orders.
fn insufficient(symbol: &str, holding: &Holding, wanted: Decimal) -> Option<Reply> {
    let existing = holding.qty.abs();
    let available = (existing - holding.held_for_orders).max(Decimal::ZERO);
    (wanted > available).then(|| {
        Reply::json(
            403,
            json!({
                "code": code::FORBIDDEN,
                "message": format!(
                    "insufficient qty available for order (requested: {}, available: {})",
                    wanted.normalize(),
                    available.normalize()
                ),
                "symbol": symbol,
                "existing_qty": existing.normalize().to_string(),
                "held_for_orders": holding.held_for_orders.normalize().to_string(),
                "available": available.normalize().to_string(),
            }),
        )
    })
}

/// A market day order closing `wanted` of a position of `qty`.
fn closing_order(symbol: &str, qty: Decimal, wanted: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: String::new(),
        symbol: symbol.to_owned(),
        qty: wanted,
        side: if qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        },
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Day,
        limit_price: None,
        extended_hours: false,
        stop_price: None,
        trail: None,
        order_class: OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    }
}
