//! Many bots, one broker: `fillproof crowd` starts `serve` on a scenario
//! and drives it with 1, then N, bots at once, each its own API key (so
//! its own account and rate limit), each trading as a polling bot does:
//! submit a market order, read it every `pace` until it ends, submit the
//! next. It measures the request latency each stage's bots saw (from
//! writing the request to reading the whole answer), and at the end
//! checks the broker's ledger against what the bots saw (`check`).
//!
//! On the real clock: the figures are the machine's, and the command's
//! report says so; no test times it.
//!
//! - `client`: a bot's HTTP/1.1 connection, kept alive.
//! - `check`: the ledger against the bots' records.

mod check;
mod client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use fillproof_serve::Report;
use fillproof_simulator::Scenario;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

pub use check::{LedgerCheck, check_ledger};

use crate::measure::metrics::Percentiles;
use client::Connection;

/// How `crowd` drives the server.
#[derive(Debug, Clone)]
pub struct CrowdSpec {
    /// How many bots trade at once, stage by stage (`1,100`).
    pub bots: Vec<usize>,
    /// How long each stage trades.
    pub stage: Duration,
    /// A bot's wait between two requests: 400 ms is 150 a minute, inside
    /// Alpaca's 200 a minute per key.
    pub pace: Duration,
    /// How long past a stage's end a bot goes on reading the orders it
    /// holds until each has ended (it submits no more): an order it never
    /// saw end cannot be checked, and fails the check.
    pub drain: Duration,
}

/// What one order looked like to the bot that placed it, last it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The broker's id.
    pub id: String,
    /// The bot's id for it.
    pub client_order_id: String,
    /// Its status, last read.
    pub status: String,
    /// Its filled quantity, last read.
    pub filled_qty: String,
}

/// One bot's record: what it asked, how long each answer took, and the
/// orders the broker told it it had.
#[derive(Debug, Clone, Default)]
pub struct BotLog {
    /// The bot's API key.
    pub key: String,
    /// Each request answered 2xx: its latency, milliseconds (a refusal
    /// is often answered faster than the work, and would flatter them).
    pub latencies_ms: Vec<f64>,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (the connection failed or closed).
    pub lost: u64,
    /// Orders the broker accepted (a 200 to the submit), by id.
    pub orders: IndexMap<String, Seen>,
}

/// One stage's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Bots trading at once.
    pub bots: usize,
    /// Requests answered 2xx (the latency figures are theirs).
    pub requests: u64,
    /// Requests answered otherwise (a 429, a fault, a refusal): each
    /// fails the run, since a bot that was refused did not trade as it
    /// meant to.
    pub refused: u64,
    /// Requests that got no answer.
    pub lost: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Orders placed.
    pub orders: u64,
    /// Latency of the requests answered 2xx, milliseconds; absent when
    /// none was.
    pub latency_ms: Option<Percentiles>,
}

/// `crowd`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct CrowdReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Each stage, in order.
    pub stages: Vec<Stage>,
    /// The last stage's p95 over the first's; absent without two stages
    /// that both have a p95.
    pub p95_ratio: Option<f64>,
    /// The ledger against what the bots saw.
    pub ledger: LedgerCheck,
}

/// Serves `scenario` with `seed` and drives it as `spec` says; the
/// report once the session has ended.
///
/// # Errors
///
/// The server cannot start, or its report cannot be read.
pub fn run_crowd(scenario: Scenario, seed: u64, spec: &CrowdSpec) -> Result<CrowdReport> {
    let name = scenario.name.clone();
    let (address, server) = fillproof_serve::spawn_on_thread(scenario, seed, None)
        .context("cannot start the server")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the bots' runtime")?;
    let (stages, logs, ended) = runtime.block_on(async {
        let mut stages = Vec::new();
        let mut logs = Vec::new();
        for (index, &bots) in spec.bots.iter().enumerate() {
            let stage_logs = run_stage(address, index, bots, spec).await;
            stages.push(stage_of(bots, &stage_logs));
            logs.extend(stage_logs);
        }
        let mut connection = Connection::new(address, None);
        let answer = connection.request("POST", "/_fillproof/shutdown", "").await;
        (stages, logs, answer)
    });
    let (_, body, _) = ended.map_err(|e| anyhow!("the shutdown got no answer: {e}"))?;
    let report: Report = serde_json::from_value(body).context("the server's report")?;
    let _ = server.join();
    let p95 = |stage: &Stage| stage.latency_ms.map(|p| p.p95);
    let p95_ratio = match (stages.first().and_then(p95), stages.last().and_then(p95)) {
        (Some(first), Some(last)) if stages.len() > 1 && first > 0.0 => Some(last / first),
        _ => None,
    };
    Ok(CrowdReport {
        scenario: name,
        seed,
        stages,
        p95_ratio,
        ledger: check_ledger(&report, &logs),
    })
}

/// Runs stage `index`: `bots` bots at once for `spec.stage`, each with a
/// key of its own; their records.
async fn run_stage(
    address: SocketAddr,
    index: usize,
    bots: usize,
    spec: &CrowdSpec,
) -> Vec<BotLog> {
    let deadline = Instant::now() + spec.stage;
    let tasks: Vec<_> = (0..bots)
        .map(|bot| {
            let key = format!("crowd-{index}-{bot}");
            let times = Times {
                pace: spec.pace,
                deadline,
                drained: deadline + spec.drain,
            };
            tokio::spawn(trade(address, key, times))
        })
        .collect();
    let mut logs = Vec::with_capacity(bots);
    for task in tasks {
        if let Ok(log) = task.await {
            logs.push(log);
        }
    }
    logs
}

/// When a bot acts.
#[derive(Clone, Copy)]
struct Times {
    /// Between two requests.
    pace: Duration,
    /// It submits nothing after this.
    deadline: Instant,
    /// It reads nothing after this.
    drained: Instant,
}

/// One bot until `deadline`: submit, read every `pace` until the order
/// ends, submit the next; the order working at the deadline it reads on
/// until it ends or the drain is over.
async fn trade(address: SocketAddr, key: String, times: Times) -> BotLog {
    let Times {
        pace,
        deadline,
        drained,
    } = times;
    let mut connection = Connection::new(address, Some(key.clone()));
    let mut log = BotLog {
        key: key.clone(),
        ..BotLog::default()
    };
    let mut n = 0u64;
    while Instant::now() < deadline {
        let client_order_id = format!("{key}-{n}");
        n += 1;
        let body = format!(
            r#"{{"symbol":"SPY","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":"{client_order_id}"}}"#
        );
        let Some(order) = call(&mut connection, &mut log, "POST", "/v2/orders", &body).await else {
            fillproof_engine::clock::sleep(pace).await;
            continue;
        };
        let Some(id) = order.get("id").and_then(Value::as_str).map(str::to_owned) else {
            fillproof_engine::clock::sleep(pace).await;
            continue;
        };
        let mut seen = seen_of(&id, &client_order_id, &order);
        while !is_terminal(&seen.status) && Instant::now() < drained {
            fillproof_engine::clock::sleep(pace).await;
            let path = format!("/v2/orders/{id}");
            if let Some(order) = call(&mut connection, &mut log, "GET", &path, "").await {
                seen = seen_of(&id, &client_order_id, &order);
            }
        }
        log.orders.insert(id, seen);
        fillproof_engine::clock::sleep(pace).await;
    }
    log
}

/// One request, recorded in `log`; the answer's JSON when it was a 200.
async fn call(
    connection: &mut Connection,
    log: &mut BotLog,
    method: &str,
    path: &str,
    body: &str,
) -> Option<Value> {
    match connection.request(method, path, body).await {
        Ok((status, json, took)) => {
            if (200..300).contains(&status) {
                log.latencies_ms.push(took.as_secs_f64() * 1e3);
            }
            *log.statuses.entry(status).or_insert(0) += 1;
            (status == 200).then_some(json)
        }
        Err(_) => {
            log.lost += 1;
            None
        }
    }
}

fn seen_of(id: &str, client_order_id: &str, order: &Value) -> Seen {
    let text = |field: &str| {
        order
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Seen {
        id: id.to_owned(),
        client_order_id: client_order_id.to_owned(),
        status: text("status"),
        filled_qty: text("filled_qty"),
    }
}

/// Whether an order in `status` can change no more: the engine's own
/// reading of a status (`done_for_day` is not an end: fills may come on
/// a later day).
fn is_terminal(status: &str) -> bool {
    fillproof_engine::OrderStatus::parse(status).is_terminal()
}

/// A stage's figures from its bots' records.
fn stage_of(bots: usize, logs: &[BotLog]) -> Stage {
    let mut statuses = BTreeMap::new();
    for log in logs {
        for (status, n) in &log.statuses {
            *statuses.entry(*status).or_insert(0) += n;
        }
    }
    let latencies: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.latencies_ms.iter().copied())
        .collect();
    let refused = statuses
        .iter()
        .filter(|(status, _)| !(200..300).contains(*status))
        .map(|(_, n)| n)
        .sum();
    Stage {
        bots,
        requests: latencies.len() as u64,
        refused,
        lost: logs.iter().map(|l| l.lost).sum(),
        statuses,
        orders: logs.iter().map(|l| l.orders.len() as u64).sum(),
        latency_ms: Percentiles::of(latencies),
    }
}
