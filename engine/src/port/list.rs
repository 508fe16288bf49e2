//! The broker's batched reads: the order list ([`OrderQuery`], Alpaca's
//! `GET /v2/orders`) and the fill activities ([`ActivityQuery`] and
//! [`FillActivity`], Alpaca's `GET /v2/account/activities/FILL`).

use rust_decimal::Decimal;

use crate::port::{BrokerError, OrderStatus, Side, Timestamp};

/// Which orders a list read returns, by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusFilter {
    /// Orders not yet in a terminal state (Alpaca's default).
    #[default]
    Open,
    /// Orders in a terminal state.
    Closed,
    /// Every order.
    All,
}

impl StatusFilter {
    /// The name on the wire: `open`, `closed`, `all`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// The order of a list read's answer, by submission (orders) or
/// transaction time (activities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Oldest first.
    Asc,
    /// Newest first (Alpaca's default).
    #[default]
    Desc,
}

impl Direction {
    /// The name on the wire: `asc`, `desc`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// The most orders one list read returns (Alpaca's bound on `limit`).
pub const MAX_LIST_LIMIT: u32 = 500;

/// The most fill activities one page holds (Alpaca's bound on
/// `page_size`).
pub const MAX_ACTIVITY_PAGE: u32 = 100;

/// A list read of orders: `GET /v2/orders` with its filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderQuery {
    /// Which orders, by status.
    pub status: StatusFilter,
    /// Only orders submitted after this stamp (exclusive).
    pub after: Option<Timestamp>,
    /// Only orders submitted until this stamp (exclusive).
    pub until: Option<Timestamp>,
    /// Oldest or newest first.
    pub direction: Direction,
    /// Only orders in these symbols; every symbol when empty.
    pub symbols: Vec<String>,
    /// A group's legs nested under its head (and listed nowhere else).
    pub nested: bool,
    /// At most this many orders, 1 to [`MAX_LIST_LIMIT`]. A read that
    /// returns `limit` orders may have left some out: the next page starts
    /// after the last one returned.
    pub limit: u32,
}

impl Default for OrderQuery {
    /// Alpaca's defaults: open orders, newest first, 50 of them.
    fn default() -> Self {
        Self {
            status: StatusFilter::Open,
            after: None,
            until: None,
            direction: Direction::Desc,
            symbols: Vec::new(),
            nested: false,
            limit: 50,
        }
    }
}

/// A 422 for a query field outside 1 to `most`, worded as Alpaca's
/// refusal reads: `invalid limit: 501 is not from 1 to 500`.
fn out_of_range(field: &str, value: u32, most: u32) -> Result<(), BrokerError> {
    if (1..=most).contains(&value) {
        return Ok(());
    }
    Err(BrokerError::Unprocessable {
        message: format!("invalid {field}: {value} is not from 1 to {most}"),
    })
}

impl OrderQuery {
    /// Checks the query against Alpaca's bounds.
    ///
    /// # Errors
    /// [`BrokerError::Unprocessable`] naming `limit` when it is outside 1
    /// to [`MAX_LIST_LIMIT`].
    pub fn check(&self) -> Result<(), BrokerError> {
        out_of_range("limit", self.limit, MAX_LIST_LIMIT)
    }
}

/// A read of the account's fill activities: `GET
/// /v2/account/activities/FILL`, one record per execution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityQuery {
    /// Only executions after this stamp (exclusive).
    pub after: Option<Timestamp>,
    /// Only executions until this stamp (exclusive).
    pub until: Option<Timestamp>,
    /// Oldest or newest first.
    pub direction: Direction,
    /// At most this many records, 1 to [`MAX_ACTIVITY_PAGE`].
    pub page_size: u32,
    /// The next page: the id of the last record of the page before.
    pub page_token: Option<String>,
}

impl Default for ActivityQuery {
    /// Alpaca's defaults: newest first, pages of 100.
    fn default() -> Self {
        Self {
            after: None,
            until: None,
            direction: Direction::Desc,
            page_size: MAX_ACTIVITY_PAGE,
            page_token: None,
        }
    }
}

impl ActivityQuery {
    /// Checks the query against Alpaca's bounds.
    ///
    /// # Errors
    /// [`BrokerError::Unprocessable`] naming `page_size` when it is
    /// outside 1 to [`MAX_ACTIVITY_PAGE`].
    pub fn check(&self) -> Result<(), BrokerError> {
        out_of_range("page_size", self.page_size, MAX_ACTIVITY_PAGE)
    }
}

/// Whether an execution completed its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FillKind {
    /// The execution left the order filled (`fill`).
    Fill,
    /// The order has quantity left (`partial_fill`).
    PartialFill,
}

/// One execution as the fill activities report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillActivity {
    /// The activity's id, also the page token of the page after it.
    pub id: String,
    /// The execution's id, when the broker gives one apart from the
    /// activity's: the id its trade update carries.
    pub execution_id: Option<String>,
    /// The broker's id of the order it filled.
    pub order_id: String,
    /// The order's symbol.
    pub symbol: String,
    /// The order's side.
    pub side: Side,
    /// The execution's quantity.
    pub qty: Decimal,
    /// The execution's price.
    pub price: Decimal,
    /// The order's filled quantity after it.
    pub cum_qty: Decimal,
    /// The order's quantity left after it.
    pub leaves_qty: Decimal,
    /// The order's status after it, as the broker spells it.
    pub order_status: OrderStatus,
    /// Whether it completed the order.
    pub kind: FillKind,
    /// When it happened at the broker.
    pub transaction_time: Timestamp,
}

impl FillActivity {
    /// The key an engine dedupes executions by: the execution id when
    /// the broker gives one, else the activity's.
    #[must_use]
    pub fn execution_key(&self) -> &str {
        self.execution_id.as_deref().unwrap_or(&self.id)
    }
}
