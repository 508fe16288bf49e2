//! One file per subcommand, and what they share.
//!
//! Entry points: each subcommand's `run` (`run::run`, `gate::run`,
//! `replay::run`, `sweep::run`, `merge::run`, `import::run`, `audit::run`,
//! `check::run`, `serve::run`, `serve::replay_session` and `crowd::run`), called by
//! `main.rs` with the parsed [`crate::cli`] arguments; and what they share:
//! [`load`] / [`load_digested`] (a scenario and its warnings),
//! [`scenario_files`], [`spec`] (a run's setup from the flags), the seed
//! list, the job count and the wall clock.
//!
//! May import every folder of the crate (`cli`, `run`, `measure`,
//! `import`) and `fillproof_serve`; nothing imports `commands` but
//! `main.rs`, the tests and the benches. A command prints; what it prints
//! is built by the folders it calls.

/// `println!` that returns the write's error instead of panicking, so a
/// closed stdout pipe (`fillproof check scenarios | head -1`) ends the
/// command quietly: `main` maps a broken pipe to exit 0.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` that returns the write's error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

pub mod audit;
pub mod check;
pub mod crowd;
pub mod gate;
pub mod import;
pub mod merge;
pub mod replay;
pub mod run;
pub mod serve;
pub mod sweep;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use fillproof_simulator::{EngineKind, Scenario};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{EngineArg, SetupArgs};
use crate::run::RunSpec;
use crate::run::strategies;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything held.
    Success,
    /// A gate or expectation fell short.
    ShortFall,
}

/// Loads a scenario; the error lists every problem with file, line and
/// field. Its warnings go to stderr, one a line, and do not stop it.
///
/// # Errors
/// The scenario's problems.
pub fn load(path: &Path) -> Result<Arc<Scenario>> {
    let scenario = Scenario::load(path).map_err(|e| anyhow!("{e}"))?;
    warn_of(&scenario);
    Ok(Arc::new(scenario))
}

/// Prints a loaded scenario's warnings to stderr, one a line.
fn warn_of(scenario: &Scenario) {
    for warning in &scenario.warnings {
        eprintln!("warning: {warning}");
    }
}

/// Loads a scenario as [`load`] does, with the SHA-256 of the very bytes
/// it was read from, hex: what a report says it ran, whatever the path.
///
/// # Errors
/// The scenario's problems.
pub fn load_digested(path: &Path) -> Result<(Arc<Scenario>, String)> {
    // A file that cannot be read gets `load`'s own words for why.
    let Ok(bytes) = fillproof_simulator::read_bounded(path, fillproof_simulator::MAX_FILE_BYTES)
    else {
        load(path)?;
        return Err(anyhow!("{}: cannot read the file", path.display()));
    };
    let scenario = Scenario::parse(&bytes, &path.display().to_string(), path.parent())
        .map_err(|e| anyhow!("{e}"))?;
    warn_of(&scenario);
    let digest = fillproof_engine::digest_hex(None, [&bytes[..]]);
    Ok((Arc::new(scenario), digest))
}

/// The `.yaml` files named, folders searched recursively, in name order.
///
/// # Errors
/// A path that does not exist.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files).with_context(|| format!("reading {}", path.display()))?;
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(anyhow!(
                "{}: no such file or folder; check the path",
                path.display()
            ));
        }
    }
    Ok(files)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The engine kind of a flag.
#[must_use]
pub fn engine_kind(arg: EngineArg) -> EngineKind {
    match arg {
        EngineArg::Robust => EngineKind::Robust,
        EngineArg::Naive => EngineKind::Naive,
        EngineArg::SeedLiteral => EngineKind::SeedLiteral,
        EngineArg::NaiveRetry => EngineKind::NaiveRetry,
        EngineArg::MemoryOnly => EngineKind::MemoryOnly,
    }
}

/// A run spec for `scenario` at `seed` with the overrides of `setup`, the
/// flags that reproduce them, and whether the setup is the scenario's own.
///
/// # Errors
/// A bad strategy name or engine section.
pub fn spec(
    scenario: Arc<Scenario>,
    seed: u64,
    setup: &SetupArgs,
) -> Result<(RunSpec, String, bool)> {
    let mut spec = RunSpec::from_scenario(scenario, seed)?;
    let mut flags = Vec::new();
    let mut own = true;
    if let Some(engine) = setup.engine {
        let kind = engine_kind(engine);
        if kind != spec.engine {
            own = false;
        }
        spec.engine = kind;
        flags.push(format!("--engine {}", kind.as_str()));
    }
    if let Some(name) = &setup.strategy {
        spec = spec.with_polling(strategies::preset(name).map_err(anyhow::Error::msg)?);
        own = false;
        flags.push(format!("--strategy {name}"));
    }
    if let Some(orders) = setup.orders {
        // `expect:` describes the workload as written; counts of another
        // size say nothing against it.
        if orders != spec.scenario.workload.orders.value {
            own = false;
        }
        spec.orders = Some(orders);
        flags.push(format!("--orders {orders}"));
    }
    Ok((spec, flags.join(" "), own))
}

/// Seeds run in parallel: the flag, or the number of cores.
#[must_use]
pub fn jobs(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// A progress bar over `total` orders on stderr; hidden when stderr is not
/// a terminal or the run is short.
#[must_use]
pub fn progress(total: u64, label: &str) -> ProgressBar {
    if total < 2_000 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} orders ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    bar
}

/// The seeds `first`, `first + 1`, ... `count` of them. Seeds never wrap:
/// a list that would run past the largest seed is an error that says so.
///
/// # Errors
/// `first + count - 1` is past `u64::MAX`.
pub fn seed_list(first: u64, count: u32) -> Result<Vec<u64>, String> {
    let count = u64::from(count.max(1));
    if first.checked_add(count - 1).is_none() {
        return Err(format!(
            "{count} seeds from {first} run past the largest seed, {}: seeds never wrap; start at {} at most, or run fewer seeds",
            u64::MAX,
            u64::MAX - (count - 1)
        ));
    }
    Ok((0..count).map(|i| first + i).collect())
}

/// Wall-clock milliseconds since `started`, to the microsecond, for the
/// report's wall time.
#[must_use]
pub fn wall_ms(started: std::time::Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0
}

/// The wall clock, read in one place: reports give the real time a run
/// took; nothing in a simulated run reads it.
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "the report's wall time is meant to be real time"
)]
pub fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}
