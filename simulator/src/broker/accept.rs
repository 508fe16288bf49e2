//! A submit the broker received: refused (a duplicate id, bounds, an
//! untradable symbol, buying power, the timeline or the risk check), or
//! accepted with its lifecycle drawn and written to the ledger.

use std::time::Duration;

use fillproof_engine::{BrokerError, Order, OrderClass, OrderRequest, stable_hash};
use rust_decimal::Decimal;

use super::world::World;
use super::{SimBroker, unregistered_key, uuid_shaped};
use crate::ledger::{LedgerOrder, LegRole, Links};
use crate::lifecycle::{Plan, draw, lifecycle_rng};
use crate::stream::Happening;
use crate::trace::AcceptRecord;

impl SimBroker {
    /// A submit arriving at `now`: refused in the order a broker checks
    /// (a duplicate id, what it cannot trade, buying power, then the
    /// order's drawn lifecycle), or accepted and written to the ledger.
    pub(super) fn accept(
        &self,
        world: &mut World,
        now: Duration,
        request: &OrderRequest,
        index: Option<u32>,
    ) -> Result<Order, BrokerError> {
        if world
            .ledger
            .by_client_id(&request.client_order_id)
            .is_some()
        {
            return Err(BrokerError::Unprocessable {
                message: "client_order_id must be unique".into(),
            });
        }
        let touch = self
            .market
            .quote_at(&request.symbol, now)
            .map_or(Decimal::ONE, |q| q.touch(request.side));
        let priced = super::terms::with_notional_qty(request, touch)?;
        if priced.is_some()
            && self
                .market
                .asset(&request.symbol)
                .is_some_and(|a| !a.fractionable)
        {
            return Err(BrokerError::Unprocessable {
                message: format!("asset {} is not fractionable", request.symbol),
            });
        }
        let request = priced.as_ref().unwrap_or(request);
        self.refuse_untradable(request)?;
        super::terms::check_type(request)?;
        self.refuse_by_asset(world, now, request)?;
        self.refuse_by_class(world, now, request, touch)?;
        self.refuse_auction_too_late(now, request)?;
        self.check_buying_power(world, now, request)?;
        let request = &super::terms::normalized(request);
        let key = index.map_or_else(|| unregistered_key(&request.client_order_id), u64::from);
        let plan = self.plan(key, index, request, now)?;
        let id = self.order_id(key, index, request);
        let order = ledger_order(index, id.clone(), request, now, plan);
        self.file(world, now, key, order);
        if request.order_class != fillproof_engine::OrderClass::Simple {
            self.file_legs(world, now, key, request, &id);
        }
        Ok(self.view_at(world, &id, now))
    }

    /// Refuses a bracket, OCO or OTO Alpaca would refuse against the
    /// `touch` it would trade at (see `terms::check_class`), a bracket or OTO whose entry would close a
    /// position (it must open one) and an OCO that would not close one.
    fn refuse_by_class(
        &self,
        world: &World,
        now: Duration,
        request: &OrderRequest,
        touch: Decimal,
    ) -> Result<(), BrokerError> {
        super::terms::check_class(request, touch)?;
        let held = world.ledger.position_at(&request.symbol, now) * request.side.sign();
        let refuse = |message: String| Err(BrokerError::Unprocessable { message });
        match request.order_class {
            fillproof_engine::OrderClass::Bracket | fillproof_engine::OrderClass::Oto
                if held < Decimal::ZERO =>
            {
                refuse(format!(
                    "{} orders must be entry orders: this {} would close part of the {} position",
                    request.order_class.as_str(),
                    request.side,
                    request.symbol
                ))
            }
            fillproof_engine::OrderClass::Oco if -held < request.qty => refuse(format!(
                "oco orders must be exit orders: a {} of {} closes at most {} of the {} position",
                request.side,
                request.qty,
                (-held).max(Decimal::ZERO),
                request.symbol
            )),
            _ => Ok(()),
        }
    }

    /// Refuses what a broker cannot trade: a quantity or limit out of
    /// bounds (within them no sum of the ledger's can overflow, whatever an
    /// engine sends), an asset that is not tradable, or one the market
    /// does not have (no reference price).
    fn refuse_untradable(&self, request: &OrderRequest) -> Result<(), BrokerError> {
        if request.qty <= Decimal::ZERO || request.qty > fillproof_engine::MAX_QTY {
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "qty must be more than 0 and at most {}",
                    fillproof_engine::MAX_QTY
                ),
            });
        }
        if let Some(limit) = request
            .limit_price
            .filter(|p| !fillproof_engine::price_in_range(*p))
        {
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "limit_price {limit} must be from {} to {}",
                    fillproof_engine::MIN_PRICE,
                    fillproof_engine::MAX_PRICE
                ),
            });
        }
        if let Some(limit) = request
            .limit_price
            .filter(|p| *p != crate::lifecycle::on_price_grid(*p))
        {
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "invalid limit_price {limit}. sub-penny increment does not fulfill minimum pricing criteria"
                ),
            });
        }
        if request.extended_hours
            && !(request.order_type == fillproof_engine::OrderType::Limit
                && request.time_in_force == fillproof_engine::TimeInForce::Day)
        {
            return Err(BrokerError::Unprocessable {
                message: "extended hours order must be DAY limit orders".into(),
            });
        }
        if self.model.not_tradable.contains(&request.symbol) {
            return Err(BrokerError::Unprocessable {
                message: format!("asset {} is not tradable", request.symbol),
            });
        }
        Ok(())
    }

    /// Refuses what the asset's flags forbid: a symbol the market does not
    /// list (filling it would invent a price), an inactive or untradable
    /// asset, a fractional quantity of an asset that is not fractionable
    /// (or not for a `day` order, or to sell short), and a sale past the
    /// position at `now` of an asset that is not shortable.
    fn refuse_by_asset(
        &self,
        world: &World,
        now: Duration,
        request: &OrderRequest,
    ) -> Result<(), BrokerError> {
        let symbol = &request.symbol;
        let refuse = |message: String| Err(BrokerError::Unprocessable { message });
        let Some(asset) = self.market.asset(symbol) else {
            return refuse(format!("asset {symbol} not found"));
        };
        if !asset.active {
            return refuse(format!("asset {symbol} is not active"));
        }
        if !asset.tradable {
            return refuse(format!("asset {symbol} is not tradable"));
        }
        let fractional = !request.qty.fract().is_zero();
        if fractional && !asset.fractionable {
            return refuse(format!("asset {symbol} is not fractionable"));
        }
        if fractional && request.time_in_force != fillproof_engine::TimeInForce::Day {
            return refuse("fractional orders must be DAY orders".into());
        }
        if request.side == fillproof_engine::Side::Sell && (fractional || !asset.shortable) {
            let held = world.ledger.position_at(symbol, now);
            if request.qty > held && fractional {
                return refuse("fractional orders are not allowed to short".into());
            }
            if request.qty > held {
                return Err(BrokerError::Forbidden {
                    message: format!("asset {symbol} cannot be sold short"),
                });
            }
        }
        Ok(())
    }

    /// Refuses an auction order placed too late for its auction, as Alpaca
    /// does when the market keeps regular hours: `opg` from 09:28 to 19:00
    /// New York time, `cls` from 15:50 to 19:00, on a trading day.
    fn refuse_auction_too_late(
        &self,
        now: Duration,
        request: &OrderRequest,
    ) -> Result<(), BrokerError> {
        let Some(sessions) = self.market.sessions() else {
            return Ok(());
        };
        let unix = sessions.unix_micros(now);
        let Some(day) = sessions
            .calendar()
            .trading_day(crate::calendar::Date::eastern(unix))
        else {
            return Ok(());
        };
        const MINUTE: i64 = 60_000_000;
        // Alpaca's windows: opg from 2 minutes before the open, cls from 10
        // minutes before the close (13:00 on a half day), each to 19:00 New
        // York time (9.5 hours after the open).
        let (from, name) = match request.time_in_force {
            fillproof_engine::TimeInForce::Opg => (day.open - 2 * MINUTE, "opg"),
            fillproof_engine::TimeInForce::Cls => (day.close - 10 * MINUTE, "cls"),
            _ => return Ok(()),
        };
        let until = day.open + (9 * 60 + 30) * MINUTE;
        if (from..until).contains(&unix) {
            let hhmm = crate::calendar::TradingDay::et_hhmm(from);
            return Err(BrokerError::Unprocessable {
                message: format!(
                    "{name} orders are not accepted from {hhmm} to 19:00 New York time on a \
                     trading day; send it before {hhmm} or after 19:00"
                ),
            });
        }
        Ok(())
    }

    /// Refuses a buy costing more than the account's buying power at
    /// `now`, when the scenario limits it (403).
    fn check_buying_power(
        &self,
        world: &World,
        now: Duration,
        request: &OrderRequest,
    ) -> Result<(), BrokerError> {
        let (fillproof_engine::Side::Buy, Some(initial)) = (request.side, self.model.buying_power)
        else {
            return Ok(());
        };
        let available = world.ledger.buying_power_at(initial, now, |o| {
            self.market.commit_price(&o.symbol, o.limit_price, now)
        });
        let cost = request.qty
            * self
                .market
                .commit_price(&request.symbol, request.limit_price, now);
        if cost > available {
            return Err(BrokerError::Forbidden {
                message: format!(
                    "insufficient buying power: order costs {cost}, available {available}"
                ),
            });
        }
        Ok(())
    }

    /// The order's lifecycle, drawn from its own stream (keyed by `key`),
    /// or the refusal it draws.
    fn plan(
        &self,
        key: u64,
        index: Option<u32>,
        request: &OrderRequest,
        now: Duration,
    ) -> Result<Plan, BrokerError> {
        let mut rng = lifecycle_rng(self.seed, key);
        // A harness run checks the timeline against each order's quantity
        // before it starts; an order whose quantity only its client knows
        // (a bot under `serve`) is refused here, never filled short, and
        // so is a group whose legs' scripted fills do not fit it.
        let misfit = |overfill: crate::lifecycle::Overfill| BrokerError::Unprocessable {
            message: format!("the scenario's timeline does not fit this order: {overfill}"),
        };
        for role in [LegRole::TakeProfit, LegRole::StopLoss] {
            let Some(script) =
                crate::lifecycle::leg_script(&self.model, index, &request.client_order_id, role)
            else {
                continue;
            };
            if !has_leg(request, role) {
                // Never dropped in silence: the script names a leg this
                // order does not have.
                let oco_head =
                    request.order_class == OrderClass::Oco && role == LegRole::TakeProfit;
                return Err(BrokerError::Unprocessable {
                    message: format!(
                        "the scenario's timeline scripts {} (line {}), and this {} order has no \
                         such leg{}",
                        script[0].target_name(),
                        script[0].location().line(),
                        request.order_class.as_str(),
                        if oco_head {
                            ": an OCO's take profit is the order itself; script it without `leg`"
                        } else {
                            ""
                        }
                    ),
                });
            }
            crate::lifecycle::scripted_fills(script, request.qty).map_err(misfit)?;
        }
        let plan =
            draw(&self.model, &self.market, &mut rng, index, request, now).map_err(misfit)?;
        if plan.reject_now {
            return Err(BrokerError::Unprocessable {
                message: "order rejected by broker risk check".into(),
            });
        }
        Ok(plan)
    }

    /// The broker's id for the order: UUID-shaped when asked for, else
    /// from its workload index or a hash of its client order id.
    fn order_id(&self, key: u64, index: Option<u32>, request: &OrderRequest) -> String {
        match index {
            _ if self.uuid_ids.is_some() => uuid_shaped(self.id_seed(), "order-id", key),
            Some(index) => format!("ord-{index:07}"),
            None => format!(
                "ord-x{:016x}",
                stable_hash(request.client_order_id.as_bytes())
            ),
        }
    }

    /// A `gtc` order's `done_for_day`: at the close of the session it
    /// works in from `from`, when its market keeps hours.
    pub(super) fn done_for_day(
        &self,
        order: &LedgerOrder,
        from: Duration,
    ) -> Option<(Happening, Duration)> {
        self.market
            .sessions()
            .filter(|_| order.time_in_force == fillproof_engine::TimeInForce::Gtc)
            .map(|sessions| sessions.trading_ends(from, order.extended_hours))
            .filter(|close| *close != Duration::MAX)
            .map(|close| (Happening::DoneForDay, close))
    }

    /// Traces the accepted `order`, writes it to the ledger and schedules
    /// its happenings on the stream.
    fn file(&self, world: &mut World, now: Duration, key: u64, order: LedgerOrder) {
        world.trace.push_accept(
            self.micros(now),
            AcceptRecord {
                order: order.index,
                id: &order.id,
                accepted_at: now,
                fills: &order.fills,
                broker_end: order.broker_end,
            },
        );
        // Accepted while the market is closed to it: `accepted` now, `new`
        // at the open; a `gtc` order still working at its first close is
        // `done_for_day` then.
        let routed = crate::stream::routed_at(&self.market, &order);
        let opening = match routed {
            Some(open) => vec![(Happening::Accepted, now), (Happening::New, open)],
            None => vec![(Happening::New, now)],
        };
        let close = self.done_for_day(&order, routed.unwrap_or(now));
        let happenings: Vec<(Happening, Duration)> = opening
            .into_iter()
            .chain(close)
            .chain(
                order
                    .fills
                    .iter()
                    .enumerate()
                    .map(|(piece, fill)| (Happening::Fill(piece), fill.at)),
            )
            .chain(order.broker_end.map(|(at, _)| (Happening::BrokerEnd, at)))
            .collect();
        let id = order.id.clone();
        world.ledger.insert(order);
        self.publish(world, &id, key, happenings);
    }
}

/// The ledger's record of `request`, accepted at `now` as `id` with its
/// drawn `plan`: a simple order, or the head of its group (a leg or a
/// replacement sets its links after).
pub(super) fn ledger_order(
    index: Option<u32>,
    id: String,
    request: &OrderRequest,
    now: Duration,
    plan: Plan,
) -> LedgerOrder {
    LedgerOrder {
        index,
        id,
        client_order_id: request.client_order_id.clone(),
        symbol: request.symbol.clone(),
        side: request.side,
        qty: request.qty,
        order_type: request.order_type,
        time_in_force: request.time_in_force,
        limit_price: request.limit_price,
        extended_hours: request.extended_hours,
        accepted_at: now,
        fills: plan.fills,
        broker_end: plan.broker_end,
        cancel_requested_at: None,
        cancel_effective_at: None,
        status_lag: plan.status_lag,
        filled_spelling: plan.filled_spelling,
        stop_price: request.stop_price,
        trail: request.trail,
        triggered_at: plan.triggered_at,
        notional: request.notional,
        links: Links {
            class: request.order_class,
            ..Links::default()
        },
    }
}

/// Whether `request` files a leg in `role`: a bracket both, an OTO the
/// one it names, an OCO its stop loss (its take profit is the order
/// itself).
fn has_leg(request: &OrderRequest, role: LegRole) -> bool {
    match (request.order_class, role) {
        (OrderClass::Bracket, _) => true,
        (OrderClass::Oto, LegRole::TakeProfit) => request.take_profit.is_some(),
        (OrderClass::Oto | OrderClass::Oco, LegRole::StopLoss) => request.stop_loss.is_some(),
        _ => false,
    }
}
