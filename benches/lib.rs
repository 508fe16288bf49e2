//! Helpers shared by the criterion benchmarks in `benches/`: where the
//! bundled scenarios are, and a broker that answers at once. The benches
//! run on the same allocator as the `fillproof` binary. The bench targets
//! (`benches/*.rs`) may import every crate of the workspace; this library
//! imports only the engine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use fillproof_engine::{
    Broker, BrokerError, Decimal, Order, OrderRequest, OrderStatus, OrderType, Position, Side,
    TimeInForce,
};

/// The allocator the `fillproof` binary uses, so a bench measures what a
/// run costs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The workspace's `scenarios/` folder.
#[must_use]
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// A broker that answers every call at once, with no latency and no
/// faults: its order reads "new" for the first `fill_after` reads and
/// "filled" after, so a monitor makes exactly that many polls. It measures
/// the engine's own cost per poll.
pub struct InstantBroker {
    fill_after: u32,
    reads: AtomicU32,
}

impl InstantBroker {
    /// A broker whose order fills on read number `fill_after`.
    #[must_use]
    pub fn new(fill_after: u32) -> Self {
        Self {
            fill_after,
            reads: AtomicU32::new(0),
        }
    }

    /// Forgets the reads so far.
    pub fn reset(&self) {
        self.reads.store(0, Ordering::Relaxed);
    }

    /// The order as submitted.
    #[must_use]
    pub fn order() -> Order {
        Order {
            id: "ord-1".into(),
            client_order_id: "c-1".into(),
            symbol: "SPY".into(),
            qty: Decimal::from(100),
            side: Side::Buy,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            limit_price: None,
            status: OrderStatus::New,
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            submitted_at: None,
            filled_at: None,
            canceled_at: None,
            updated_at: None,
            extended_hours: false,
            stop_price: None,
            trail: None,
            hwm: None,
            order_class: fillproof_engine::OrderClass::Simple,
            legs: Vec::new(),
            replaces: None,
            replaced_by: None,
            notional: None,
        }
    }
}

impl Broker for InstantBroker {
    async fn submit_order(&self, _request: &OrderRequest) -> Result<Order, BrokerError> {
        Ok(Self::order())
    }

    async fn get_order(&self, _order_id: &str) -> Result<Order, BrokerError> {
        let read = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        let mut order = Self::order();
        if read >= self.fill_after {
            order.status = OrderStatus::Filled;
            order.filled_qty = order.qty;
            order.filled_avg_price = Some(Decimal::from(590));
        }
        Ok(order)
    }

    async fn get_order_by_client_id(&self, order_id: &str) -> Result<Order, BrokerError> {
        self.get_order(order_id).await
    }

    async fn cancel_order(&self, _order_id: &str) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn replace_order(
        &self,
        _order_id: &str,
        _replace: &fillproof_engine::ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        Ok(Self::order())
    }

    async fn get_position(&self, _symbol: &str) -> Result<Option<Position>, BrokerError> {
        Ok(None)
    }
}
