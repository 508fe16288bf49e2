//! The session's own book beside the broker's ledger: the request count,
//! the order of arrivals, the client ids it made up, the resends it spotted,
//! and the claims.

use fillproof_engine::OrderRequest;
use indexmap::{IndexMap, IndexSet};
use rust_decimal::Decimal;

use crate::claims::ClaimBook;

/// An order's body, to tell a resend of the same order from a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    symbol: String,
    side: fillproof_engine::Side,
    qty: Decimal,
    limit_price: Option<Decimal>,
}

impl Intent {
    pub(crate) fn of(request: &OrderRequest) -> Self {
        Self {
            symbol: request.symbol.clone(),
            side: request.side,
            qty: request.qty,
            limit_price: request.limit_price,
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Requests this account received (the session's sequence counts
    /// every account's).
    pub(crate) requests: u64,
    /// Client order ids seen in submits, in arrival order: an order's
    /// arrival index is its place here.
    pub(crate) arrivals: IndexSet<String>,
    /// Client order ids the server made up, for submits that sent none.
    pub(crate) generated: u64,
    /// Orders placed by a submit with no client id whose answer the client
    /// never got: a later identical submit is a resend of the same order.
    pub(crate) undelivered: Vec<(Intent, String)>,
    /// Order id to the order it duplicates.
    pub(crate) duplicates: IndexMap<String, String>,
    pub(crate) claims: ClaimBook,
    /// When the bot said it restarted (`POST /_fillproof/restart`),
    /// session time.
    pub(crate) restarts: Vec<std::time::Duration>,
    /// Watchlists and account configurations (`surface`).
    pub(crate) surface: crate::surface::SurfaceState,
}
