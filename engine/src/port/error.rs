//! Errors: what a broker can answer instead of an order, what a bad
//! configuration is, and how a submission can end without an order.

use std::time::Duration;

use thiserror::Error;

/// How to react to a [`BrokerError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The broker did not act on the request and says so (429): retry after
    /// the wait it asks for.
    Transient,
    /// The request may or may not have been applied (timeout, reset, any
    /// 5xx, unparseable body): a read can simply be retried; a write must
    /// first be reconciled by reading the broker's state.
    Ambiguous,
    /// Retrying will not help (403, 404, 422): fail fast.
    Permanent,
}

/// What a broker answered instead of a result, in terms an HTTP adapter can
/// map onto.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrokerError {
    /// No response arrived in time; the request may have been applied.
    #[error("request timed out")]
    Timeout,
    /// The connection dropped; the request may have been applied.
    #[error("connection reset")]
    ConnectionReset,
    /// An HTTP 5xx answer.
    #[error("HTTP {status} from broker: {message}")]
    Server {
        /// The status code, 500..=599.
        status: u16,
        /// The body's message, if any.
        message: String,
    },
    /// HTTP 429: too many requests.
    #[error("HTTP 429 rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// The `Retry-After` header, when the broker sent one.
        retry_after: Option<Duration>,
    },
    /// HTTP 404: no such order or position.
    #[error("HTTP 404 not found: {message}")]
    NotFound {
        /// The body's message.
        message: String,
    },
    /// HTTP 403: refused, e.g. insufficient buying power.
    #[error("HTTP 403 forbidden: {message}")]
    Forbidden {
        /// The body's message.
        message: String,
    },
    /// HTTP 422: the request is well formed but cannot be applied, e.g.
    /// `order is already in "filled" state`.
    #[error("HTTP 422 unprocessable: {message}")]
    Unprocessable {
        /// The body's message.
        message: String,
    },
    /// A response arrived but could not be parsed; the request may have been
    /// applied.
    #[error("unparseable response body: {detail}")]
    BadBody {
        /// What was wrong with it.
        detail: String,
    },
}

impl BrokerError {
    /// True when no answer came back, so the request may still be
    /// travelling to the broker and be applied later (a timeout, a reset).
    /// Any answer, an error included, proves the request arrived.
    #[must_use]
    pub fn may_still_arrive(&self) -> bool {
        matches!(self, Self::Timeout | Self::ConnectionReset)
    }

    /// How to react to this error.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::RateLimited { .. } => ErrorClass::Transient,
            Self::Timeout | Self::ConnectionReset | Self::Server { .. } | Self::BadBody { .. } => {
                ErrorClass::Ambiguous
            }
            Self::NotFound { .. } | Self::Forbidden { .. } | Self::Unprocessable { .. } => {
                ErrorClass::Permanent
            }
        }
    }

    /// True for a 422 saying the order is already filled, the answer a cancel
    /// gets when the fill won the race.
    #[must_use]
    pub fn is_already_filled(&self) -> bool {
        match self {
            Self::Unprocessable { message } => {
                let lower = message.to_ascii_lowercase();
                lower.contains("already") && lower.contains("fill")
            }
            _ => false,
        }
    }

    /// True for a 422 refusing a second order with a `client_order_id` the
    /// broker has seen before.
    #[must_use]
    pub fn is_duplicate_client_order_id(&self) -> bool {
        match self {
            Self::Unprocessable { message } => {
                let lower = message.to_ascii_lowercase();
                lower.contains("client_order_id") && lower.contains("unique")
            }
            _ => false,
        }
    }

    /// The wait the broker asked for, on a 429 that carried one.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// A configuration value out of its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid fill detection config: `{field}` {problem}")]
pub struct ConfigError {
    /// The field path, e.g. `polling.max`.
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// How an idempotent submission can end without an order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    /// The broker refused the order (403, 422): nothing was placed.
    #[error("broker rejected order {client_order_id}: {source}")]
    Rejected {
        /// The intent's id.
        client_order_id: String,
        /// The broker's answer.
        source: BrokerError,
    },
    /// The broker holds no such order after every attempt: each failed
    /// submit was refused (429) or looked up and not found.
    #[error(
        "order {client_order_id} was not placed after {attempts} attempts (last error: {last}); the broker holds no such order"
    )]
    NotPlaced {
        /// The intent's id.
        client_order_id: String,
        /// Submit attempts made.
        attempts: u32,
        /// The last error seen.
        last: BrokerError,
    },
    /// After every retry and lookup it is still unknown whether the broker
    /// holds the order. The engine did not resubmit blindly; reconcile by
    /// looking up `client_order_id` later.
    #[error(
        "order {client_order_id} may or may not exist at the broker after {attempts} attempts (last error: {last}); look it up by client_order_id before placing it again"
    )]
    Unknown {
        /// The intent's id.
        client_order_id: String,
        /// Submit attempts made.
        attempts: u32,
        /// The last error seen.
        last: BrokerError,
    },
    /// Shed before sending: the call budget had no turn for the submission
    /// within its longest wait, so it was never sent and nothing was placed
    /// by this attempt (any earlier attempt was confirmed absent).
    #[error(
        "order {client_order_id} shed: no turn to send it within {max_wait:?} under the broker's rate limit; nothing was placed"
    )]
    Shed {
        /// The intent's id.
        client_order_id: String,
        /// The longest the submission could wait for a turn.
        max_wait: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16) -> BrokerError {
        BrokerError::Server {
            status,
            message: String::new(),
        }
    }

    /// Each error of the taxonomy lands in the class the design gives it.
    #[test]
    fn classification_matches_taxonomy() {
        assert_eq!(BrokerError::Timeout.class(), ErrorClass::Ambiguous);
        assert_eq!(BrokerError::ConnectionReset.class(), ErrorClass::Ambiguous);
        assert_eq!(server(500).class(), ErrorClass::Ambiguous);
        assert_eq!(server(502).class(), ErrorClass::Ambiguous);
        assert_eq!(server(504).class(), ErrorClass::Ambiguous);
        assert_eq!(server(503).class(), ErrorClass::Ambiguous);
        let limited = BrokerError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(limited.class(), ErrorClass::Transient);
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        let bad = BrokerError::BadBody {
            detail: "<html>".into(),
        };
        assert_eq!(bad.class(), ErrorClass::Ambiguous);
        for permanent in [
            BrokerError::NotFound {
                message: "order not found".into(),
            },
            BrokerError::Forbidden {
                message: "insufficient buying power".into(),
            },
            BrokerError::Unprocessable {
                message: "qty must be > 0".into(),
            },
        ] {
            assert_eq!(permanent.class(), ErrorClass::Permanent, "{permanent}");
        }
    }

    /// The broker's "already filled" cancel answer is recognised; other 422s
    /// and other errors are not.
    #[test]
    fn already_filled_is_recognised_only_on_its_message() {
        let filled = BrokerError::Unprocessable {
            message: r#"order is already in "filled" state"#.into(),
        };
        assert!(filled.is_already_filled());
        let canceled = BrokerError::Unprocessable {
            message: r#"order is already in "canceled" state"#.into(),
        };
        assert!(!canceled.is_already_filled());
        assert!(!BrokerError::Timeout.is_already_filled());
    }

    /// A duplicate client order id refusal is told apart from other 422s.
    #[test]
    fn duplicate_client_order_id_is_recognised() {
        let duplicate = BrokerError::Unprocessable {
            message: "client_order_id must be unique".into(),
        };
        assert!(duplicate.is_duplicate_client_order_id());
        assert!(!duplicate.is_already_filled());
    }
}
