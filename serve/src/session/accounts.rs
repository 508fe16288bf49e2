//! Accounts: each API key that trades is an account of its own at the
//! simulated broker, as at Alpaca, where a key belongs to one account.
//!
//! The session a server starts with holds them: [`Session::for_key`]
//! gives the account of a key, made the first time the key is seen, with
//! a ledger, rate limit, stream and order ids of its own over the
//! session's clock and market ([`SimBroker::account`]). Every account
//! shares the session's [`Journal`]: one sequence of arrivals, one end,
//! one request log, each logged request naming its account's key, so a
//! replay hands it to the same account. A scenario whose
//! `account.per_key` is `false` has every key trade the one account.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fillproof_simulator::SimBroker;

use super::{LogWriter, Session, State};
use crate::wire::{Reply, code};

/// The most accounts (API keys) one session holds: past it a new key is
/// refused (403), so a client making up keys cannot exhaust memory.
pub const MAX_ACCOUNTS: usize = 1_000;

/// What every account of a session shares.
#[derive(Default)]
pub(crate) struct Journal {
    book: Mutex<Book>,
    log: Mutex<Option<LogWriter>>,
    tallies: Mutex<Tallies>,
}

/// What the session's bounds count, over every account: memory is the
/// session's, whichever accounts spend it.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    /// Submits admitted ([`crate::MAX_ORDERS`]).
    pub(crate) orders: usize,
    /// Claims kept ([`crate::MAX_CLAIMS`]).
    pub(crate) claims: usize,
    /// Restarts reported ([`super::MAX_RESTARTS`]).
    pub(crate) restarts: usize,
}

/// The session's sequence of arrivals, and whether it has ended.
#[derive(Default)]
pub(crate) struct Book {
    /// The next request's sequence number: requests of every account.
    pub(crate) seq: u64,
    /// A shutdown has arrived: the session takes no request after it.
    pub(crate) closed: bool,
}

impl Journal {
    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Option<LogWriter>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn tallies(&self) -> MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The account a request is for, or the answer refusing it.
pub(crate) type Resolved = Result<Arc<Session>, Reply>;

impl Session {
    /// The account of API key `key`, made when first seen; `None` (a
    /// request that names no key: fillproof's own endpoints, a replayed
    /// log of a keyless session) is the one account keys have traded when
    /// there is exactly one, this session's own when none has.
    ///
    /// # Errors
    ///
    /// A new key past [`MAX_ACCOUNTS`] (403), or no key named while
    /// several accounts trade (422: which one is meant cannot be told).
    pub(crate) fn for_key(self: &Arc<Self>, key: Option<&str>) -> Resolved {
        if !self.per_key || self.key.is_some() {
            return Ok(Arc::clone(self));
        }
        let mut accounts = self.accounts();
        let Some(key) = key else {
            // Only accounts that took part count: a key that only opened
            // a stream, or whose request was refused before it was logged,
            // left nothing a replay could know of.
            let trading: Vec<&Arc<Session>> = accounts.values().filter(|a| a.took_part()).collect();
            return match trading.as_slice() {
                [] => Ok(Arc::clone(self)),
                [only] => Ok(Arc::clone(only)),
                several => Err(Reply::error(
                    422,
                    code::BAD_REQUEST,
                    &format!(
                        "{} API keys trade in this session, each its own account: send the \
                         APCA-API-KEY-ID header (or Authorization: Bearer) of the account this \
                         request is for",
                        several.len()
                    ),
                )),
            };
        };
        if let Some(account) = accounts.get(key) {
            return Ok(Arc::clone(account));
        }
        if accounts.len() >= MAX_ACCOUNTS {
            return Err(Reply::error(
                403,
                code::FORBIDDEN,
                &format!(
                    "fillproof serve holds at most {MAX_ACCOUNTS} accounts (API keys) a session"
                ),
            ));
        }
        let account = Arc::new(Self {
            broker: self.broker.account(key),
            scenario: self.scenario.clone(),
            expectations: self.expectations.clone(),
            state: Mutex::new(State::default()),
            journal: Arc::clone(&self.journal),
            key: Some(key.to_owned()),
            per_key: true,
            accounts: Mutex::default(),
        });
        accounts.insert(key.to_owned(), Arc::clone(&account));
        Ok(account)
    }

    /// The account a logged request was for: its key's, else this
    /// session's own (a log line names a key exactly when the live
    /// request was for a key's account).
    ///
    /// # Errors
    ///
    /// As [`Session::for_key`] for a new key past [`MAX_ACCOUNTS`].
    pub(crate) fn for_logged(self: &Arc<Self>, key: Option<&str>) -> Resolved {
        match key {
            Some(key) => self.for_key(Some(key)),
            None => Ok(Arc::clone(self)),
        }
    }

    /// The API key of this account, when it is a key's.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether a request of this account's was logged: an account made
    /// for a key that only opened a stream, or whose request was refused
    /// before it was logged (the session shutting down), left nothing in
    /// the log, so it takes no part in the report or a replay.
    fn took_part(&self) -> bool {
        self.state().requests > 0
    }

    /// Every account that has taken part, in order of key: the keys'
    /// accounts with a logged request, and this session's own when it
    /// holds an order, a claim or a restart, or no key has traded (the
    /// shutdown, which names no account, is logged on it and makes no
    /// account of it).
    pub(crate) fn all_accounts(self: &Arc<Self>) -> Vec<Arc<Session>> {
        let mut accounts: Vec<Arc<Session>> = self
            .accounts()
            .values()
            .filter(|a| a.took_part())
            .cloned()
            .collect();
        accounts.sort_by(|a, b| a.key.cmp(&b.key));
        let used = || {
            let state = self.state();
            !state.claims.is_empty()
                || !state.restarts.is_empty()
                || self.broker.with_ledger(|l| !l.orders().is_empty())
        };
        if accounts.is_empty() || used() {
            accounts.insert(0, Arc::clone(self));
        }
        accounts
    }

    /// Counts a submit into the session's bound on orders
    /// ([`crate::MAX_ORDERS`], every account's together); `false`, and
    /// nothing counted, when the session is at it.
    pub(crate) fn admit_order(&self) -> bool {
        let mut tallies = self.journal.tallies();
        if tallies.orders >= crate::MAX_ORDERS {
            return false;
        }
        tallies.orders += 1;
        true
    }

    /// Requests the session received, every account's.
    pub(crate) fn requests_received(&self) -> u64 {
        self.journal.book().seq
    }

    fn accounts(&self) -> MutexGuard<'_, indexmap::IndexMap<String, Arc<Session>>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The simulated brokers of every account, for what must wait on all
    /// of them (requests still on their way at shutdown).
    pub(crate) fn brokers(self: &Arc<Self>) -> Vec<SimBroker> {
        self.all_accounts()
            .iter()
            .map(|account| account.broker.clone())
            .collect()
    }
}
