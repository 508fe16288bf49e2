//! One serving session: the simulated broker, what clients asked of it (the
//! request log), what they claimed, and the report against the ledger.
//!
//! [`Session::dispatch`] answers one API request at its arrival time and
//! knows nothing of HTTP: the server calls it for each request, and
//! [`replay`](crate::replay) calls it again for each logged request on the
//! paused clock, which is why a session replays to the same ledger.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fillproof_engine::Timestamp;
use fillproof_engine::clock::sleep;
use fillproof_simulator::{BrokerModel, Expectation, Scenario, SimBroker, uuid_shaped};
use rust_decimal::Decimal;
use serde_json::json;

pub mod claims;
pub mod log;
mod state;

pub(crate) use state::{Intent, State};

use crate::api::Reply;
use crate::claims::ClaimRefused;
use crate::log::{LiveAnswer, LogHeader, LogWriter, LoggedRequest};
use crate::report::{Report, report_reply};
use crate::wire::code;

/// A serving session over one scenario and seed.
pub struct Session {
    pub(crate) broker: SimBroker,
    pub(crate) scenario: String,
    pub(crate) expectations: Vec<Expectation>,
    state: Mutex<State>,
    log: Mutex<Option<LogWriter>>,
    pub(crate) buying_power: Decimal,
}

impl Session {
    /// A session serving `scenario` with streams derived from `seed`. Call
    /// it inside the runtime that will serve: time zero is now.
    ///
    /// # Errors
    ///
    /// The scenario's `expect:` block does not parse.
    pub fn new(scenario: &Scenario, seed: u64) -> Result<Arc<Self>, String> {
        let model = BrokerModel::from_scenario(scenario);
        let buying_power = model.buying_power.unwrap_or_else(|| Decimal::from(100_000));
        Ok(Arc::new(Self {
            broker: SimBroker::new(model, seed, false).with_uuid_ids(),
            scenario: scenario.name.clone(),
            expectations: scenario.expectations()?,
            state: Mutex::new(State::default()),
            log: Mutex::new(None),
            buying_power,
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
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
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
        let micros = i64::try_from(t.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.broker.model().epoch_unix_micros.saturating_add(micros))
    }

    /// The UUID-shaped id of `name` for `purpose`: the same name always
    /// maps to the same UUID in a session with this seed.
    fn derived_id(&self, purpose: &str, name: &str) -> String {
        uuid_shaped(
            self.broker.seed(),
            purpose,
            fillproof_engine::stable_hash(name.as_bytes()),
        )
    }

    /// The id Alpaca gives the asset `symbol`.
    #[must_use]
    pub fn asset_id(&self, symbol: &str) -> String {
        self.derived_id("asset-id", symbol)
    }

    /// The UUID-shaped execution id a client sees for the simulator's
    /// execution `id`.
    #[must_use]
    pub fn execution_id(&self, id: &str) -> String {
        self.derived_id("execution-id", id)
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
            let mut state = self.state();
            if state.closed && at.is_none() {
                return None;
            }
            state.closed |= closing;
            let seq = state.seq;
            state.seq += 1;
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

    /// Ends the session whose shutdown request `seq` arrived at `at`:
    /// lets every request still on its way to the broker land (the broker
    /// applies a request at its arrival whether or not anyone waits, so
    /// before then the ledger is not the whole truth), takes the report
    /// when the last of them has landed (at `at` when none was on its
    /// way), logs it as the shutdown's answer, writes what is left of the
    /// log and its end line, and logs no more.
    ///
    /// The wait is bounded by the requests' drawn request legs, and is in
    /// virtual time: the report's time is the last landing, so a replay
    /// takes the very same report.
    pub async fn shut_down(&self, seq: u64, at: Duration) -> Report {
        let (in_flight, until) = self.let_land(at).await;
        let mut report = self.report(until);
        report.requests_in_flight_at_shutdown = in_flight;
        self.answered(seq, &report_reply(&report));
        if let Some(writer) = self.log().take() {
            if let Err(error) = writer.end() {
                Self::log_failed(&mut None, &error);
            }
        }
        report
    }

    /// Waits until no request is on its way to the broker. Returns how
    /// many were still on their way at `at` (landing after it), and the
    /// time the last of them landed (`at` when none).
    async fn let_land(&self, at: Duration) -> (u64, Duration) {
        // A request that arrived in the same instant as the shutdown may
        // not have left for the broker yet (a replay hands it to a task
        // of its own): let it leave first.
        tokio::task::yield_now().await;
        let on_their_way = self.broker.requests_on_their_way();
        let in_flight = on_their_way.iter().filter(|lands| **lands > at).count() as u64;
        let mut until = at;
        while let Some(&last) = self.broker.requests_on_their_way().last() {
            until = until.max(last);
            let now = self.broker.elapsed();
            // Past its time and not landed yet: its task has not run; give
            // it the runtime.
            sleep(last.saturating_sub(now).max(Duration::from_millis(1))).await;
        }
        (in_flight, until)
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
        self.state().claims.take(body, at)
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
