//! The command line, parsed in two steps: clap's arguments, as close to the
//! flags as possible, then validated settings built from them in each
//! command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// fillproof: measures an order-execution engine against a simulated
/// broker's ground truth.
#[derive(Debug, Parser)]
#[command(name = "fillproof", version, about, propagate_version = true)]
pub struct Cli {
    /// Engine log level on stderr (error, warn, info, debug); off by default.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios and report the engine's metrics against ground truth.
    Run(RunArgs),
    /// Validate scenario files.
    Check(CheckArgs),
    /// Show one seed's orders: what the broker did and what the engine saw.
    Replay(ReplayArgs),
    /// Run every scenario against its `expect:` thresholds; fail on any
    /// shortfall.
    Gate(GateArgs),
    /// Verify or export an audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Compare polling strategies on the same seeds: detection latency
    /// against API calls per order.
    Sweep(SweepArgs),
    /// Combine the JSON reports of the shards of a run (`run --shard K/N
    /// --format json`) into the report one run of them all would print.
    Merge(MergeArgs),
    /// Serve the scenario's simulated broker behind Alpaca's Trading API
    /// (HTTP and the trade_updates websocket), on the real clock, for a
    /// bot in any language.
    Serve(ServeArgs),
    /// Replay a `serve` session's request log on virtual time: the same
    /// ledger and the same report, in a moment.
    ReplaySession(ReplaySessionArgs),
    /// Many bots, one broker: drive `serve` with 1, then N bots at once
    /// (each its own API key), report the request latency each stage saw
    /// and check the ledger against what the bots saw.
    Crowd(CrowdArgs),
    /// Turn an incident (Alpaca's order export, or the engine's audit log)
    /// into a regression scenario.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `fillproof import`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// From Alpaca's order history (`GET /v2/orders?status=all&nested=true`)
    /// and fill activities (`GET /v2/account/activities/FILL`).
    Alpaca {
        /// The order history, a JSON list.
        #[arg(value_name = "ORDERS.json")]
        orders: PathBuf,
        /// The fill activities, a JSON list: each execution's time,
        /// quantity and price.
        #[arg(long, value_name = "FILLS.json")]
        activities: Option<PathBuf>,
        /// Write the scenario here; default stdout.
        #[arg(short, long, value_name = "SCENARIO.yaml")]
        output: Option<PathBuf>,
        /// The scenario's name; default `incident-` and the file's stem.
        #[arg(long)]
        name: Option<String>,
    },
    /// From the engine's own audit log (`run --audit FILE`, or an
    /// `OrderExecutor` trading for real).
    Audit {
        /// The audit log.
        #[arg(value_name = "LOG")]
        audit_log: PathBuf,
        /// Write the scenario here; default stdout.
        #[arg(short, long, value_name = "SCENARIO.yaml")]
        output: Option<PathBuf>,
        /// The scenario's name; default `incident-` and the file's stem.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `fillproof serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The scenario whose broker to serve.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Seed; default the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Port on 127.0.0.1; 0 picks a free one and prints it first.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write the report (JSON) here at shutdown.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Log every request here, one JSON line each, for `replay-session`;
    /// hash-chained, with HMAC-SHA256 under `FILLPROOF_AUDIT_KEY` when it
    /// is set (replay then needs the same key).
    #[arg(long = "request-log", value_name = "FILE")]
    pub request_log: Option<PathBuf>,
    /// The wall-clock instant the session starts at, RFC 3339
    /// (`2026-12-07T14:30:00Z`); default now, so the broker's stamps and
    /// clock agree with the bot's own clock. The request log keeps it, and
    /// `replay-session` starts there too.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
}

/// `fillproof crowd`.
#[derive(Debug, Args)]
pub struct CrowdArgs {
    /// The scenario whose broker to serve.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Seed; default the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bots at once, stage by stage, comma-separated.
    #[arg(long, default_value = "1,100", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub bots: Vec<u32>,
    /// Seconds each stage trades.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Milliseconds a bot waits between two requests (400: 150 a minute,
    /// inside Alpaca's 200 a minute per key).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub pace_ms: u64,
    /// Seconds past each stage's end a bot goes on reading its orders
    /// until each has ended; an order it never saw end fails the check.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_seconds: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `fillproof replay-session`.
#[derive(Debug, Args)]
pub struct ReplaySessionArgs {
    /// The request log `serve --request-log` wrote (a keyed one needs the
    /// server's `FILLPROOF_AUDIT_KEY`; with it set, a keyless log is
    /// refused).
    #[arg(value_name = "LOG")]
    pub request_log: PathBuf,
    /// The scenario; default the one the log names.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Write the report (JSON) here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Replay a log with no end line (the server was killed, or the log
    /// was cut short) up to its last request: the report is marked
    /// `"partial": true` and does not pass (exit 1 at best). Without it,
    /// such a log is refused (exit 2).
    #[arg(long)]
    pub partial: bool,
}

/// `fillproof merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports of the shards (`run --shard K/N --format json`).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Write a JUnit XML report here: one case per scenario, failing on
    /// any threshold that fell short.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Which seeds the merge re-runs to vouch for the shards' results:
    /// `sample` (half of each shard report's seeds, rounded up, picked at
    /// random, and every seed a threshold fell short on), `all`, a number
    /// of seeds per shard report, or `none` (the merge is then unverified
    /// and exits 1 at best).
    #[arg(long, default_value = "sample", value_name = "WHICH", value_parser = parse_verify)]
    pub verify: Verify,
    /// The key that picks a sample's seeds, 16 hex digits; by default a
    /// fresh random one. The merge prints its key: give it here to
    /// re-run the same sample of the same shards.
    #[arg(long, value_name = "HEX", value_parser = parse_verify_key)]
    pub verify_key: Option<u64>,
    /// Seeds re-run in parallel; default the number of cores.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
}

/// Which seeds `merge` re-runs (`--verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Half of each shard report's seeds, rounded up, picked at random,
    /// and every seed a threshold fell short on.
    Sample,
    /// Every seed.
    All,
    /// This many seeds of each shard report (all of a shard holding
    /// fewer), picked at random, and every seed a threshold fell short on.
    PerShard(u32),
    /// None: the merge takes the shards' results on trust.
    None,
}

impl std::fmt::Display for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sample => f.write_str("sample"),
            Self::All => f.write_str("all"),
            Self::PerShard(n) => write!(f, "{n}"),
            Self::None => f.write_str("none"),
        }
    }
}

fn parse_verify(text: &str) -> Result<Verify, String> {
    match text.trim() {
        "sample" => Ok(Verify::Sample),
        "all" => Ok(Verify::All),
        "none" => Ok(Verify::None),
        number => match number.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Verify::PerShard(n)),
            _ => Err(format!(
                "`{text}` is not sample, all, none or a number of seeds per shard (at least 1)"
            )),
        },
    }
}

fn parse_verify_key(text: &str) -> Result<u64, String> {
    let digits = text.trim();
    if digits.is_empty() || digits.len() > 16 {
        return Err(format!("`{text}` is not a key of 1 to 16 hex digits"));
    }
    u64::from_str_radix(digits, 16)
        .map_err(|_| format!("`{text}` is not a key of 1 to 16 hex digits"))
}

/// The K-th of N deterministic slices of a run's work, from 1; written
/// `K/N`, in reports too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    /// K - 1.
    pub index: u32,
    /// N.
    pub count: u32,
}

impl Shard {
    /// The items of this slice: every N-th, from the K-th.
    #[must_use]
    pub fn take<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % u64::from(self.count) == u64::from(self.index))
            .map(|(_, item)| item)
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", u64::from(self.index) + 1, self.count)
    }
}

impl From<Shard> for String {
    fn from(shard: Shard) -> Self {
        shard.to_string()
    }
}

impl TryFrom<String> for Shard {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_shard(&text)
    }
}

/// `K/N` with 1 <= K <= N.
fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("`{text}` is not K/N with 1 <= K <= N, such as 2/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u32, u32) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok(Shard {
        index: k - 1,
        count: n,
    })
}

/// `fillproof sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario files or folders.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// Strategies to compare, comma-separated: fixed, linear, exponential,
    /// adaptive, fixed:DURATION. The first is the baseline.
    #[arg(long, value_delimiter = ',', default_value = "linear,adaptive")]
    pub strategies: Vec<String>,
    /// Seeds per scenario, from its own seed; every strategy faces the same
    /// ones.
    #[arg(long, default_value_t = 4, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub seeds: u32,
    /// Seeds run in parallel; default the number of cores.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Write an SVG plot of the frontier here.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Sweep only the K-th of N slices of the seeds (every N-th seed, from
    /// the K-th), printing each strategy's report as JSON; `fillproof
    /// merge` combines the shards into the sweep's table.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// `fillproof audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain over each line's exact bytes: exit 0 when
    /// intact, 1 naming the first edited, removed or reordered line (or,
    /// with `--head`, a cut tail), 2 for a file that is not an audit log.
    /// A log written with `FILLPROOF_AUDIT_KEY` set needs the same key.
    Verify {
        /// The audit log (JSON lines).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also check the chain's head, which `run --audit` writes beside
        /// the log (default `FILE.head`): the log must end where it says.
        #[arg(long, value_name = "HEAD")]
        head: Option<Option<PathBuf>>,
    },
    /// Print one trader's records for a date range as CSV, once the chain
    /// verifies (exit 1 when it does not); cells that a spreadsheet would
    /// run as formulas are written with a `'` before them.
    Export {
        /// The audit log (JSON lines).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The trader whose records to export; no other trader's appear.
        #[arg(long)]
        trader: String,
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day, YYYY-MM-DD (UTC), inclusive.
        #[arg(long, value_name = "DATE")]
        to: String,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object per scenario, one per line.
    Json,
}

/// Engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The fillproof engine.
    Robust,
    /// The original status-only detector.
    Naive,
    /// The robust loop with the literal "any of four methods" verifier.
    SeedLiteral,
    /// The naive detector behind the Python client's retries of 429 and 504.
    NaiveRetry,
    /// The fillproof engine keeping its state only in memory across crashes.
    MemoryOnly,
}

/// Flags shared by commands that run scenarios.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Engine under test, overriding the scenario's `engine.kind`.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Polling strategy, overriding the scenario's: fixed, linear,
    /// exponential, adaptive, hybrid, batched (or fixed:DURATION).
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<String>,
    /// Number of orders, overriding the scenario's.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub orders: Option<u32>,
}

/// `fillproof run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// First seed; default the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many seeds, from the first: seed, seed+1, ...
    #[arg(long, default_value_t = 1, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub seeds: u32,
    /// Engine, strategy and order count.
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write every trace event as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Seeds run in parallel; default the number of cores.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Run each seed twice and compare traces; name the first divergent
    /// event on a mismatch.
    #[arg(long)]
    pub check_determinism: bool,
    /// Swarm mode for every seed, whatever the scenario says.
    #[arg(long)]
    pub swarm: bool,
    /// Write the engine's audit log to this file (one scenario, one seed).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Run only the K-th of N slices of the seeds (every N-th seed from the
    /// K-th); `fillproof merge` combines the shards' JSON reports.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// `fillproof check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or folders.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
}

/// `fillproof replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The scenario file.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The seed to replay; default the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only this order (workload index, from 0).
    #[arg(long, value_name = "I")]
    pub order: Option<u32>,
    /// Engine, strategy and order count.
    #[command(flatten)]
    pub setup: SetupArgs,
}

/// `fillproof gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Scenario files or folders; default `scenarios/`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Seeds per scenario, from its own seed.
    #[arg(long, default_value_t = 1, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub seeds: u32,
    /// Scenarios' seeds run in parallel; default the number of cores.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Also run each seed twice and compare traces.
    #[arg(long)]
    pub check_determinism: bool,
    /// Run only the K-th of N slices of the scenarios (every N-th file, in
    /// name order, from the K-th), for a swarm spread over machines.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// A count of at least one, for `--jobs`.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    /// Every subcommand's flags are well formed: no two arguments share a
    /// name (a positional named like a global flag panics at parse time).
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
