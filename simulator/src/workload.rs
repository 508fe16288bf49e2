//! The workload: the orders a run places, drawn from the scenario and the
//! seed. Each order's symbol, side and quantity come from its own stream, so
//! changing one order never shifts another.

use std::time::Duration;

use fillproof_engine::{OrderRequest, OrderType, Side, derive_rng};
use rand::Rng;
use rust_decimal::Decimal;

use crate::scenario::{ListedOrder, ListedSide, OrderKind, Scenario, SideSpec};

/// One order the workload places.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Position in the workload, from 0.
    pub index: u32,
    /// Which trader places it, from 0.
    pub trader: u32,
    /// When it is submitted, since the run began.
    pub submit_at: Duration,
    /// What is sent to the broker.
    pub request: OrderRequest,
    /// The symbol's reference price: what the trader expects to pay.
    pub reference_price: Decimal,
    /// What its trader does after placing it (a cancel, a replace).
    pub actions: crate::scenario::TraderActions,
    /// How far its bracket's exits are from the price it is placed at,
    /// when it is one ([`Intent::signal_at`]).
    pub exits: Option<crate::scenario::ExitsSpec>,
}

impl Intent {
    /// The trading signal this order stands for when its trader places it
    /// with the market at `price`: a bracket's exits (when the workload
    /// asks for them) are that far from this price, as a trader sets them
    /// from the market it sees.
    #[must_use]
    pub fn signal_at(&self, price: Decimal) -> fillproof_engine::Signal {
        let mut signal = self.signal();
        if let Some(exits) = &self.exits {
            let (take_profit, stop_loss) = crate::scenario::exits(exits, self.request.side, price);
            signal.take_profit = Some(take_profit);
            signal.stop_loss = Some(stop_loss);
        }
        signal
    }

    /// The trading signal this order stands for, as its trader
    /// (`trader-N`) hands it to an engine.
    #[must_use]
    pub fn signal(&self) -> fillproof_engine::Signal {
        fillproof_engine::Signal {
            stop_price: None,
            trail: None,
            client_order_id: self.request.client_order_id.clone(),
            trader_id: format!("trader-{}", self.trader),
            symbol: self.request.symbol.clone(),
            side: self.request.side,
            qty: self.request.qty,
            limit_price: self.request.limit_price,
            stop_loss: self.request.stop_loss.map(|s| s.stop_price),
            take_profit: self.request.take_profit,
            time_in_force: self.request.time_in_force,
            extended_hours: self.request.extended_hours,
        }
    }
}

/// The deterministic client order id of order `index` in a run with `seed`.
#[must_use]
pub fn client_order_id(seed: u64, index: u32) -> String {
    format!("fp-{seed:x}-{index}")
}

/// The workload index of `client_order_id` in a run with `seed`, when it is
/// one the workload gives ([`client_order_id`]).
#[must_use]
pub fn index_of_client_order_id(seed: u64, client_order_id: &str) -> Option<u32> {
    let index: u32 = client_order_id
        .strip_prefix(&format!("fp-{seed:x}-"))?
        .parse()
        .ok()?;
    (self::client_order_id(seed, index) == client_order_id).then_some(index)
}

/// The workload's orders, in submission order, generated one at a time so
/// that a run of millions of orders never holds them all.
pub struct Workload<'a> {
    scenario: &'a Scenario,
    seed: u64,
    orders: u32,
    next: u32,
    clock: Duration,
}

impl<'a> Workload<'a> {
    /// The workload of `scenario` under `seed`, with `orders` overriding the
    /// scenario's count when given.
    #[must_use]
    pub fn new(scenario: &'a Scenario, seed: u64, orders: Option<u32>) -> Self {
        Self {
            scenario,
            seed,
            orders: {
                let count = orders.unwrap_or(scenario.workload.orders.value);
                match scenario.workload.list.len() {
                    0 => count,
                    listed => count.min(u32::try_from(listed).unwrap_or(u32::MAX)),
                }
            },
            next: 0,
            clock: Duration::ZERO,
        }
    }

    /// How many orders it places.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.orders
    }

    /// True when it places none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders == 0
    }
}

impl Workload<'_> {
    /// Order `index` of a listed workload, as listed.
    fn listed(&self, index: u32, order: &ListedOrder) -> Intent {
        let spec = &self.scenario.workload;
        let reference_price = spec
            .reference_price
            .value
            .get(&order.symbol)
            .map_or(Decimal::ONE, |p| p.0);
        let (order_type, limit_price) = match order.order_type {
            OrderKind::Market => (OrderType::Market, None),
            OrderKind::Limit => (
                OrderType::Limit,
                Some(order.limit_price.map_or(reference_price, |p| p.0)),
            ),
        };
        Intent {
            index,
            trader: index % spec.traders.max(1),
            submit_at: order.at.0,
            request: OrderRequest {
                client_order_id: client_order_id(self.seed, index),
                symbol: order.symbol.clone(),
                qty: Decimal::from(order.qty.min(1_000_000_000)),
                side: match order.side {
                    ListedSide::Buy => Side::Buy,
                    ListedSide::Sell => Side::Sell,
                },
                order_type,
                time_in_force: order.time_in_force.unwrap_or(spec.time_in_force),
                limit_price,
                extended_hours: order.extended_hours,
                stop_price: None,
                trail: None,
                order_class: fillproof_engine::OrderClass::Simple,
                take_profit: None,
                stop_loss: None,
                notional: None,
            },
            reference_price,
            actions: crate::scenario::TraderActions::default(),
            exits: None,
        }
    }
}

/// What the workload draws for one order, in this order from its stream.
struct Drawn {
    gap: Duration,
    symbol: String,
    side: Side,
    qty: Decimal,
}

fn draw_order(spec: &crate::scenario::WorkloadSpec, rng: &mut impl Rng, index: u32) -> Drawn {
    let gap = match &spec.arrival {
        Some(arrival) if index > 0 => arrival.sample(rng),
        _ => Duration::ZERO,
    };
    let symbols = &spec.symbols.value;
    let symbol = symbols[rng.random_range(0..symbols.len())].clone();
    let side = match spec.side {
        SideSpec::Buy => Side::Buy,
        SideSpec::Sell => Side::Sell,
        SideSpec::Mixed { buy, sell } => {
            if rng.random::<f64>() * (buy + sell) < buy {
                Side::Buy
            } else {
                Side::Sell
            }
        }
    };
    let qty_draw = spec.qty.0.sample(rng).round();
    // Quantities are whole shares of at least one; a normal draw below
    // one becomes one.
    let qty = if qty_draw.is_finite() && qty_draw >= 1.0 {
        Decimal::from(qty_draw.min(1e9) as u64)
    } else {
        Decimal::ONE
    };
    Drawn {
        gap,
        symbol,
        side,
        qty,
    }
}

/// The quantity of order `index` of `scenario`'s workload under `seed`, as
/// the workload places it, drawn without the orders before it.
#[must_use]
pub fn order_qty(scenario: &Scenario, seed: u64, index: u32) -> Decimal {
    let spec = &scenario.workload;
    if let Some(listed) = spec.list.get(index as usize) {
        return Decimal::from(listed.value.qty.min(1_000_000_000));
    }
    let mut rng = derive_rng(seed, "workload", u64::from(index));
    draw_order(spec, &mut rng, index).qty
}

impl Iterator for Workload<'_> {
    type Item = Intent;

    fn next(&mut self) -> Option<Intent> {
        if self.next >= self.orders {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let spec = &self.scenario.workload;
        if let Some(listed) = spec.list.get(index as usize) {
            return Some(self.listed(index, &listed.value));
        }
        let mut rng = derive_rng(self.seed, "workload", u64::from(index));
        let Drawn {
            gap,
            symbol,
            side,
            qty,
        } = draw_order(spec, &mut rng, index);
        self.clock += gap;
        let reference_price = spec
            .reference_price
            .value
            .get(&symbol)
            .map_or(Decimal::ONE, |p| p.0);
        let (order_type, limit_price) = match spec.order_type {
            OrderKind::Market => (OrderType::Market, None),
            OrderKind::Limit => (OrderType::Limit, Some(reference_price)),
        };
        let traders = spec.traders.max(1);
        let actions = crate::scenario::trader_actions(
            spec.trader.as_ref(),
            self.seed,
            index,
            side,
            limit_price,
        );
        Some(Intent {
            index,
            trader: index % traders,
            submit_at: self.clock,
            request: OrderRequest {
                client_order_id: client_order_id(self.seed, index),
                symbol,
                qty,
                side,
                order_type,
                time_in_force: spec.time_in_force,
                limit_price,
                extended_hours: false,
                stop_price: None,
                trail: None,
                order_class: fillproof_engine::OrderClass::Simple,
                take_profit: None,
                stop_loss: None,
                notional: None,
            },
            reference_price,
            actions,
            exits: spec.exits,
        })
    }
}
