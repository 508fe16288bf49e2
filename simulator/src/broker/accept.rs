//! A submit the broker received: refused (a duplicate id, bounds, an
//! untradable symbol, buying power, the timeline or the risk check), or
//! accepted with its lifecycle drawn and written to the ledger.

use std::time::Duration;

use fillproof_engine::{BrokerError, Order, OrderRequest, stable_hash};
use rust_decimal::Decimal;

use super::world::World;
use super::{SimBroker, unregistered_key, uuid_shaped};
use crate::ledger::LedgerOrder;
use crate::lifecycle::{draw, lifecycle_rng};
use crate::stream::Happening;
use crate::trace::AcceptRecord;

impl SimBroker {
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
        // A broker refuses what it cannot trade; within these bounds no sum
        // of the ledger's can overflow, whatever an engine sends.
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
        if self.model.not_tradable.contains(&request.symbol) {
            return Err(BrokerError::Unprocessable {
                message: format!("asset {} is not tradable", request.symbol),
            });
        }
        let reference_of = |symbol: &str, limit: Option<Decimal>| {
            limit
                .or_else(|| self.model.reference_prices.get(symbol).copied())
                .unwrap_or(Decimal::ONE)
        };
        if let (fillproof_engine::Side::Buy, Some(initial)) =
            (request.side, self.model.buying_power)
        {
            let available = world
                .ledger
                .buying_power_at(initial, now, |o| reference_of(&o.symbol, o.limit_price));
            let cost = request.qty * reference_of(&request.symbol, request.limit_price);
            if cost > available {
                return Err(BrokerError::Forbidden {
                    message: format!(
                        "insufficient buying power: order costs {cost}, available {available}"
                    ),
                });
            }
        }
        let key = index.map_or_else(|| unregistered_key(&request.client_order_id), u64::from);
        let mut rng = lifecycle_rng(self.seed, key);
        // A harness run checks the timeline against each order's quantity
        // before it starts; an order whose quantity only its client knows
        // (a bot under `serve`) is refused here, never filled short.
        let plan = draw(&self.model, &mut rng, index, request, now).map_err(|overfill| {
            BrokerError::Unprocessable {
                message: format!("the scenario's timeline does not fit this order: {overfill}"),
            }
        })?;
        if plan.reject_now {
            return Err(BrokerError::Unprocessable {
                message: "order rejected by broker risk check".into(),
            });
        }
        let id = match index {
            _ if self.uuid_ids => uuid_shaped(self.seed, "order-id", key),
            Some(index) => format!("ord-{index:07}"),
            None => format!(
                "ord-x{:016x}",
                stable_hash(request.client_order_id.as_bytes())
            ),
        };
        world.trace.push_accept(
            self.micros(now),
            AcceptRecord {
                order: index,
                id: &id,
                accepted_at: now,
                fills: &plan.fills,
                broker_end: plan.broker_end,
            },
        );
        let order = LedgerOrder {
            index,
            id,
            client_order_id: request.client_order_id.clone(),
            symbol: request.symbol.clone(),
            side: request.side,
            qty: request.qty,
            order_type: request.order_type,
            time_in_force: request.time_in_force,
            limit_price: request.limit_price,
            accepted_at: now,
            fills: plan.fills,
            broker_end: plan.broker_end,
            cancel_requested_at: None,
            cancel_effective_at: None,
            status_lag: plan.status_lag,
            filled_spelling: plan.filled_spelling,
        };
        let snapshot = order.snapshot(now, self.epoch_unix_micros());
        let happenings: Vec<(Happening, Duration)> = std::iter::once((Happening::New, now))
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
        Ok(snapshot)
    }
}
