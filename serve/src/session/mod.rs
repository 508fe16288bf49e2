//! One serving session's state: the simulated broker, what clients asked
//! of it (the request log), what they claimed, and the account's starting
//! buying power.
//!
//! Entry points: [`Session::new`]; [`Session::arrive`] (or
//! [`Session::record`] on replay) logs a request before it is handled,
//! [`Session::answered`] its answer; [`Session::claim`] takes a claims
//! body. `api` adds [`Session::dispatch`], which answers one API request at
//! its arrival time and knows nothing of HTTP: the server calls it for each
//! request, and [`replay`](crate::replay) calls it again for each logged
//! request on the paused clock, which is why a session replays to the same
//! ledger. `report` adds [`Session::report`] and [`Session::shut_down`].
//!
//! - `state`: the session's own book beside the ledger (arrivals, made-up
//!   client ids, resends, claims).
//! - [`log`]: the request log, hash-chained.
//! - [`claims`]: clients' claims, kept for judging.
//!
//! May import `wire`, the engine and the simulator; never `api`, `report`
//! or `http`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_simulator::{BrokerModel, Expectation, Scenario, SimBroker, uuid_shaped};
use serde_json::json;

mod accounts;
pub mod claims;
pub mod log;
mod state;

pub(crate) use accounts::Journal;
pub use accounts::MAX_ACCOUNTS;
pub(crate) use state::{Intent, State};

use crate::claims::ClaimRefused;
use crate::log::{LiveAnswer, LogHeader, LogWriter, LoggedRequest};
use crate::wire::{Reply, code};

/// The most restarts a session takes: each costs the report a pass over
/// the orders.
pub const MAX_RESTARTS: usize = 1_000;

/// A serving session over one scenario and seed: one account at the
/// simulated broker, and, on the session a server starts with, the
/// accounts of the API keys that trade ([`Session::for_key`]), which share
/// its clock, market, arrival order and request log.
pub struct Session {
    pub(crate) broker: SimBroker,
    pub(crate) scenario: String,
    pub(crate) expectations: Vec<Expectation>,
    state: Mutex<State>,
    /// What every account of the session shares: the sequence, the
    /// session's end, the request log.
    journal: Arc<Journal>,
    /// The API key this account belongs to; `None` for the session a
    /// server starts with.
    key: Option<String>,
    /// Whether each API key is an account of its own (the scenario's
    /// `account.per_key`); else every key trades this one.
    per_key: bool,
    /// The keys' accounts, on the session a server starts with.
    accounts: Mutex<indexmap::IndexMap<String, Arc<Session>>>,
}

/// The buying power of a served session whose scenario has no `account:`
/// block: a paper account's opening balance, in dollars (the simulator's
/// default account, which a scenario with a market section trades too).
pub use fillproof_simulator::DEFAULT_BUYING_POWER;

impl Session {
    /// A session serving `scenario` with streams derived from `seed`. Call
    /// it inside the runtime that will serve: time zero is now.
    ///
    /// # Errors
    ///
    /// The scenario's `expect:` block does not parse.
    pub fn new(scenario: &Scenario, seed: u64) -> Result<Arc<Self>, String> {
        Self::starting_at(scenario, seed, None)
    }

    /// As [`Session::new`], with time zero standing for the wall-clock
    /// instant `epoch_unix_micros` (`serve` passes the moment it starts, or
    /// `--start`, so the broker's stamps and clock agree with the bot's);
    /// `None` keeps the scenario's fixed epoch, as simulated runs do.
    ///
    /// # Errors
    ///
    /// The scenario's `expect:` block does not parse.
    pub fn starting_at(
        scenario: &Scenario,
        seed: u64,
        epoch_unix_micros: Option<i64>,
    ) -> Result<Arc<Self>, String> {
        if scenario.crash_settings().is_some() {
            // A crash point would hold a bot's call forever, and no engine
            // here restarts: refused, never ignored.
            return Err(format!(
                "scenario {}: `crashes:` and the timeline's `crash` events crash the engine a \
                 harness run drives (`fillproof run`); serve drives no engine, so remove them \
                 and restart the bot yourself to test its recovery",
                scenario.name
            ));
        }
        let mut model = BrokerModel::from_scenario(scenario);
        if let Some(epoch) = epoch_unix_micros {
            model.epoch_unix_micros = epoch;
        }
        Ok(Arc::new(Self {
            broker: SimBroker::new(model, seed, false).with_uuid_ids(),
            scenario: scenario.name.clone(),
            expectations: scenario.expectations()?,
            state: Mutex::new(State::default()),
            journal: Arc::default(),
            key: None,
            per_key: scenario.account_per_key(),
            accounts: Mutex::default(),
        }))
    }

    /// Logs every request from now on to `sink`, one JSON line each after
    /// `header`, chained (see [`crate::log`]).
    ///
    /// # Errors
    ///
    /// The header cannot be written.
    pub fn log_to(
        &self,
        sink: Box<dyn std::io::Write + Send>,
        header: &LogHeader,
    ) -> std::io::Result<()> {
        self.log_keyed_to(sink, header, None)
    }

    /// [`Session::log_to`], the chain keyed with HMAC-SHA256 under `key`
    /// when given (`FILLPROOF_AUDIT_KEY`): only a holder of the key can
    /// compute it, so a line edited and chained again without it is
    /// refused on replay.
    ///
    /// # Errors
    ///
    /// The header cannot be written.
    pub fn log_keyed_to(
        &self,
        sink: Box<dyn std::io::Write + Send>,
        header: &LogHeader,
        key: Option<fillproof_engine::AuditKey>,
    ) -> std::io::Result<()> {
        let writer = LogWriter::start(sink, header, key)?;
        *self.log() = Some(writer);
        Ok(())
    }

    fn log(&self) -> MutexGuard<'_, Option<LogWriter>> {
        self.journal.log()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The simulated broker.
    #[must_use]
    pub fn broker(&self) -> &SimBroker {
        &self.broker
    }

    /// Virtual time since the session began, in whole microseconds (the
    /// log's resolution, so that a replay sees the very same times).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        let elapsed = self.broker.elapsed();
        Duration::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    pub(crate) fn stamp(&self, t: Duration) -> Timestamp {
        self.broker.model().time_origin().at(t)
    }

    /// The UUID-shaped id of `name` for `purpose` under `seed`: the same
    /// name always maps to the same UUID.
    fn derived_id(&self, seed: u64, purpose: &str, name: &str) -> String {
        uuid_shaped(
            seed,
            purpose,
            fillproof_engine::stable_hash(name.as_bytes()),
        )
    }

    /// The id Alpaca gives the asset `symbol`.
    #[must_use]
    pub fn asset_id(&self, symbol: &str) -> String {
        // An asset is the market's: the same id in every account.
        self.derived_id(self.broker.seed(), "asset-id", symbol)
    }

    /// The UUID-shaped execution id a client sees for the simulator's
    /// execution `id`.
    #[must_use]
    pub fn execution_id(&self, id: &str) -> String {
        // An execution is the account's.
        self.derived_id(self.broker.id_seed(), "execution-id", id)
    }

    /// Records a request that arrived at `t` in the log, giving it its
    /// sequence number: what replay does for each logged request. Called
    /// right before the request is handled, with no wait in between, so
    /// that log order is handling order.
    pub fn record(&self, method: &str, path: &str, query: &str, body: &[u8], t: Duration) -> u64 {
        let closing = method == "POST" && path == "/_fillproof/shutdown";
        self.log_request(method, path, query, body, Some(t), closing)
            .map_or(0, |(seq, _)| seq)
    }

    /// Records a request arriving now, giving it its sequence number and
    /// its arrival time, both taken at once so that arrival times never
    /// decrease along the log. Called right before the request is
    /// handled, with no wait in between, so that log order is handling
    /// order; its answer goes to [`Session::answered`].
    ///
    /// `None` once a shutdown has arrived ([`Session::arrive_shutdown`]):
    /// the session takes no request after it, and the request is not
    /// logged.
    pub fn arrive(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Option<(u64, Duration)> {
        self.log_request(method, path, query, body, None, false)
    }

    /// Records the shutdown (`POST /_fillproof/shutdown`, Ctrl-C, SIGTERM)
    /// arriving now, as [`Session::arrive`] does, and closes the session
    /// to every request after it; its answer is
    /// [`Session::shut_down`]'s. `None` when a shutdown arrived already.
    pub fn arrive_shutdown(&self) -> Option<(u64, Duration)> {
        self.log_request("POST", "/_fillproof/shutdown", "", b"", None, true)
    }

    fn log_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        at: Option<Duration>,
        closing: bool,
    ) -> Option<(u64, Duration)> {
        let mut log = self.log();
        let (seq, t) = {
            let mut book = self.journal.book();
            if book.closed && at.is_none() {
                return None;
            }
            book.closed |= closing;
            let seq = book.seq;
            book.seq += 1;
            self.state().requests += 1;
            (seq, at.unwrap_or_else(|| self.elapsed()))
        };
        if let Some(writer) = log.as_mut() {
            writer.received(LoggedRequest {
                seq,
                t_us: u64::try_from(t.as_micros()).unwrap_or(u64::MAX),
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                body: String::from_utf8_lossy(body).into_owned(),
                key: self.key.clone(),
                answer: None,
            });
        }
        Some((seq, t))
    }

    /// Logs the answer given live to request `seq`.
    pub fn answered(&self, seq: u64, reply: &Reply) {
        let mut log = self.log();
        if let Some(writer) = log.as_mut() {
            if let Err(error) = writer.answered(seq, LiveAnswer::of(reply)) {
                Self::log_failed(&mut log, &error);
            }
        }
    }

    /// A log that cannot be written loses replay, not the session: say so
    /// once and stop logging.
    fn log_failed(log: &mut Option<LogWriter>, error: &std::io::Error) {
        tracing::error!(target: "fillproof::serve", %error, "request log write failed; logging stops");
        *log = None;
    }

    /// Logs `reply` as the answer to request `seq`, the session's last,
    /// writes what is left of the log and its end line, and logs no more.
    pub(crate) fn end_log(&self, seq: u64, reply: &Reply) {
        self.answered(seq, reply);
        if let Some(writer) = self.log().take() {
            if let Err(error) = writer.end() {
                Self::log_failed(&mut None, &error);
            }
        }
    }

    /// Takes a client's claims, `{"filled_qty": {"<client_order_id>": qty}}`
    /// with optional `"avg_price": {"<client_order_id>": price}`,
    /// posted at `at`: every claim is kept and judged at the moment it
    /// was posted (see [`crate::claims`]). Returns the number of client
    /// order ids claimed so far.
    ///
    /// # Errors
    ///
    /// The body is not that shape, a quantity or price is not a
    /// non-negative decimal, or the session would keep more than
    /// [`MAX_CLAIMS`](crate::MAX_CLAIMS) claims; a refused body changes
    /// nothing.
    pub fn claim(&self, body: &[u8], at: Duration) -> Result<usize, ClaimRefused> {
        let mut tallies = self.journal.tallies();
        let mut state = self.state();
        let mine = state.claims.kept();
        let others = tallies.claims.saturating_sub(mine);
        let taken = state.claims.take_beside(body, at, others)?;
        tallies.claims = others + state.claims.kept();
        Ok(taken)
    }

    /// The answer to `POST /_fillproof/restart` arriving at `at`: the bot
    /// says it restarted (its process, and whatever it kept in memory).
    /// The report then counts the orders it left working that no claim
    /// posted since covers, and the orders it sent again. Answers
    /// `{"restarts": n}`.
    pub fn restart_reply(&self, at: Duration) -> Reply {
        let mut tallies = self.journal.tallies();
        let mut state = self.state();
        if tallies.restarts >= MAX_RESTARTS {
            return Reply::error(
                422,
                code::BAD_REQUEST,
                &format!("a session takes at most {MAX_RESTARTS} restarts"),
            );
        }
        tallies.restarts += 1;
        state.restarts.push(at);
        Reply::json(200, json!({ "restarts": state.restarts.len() }))
    }

    /// The answer to a claims body posted at `at`: `{"claims": n}`, or the
    /// refusal.
    pub fn claims_reply(&self, body: &[u8], at: Duration) -> Reply {
        match self.claim(body, at) {
            Ok(count) => Reply::json(200, json!({ "claims": count })),
            Err(refused) => Reply::error(refused.status, code::BAD_REQUEST, &refused.message),
        }
    }
}
