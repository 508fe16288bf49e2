//! A symbol's price path: either seeded (geometric Brownian motion with
//! drift and volatility, jumps with a probability per step and a size
//! distribution) or recorded (replayed from a file, `recorded.rs`), with
//! trading halts as windows.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use thiserror::Error;

use super::recorded::{Recording, Replay};
use super::{CHECKPOINT_EVERY, MAX_STEPS};
use crate::distribution::{Dist, standard_normal};
use crate::lifecycle::on_price_grid;

/// The shortest step a path takes: finer steps add draws, not realism.
pub const MIN_STEP: Duration = Duration::from_millis(100);

/// Seconds in the year the drift and volatility are quoted over (365 days:
/// the path moves in calendar time; sessions decide when it trades).
const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// A path setting out of range, naming the setting.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field}: {problem}")]
pub struct MarketError {
    /// The setting, as a scenario would name it (`volatility`, `step`, ...).
    pub field: &'static str,
    /// What is wrong with it and what would do.
    pub problem: String,
}

/// How one symbol's price moves. Defaults: no drift, no volatility, a 1 s
/// step, no jumps, no halts: a constant price. A recorded model
/// ([`PathModel::recorded`]) replays its recording instead of drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct PathModel {
    start: Decimal,
    drift: f64,
    volatility: f64,
    step: Duration,
    jump_probability: f64,
    jump_size: Dist,
    halts: Vec<(Duration, Duration)>,
    /// The recording a recorded path replays; `None` for a drawn one.
    recording: Option<Arc<Recording>>,
}

impl PathModel {
    /// A path starting at `start` with yearly `drift` and `volatility`
    /// (0.2 is 20% a year), one draw per `step`.
    ///
    /// # Errors
    /// A start price outside the price grid's range, a negative or
    /// non-finite drift or volatility (volatility at most 10, i.e. 1,000% a
    /// year), or a step shorter than [`MIN_STEP`].
    pub fn new(
        start: Decimal,
        drift: f64,
        volatility: f64,
        step: Duration,
    ) -> Result<Self, MarketError> {
        if start < fillproof_engine::MIN_PRICE || start > fillproof_engine::MAX_PRICE {
            return Err(MarketError {
                field: "price",
                problem: format!(
                    "{start} is out of range; allowed: {} to {}",
                    fillproof_engine::MIN_PRICE,
                    fillproof_engine::MAX_PRICE
                ),
            });
        }
        if !drift.is_finite() || drift.abs() > 10.0 {
            return Err(MarketError {
                field: "drift",
                problem: format!("{drift} is out of range; allowed: -10 to 10 (a year)"),
            });
        }
        if !volatility.is_finite() || !(0.0..=10.0).contains(&volatility) {
            return Err(MarketError {
                field: "volatility",
                problem: format!("{volatility} is out of range; allowed: 0 to 10 (a year)"),
            });
        }
        if step < MIN_STEP {
            return Err(MarketError {
                field: "step",
                problem: format!("{step:?} is below the shortest step, {MIN_STEP:?}"),
            });
        }
        Ok(Self {
            start,
            drift,
            volatility,
            step,
            jump_probability: 0.0,
            jump_size: Dist::Fixed(0.0),
            halts: Vec::new(),
            recording: None,
        })
    }

    /// A path replaying `recording` on a grid of `step` (see
    /// `market/recorded.rs`): it starts at the recording's first price.
    ///
    /// # Errors
    /// A step shorter than [`MIN_STEP`].
    pub fn recorded(recording: Arc<Recording>, step: Duration) -> Result<Self, MarketError> {
        let mut model = Self::new(recording.first_price(), 0.0, 0.0, step)?;
        model.recording = Some(recording);
        Ok(model)
    }

    /// The same path with a jump of `size` (a log-return: -0.05 is a gap of
    /// about 5% down) drawn with `probability` at each step.
    ///
    /// # Errors
    /// A probability outside 0..=1, or a recorded path (which takes its
    /// moves from its recording).
    pub fn with_jumps(mut self, probability: f64, size: Dist) -> Result<Self, MarketError> {
        if self.recording.is_some() {
            return Err(MarketError {
                field: "jumps",
                problem: "a recorded path takes its moves from its file; it draws no jumps".into(),
            });
        }
        if !(0.0..=1.0).contains(&probability) {
            return Err(MarketError {
                field: "jumps.probability",
                problem: format!("{probability} is out of range; allowed: 0 to 1"),
            });
        }
        self.jump_probability = probability;
        self.jump_size = size;
        Ok(self)
    }

    /// The same path with trading halted from each `at` for its `for`.
    #[must_use]
    pub fn with_halts(mut self, halts: Vec<(Duration, Duration)>) -> Self {
        self.halts = halts;
        self
    }

    /// The halt windows, each a start and a length.
    #[must_use]
    pub fn halts(&self) -> &[(Duration, Duration)] {
        &self.halts
    }

    /// The time between two draws.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.step
    }
}

/// One log-price and the random stream positioned right after it.
#[derive(Debug, Clone)]
struct Checkpoint {
    log_price: f64,
    rng: ChaCha8Rng,
}

/// A symbol's price over virtual time: drawn step by step from its own
/// stream, or replayed from a recording. Reads are pure functions of the
/// instant: asking in any order gives the same prices.
#[derive(Debug, Clone)]
pub struct PricePath {
    model: PathModel,
    process: Process,
}

/// Where a path's prices come from.
#[derive(Debug, Clone)]
enum Process {
    /// Drawn from the seed (boxed: its cursor holds a random stream,
    /// ten times a replay's size).
    Drawn(Box<Drawn>),
    /// Replayed from a recording.
    Recorded(Replay),
}

/// The state of a drawn path: what it has drawn so far.
#[derive(Debug, Clone)]
struct Drawn {
    /// Every [`CHECKPOINT_EVERY`]th step's state, from step 0.
    checkpoints: Vec<Checkpoint>,
    /// The lowest and highest log-price of each block of steps between
    /// two checkpoints (both ends included), so a search for the first
    /// price past a level skips whole blocks that never reach it.
    ranges: Vec<(f64, f64)>,
    /// The last step read and its state: reads that move forward (as a
    /// run's do) take only the draws in between.
    cursor: Option<(u64, Checkpoint)>,
}

impl PricePath {
    /// The path of `symbol` in the run with `seed` (a recorded path is
    /// the same under every seed).
    #[must_use]
    pub fn new(model: PathModel, seed: u64, symbol: &str) -> Self {
        let process = match &model.recording {
            Some(recording) => Process::Recorded(Replay::new(Arc::clone(recording))),
            None => {
                let rng = fillproof_engine::derive_rng(
                    seed,
                    "market",
                    fillproof_engine::stable_hash(symbol.as_bytes()),
                );
                let start = model.start.to_f64().unwrap_or(1.0).ln();
                Process::Drawn(Box::new(Drawn {
                    checkpoints: vec![Checkpoint {
                        log_price: start,
                        rng,
                    }],
                    ranges: Vec::new(),
                    cursor: None,
                }))
            }
        };
        Self { model, process }
    }

    /// The price at `t`, on the price grid: the last step at or before `t`
    /// (for a recorded path, the last record at or before that step's
    /// start).
    pub fn price_at(&mut self, t: Duration) -> Decimal {
        let step = self.step_of(t);
        let step_nanos = self.step_size_nanos();
        match &mut self.process {
            Process::Drawn(drawn) => grid_price(drawn.log_price_at_step(&self.model, step)),
            Process::Recorded(replay) => replay.price_at_step(step, step_nanos),
        }
    }

    /// The unrounded log-price at `t` (its exponent, rounded to the grid,
    /// is [`PricePath::price_at`]; a recorded price's logarithm).
    pub fn log_price_at(&mut self, t: Duration) -> f64 {
        let step = self.step_of(t);
        let step_nanos = self.step_size_nanos();
        match &mut self.process {
            Process::Drawn(drawn) => drawn.log_price_at_step(&self.model, step),
            Process::Recorded(replay) => replay
                .price_at_step(step, step_nanos)
                .to_f64()
                .map_or(f64::NEG_INFINITY, f64::ln),
        }
    }

    /// True when the price never moves: no volatility and no jumps, or a
    /// recording of a single point (a single trade).
    #[must_use]
    pub fn is_still(&self) -> bool {
        match &self.process {
            Process::Recorded(replay) => replay.is_still(),
            Process::Drawn(_) => {
                self.model.volatility == 0.0
                    && (self.model.jump_probability == 0.0
                        || self.model.jump_size == Dist::Fixed(0.0))
            }
        }
    }

    /// The start of the step after the one `t` falls in; `None` past the
    /// path's last step, where the price holds.
    #[must_use]
    pub fn next_step_after(&self, t: Duration) -> Option<Duration> {
        let step = self.step_of(t);
        (step < MAX_STEPS).then(|| self.start_of(step + 1))
    }

    /// The lowest and highest price the path takes in the block of steps
    /// `t` falls in, and the instant the next block starts (`None` past
    /// the path's last step).
    pub fn block_range(&mut self, t: Duration) -> ((Decimal, Decimal), Option<Duration>) {
        let block = self.step_of(t) / CHECKPOINT_EVERY;
        let step_nanos = self.step_size_nanos();
        let range = match &mut self.process {
            Process::Drawn(drawn) => {
                let index = usize::try_from(block).unwrap_or(usize::MAX);
                drawn.build_to(&self.model, index + 1);
                let (low, high) = drawn.ranges[index];
                (grid_price(low), grid_price(high))
            }
            Process::Recorded(replay) => replay.block_range(block, step_nanos),
        };
        let next = (block + 1)
            .checked_mul(CHECKPOINT_EVERY)
            .filter(|step| *step <= MAX_STEPS)
            .map(|step| self.start_of(step));
        (range, next)
    }

    /// The instant `step` starts.
    fn start_of(&self, step: u64) -> Duration {
        let nanos = u128::from(step).saturating_mul(self.step_size_nanos());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The end of the halt (or run of overlapping halts) holding trading
    /// at `t`; `None` when trading is not halted then.
    #[must_use]
    pub fn halt_end(&self, t: Duration) -> Option<Duration> {
        let mut end = None;
        let mut at = t;
        // Each pass moves `at` to a later window's end: at most one pass
        // per window.
        for _ in 0..=self.model.halts.len() {
            let Some(&(start, length)) = self
                .model
                .halts
                .iter()
                .filter(|&&(start, length)| at >= start && at < start.saturating_add(length))
                .max_by_key(|&&(start, length)| start.saturating_add(length))
            else {
                break;
            };
            at = start.saturating_add(length);
            end = Some(at);
        }
        end
    }

    /// The step's length in nanoseconds (at least 1).
    pub(crate) fn step_size_nanos(&self) -> u128 {
        self.model.step.as_nanos().max(1)
    }

    /// The halt windows, each a start and a length.
    #[must_use]
    pub fn halts(&self) -> &[(Duration, Duration)] {
        &self.model.halts
    }

    /// The time between two draws.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.model.step
    }

    /// True when a halt holds trading at `t`.
    #[must_use]
    pub fn halted_at(&self, t: Duration) -> bool {
        self.model
            .halts
            .iter()
            .any(|&(at, length)| t >= at && t < at.saturating_add(length))
    }

    /// The step `t` falls in, at most [`MAX_STEPS`].
    fn step_of(&self, t: Duration) -> u64 {
        let steps = t.as_nanos() / self.step_size_nanos();
        u64::try_from(steps).unwrap_or(u64::MAX).min(MAX_STEPS)
    }
}

impl Drawn {
    /// The log-price after `step` draws of `model`, from the nearest
    /// checkpoint.
    fn log_price_at_step(&mut self, model: &PathModel, step: u64) -> f64 {
        let wanted = usize::try_from(step / CHECKPOINT_EVERY).unwrap_or(usize::MAX);
        self.build_to(model, wanted);
        let from = match self.cursor.take() {
            Some((at, state)) if at <= step && at / CHECKPOINT_EVERY == step / CHECKPOINT_EVERY => {
                (at, state)
            }
            _ => (
                step - step % CHECKPOINT_EVERY,
                self.checkpoints[wanted].clone(),
            ),
        };
        let state = model.walk(from.1, step - from.0, |_| {});
        let log_price = state.log_price;
        self.cursor = Some((step, state));
        log_price
    }

    /// Draws checkpoints (and the ranges of the blocks between them) until
    /// checkpoint `wanted` exists.
    fn build_to(&mut self, model: &PathModel, wanted: usize) {
        while self.checkpoints.len() <= wanted {
            let start = self
                .checkpoints
                .last()
                .expect("the path starts with one")
                .clone();
            let (mut low, mut high) = (start.log_price, start.log_price);
            let state = model.walk(start, CHECKPOINT_EVERY, |log_price| {
                low = low.min(log_price);
                high = high.max(log_price);
            });
            self.ranges.push((low, high));
            self.checkpoints.push(state);
        }
    }
}

impl PathModel {
    /// `state` moved on by `steps` draws, showing `visit` each log-price
    /// on the way.
    fn walk(&self, mut state: Checkpoint, steps: u64, mut visit: impl FnMut(f64)) -> Checkpoint {
        let dt = self.step.as_secs_f64() / SECONDS_PER_YEAR;
        let sigma = self.volatility;
        let mean = (self.drift - sigma * sigma / 2.0) * dt;
        let spread = sigma * dt.sqrt();
        for _ in 0..steps {
            // Every step draws the same numbers whatever the settings, so
            // changing one knob leaves the other draws where they were.
            let z = standard_normal(&mut state.rng);
            let jumps = state.rng.random::<f64>() < self.jump_probability;
            let jump = self.jump_size.sample(&mut state.rng);
            state.log_price += mean + spread * z + if jumps { jump } else { 0.0 };
            visit(state.log_price);
        }
        state
    }
}

/// The price on the grid a log-price stands for; prices too large or
/// small for a decimal hold at the grid's ends. Monotone, so the lowest
/// log-price of a block gives its lowest price.
fn grid_price(log_price: f64) -> Decimal {
    Decimal::from_f64(log_price.exp()).map_or(
        if log_price > 0.0 {
            fillproof_engine::MAX_PRICE
        } else {
            fillproof_engine::MIN_PRICE
        },
        on_price_grid,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Decimal {
        text.parse().expect("test price")
    }

    fn spy(volatility: f64) -> PathModel {
        PathModel::new(price("590.10"), 0.0, volatility, Duration::from_secs(1)).expect("model")
    }

    /// The same seed and symbol draw the same path; another symbol or seed
    /// draws another.
    #[test]
    fn a_path_is_its_seed_and_symbol() {
        let at = Duration::from_secs(3_600);
        let mut a = PricePath::new(spy(0.3), 7, "SPY");
        let mut b = PricePath::new(spy(0.3), 7, "SPY");
        let mut other_symbol = PricePath::new(spy(0.3), 7, "QQQ");
        let mut other_seed = PricePath::new(spy(0.3), 8, "SPY");
        assert_eq!(a.price_at(at), b.price_at(at));
        assert_ne!(a.price_at(at), other_symbol.price_at(at));
        assert_ne!(a.price_at(at), other_seed.price_at(at));
    }

    /// Reading the path backwards, forwards or at random gives the same
    /// prices: a read depends on its instant only.
    #[test]
    fn reads_in_any_order_agree() {
        let instants: Vec<Duration> = (0..40).map(|i| Duration::from_secs(i * 997)).collect();
        let mut forward = PricePath::new(spy(0.5), 3, "SPY");
        let ahead: Vec<Decimal> = instants.iter().map(|&t| forward.price_at(t)).collect();
        let mut backward = PricePath::new(spy(0.5), 3, "SPY");
        let behind: Vec<Decimal> = instants
            .iter()
            .rev()
            .map(|&t| backward.price_at(t))
            .collect();
        let reversed: Vec<Decimal> = behind.into_iter().rev().collect();
        assert_eq!(ahead, reversed);
    }

    /// Without drift, volatility or jumps the price never moves; it starts
    /// at the start price.
    #[test]
    fn a_still_market_holds_its_price() {
        let mut path = PricePath::new(spy(0.0), 1, "SPY");
        for t in [0, 1, 59, 86_400, 600_000] {
            assert_eq!(path.price_at(Duration::from_secs(t)), price("590.10"));
        }
    }

    /// Every price is on the grid: cents from $1 up, hundredths of a cent
    /// below, and inside the range anything trades at.
    #[test]
    fn prices_stay_on_the_grid() {
        for start in ["590.10", "0.5123"] {
            let model =
                PathModel::new(price(start), 0.0, 2.0, Duration::from_secs(1)).expect("model");
            let mut path = PricePath::new(model, 5, "X");
            for i in 0..2_000 {
                let p = path.price_at(Duration::from_secs(i * 37));
                assert_eq!(p, on_price_grid(p), "{p} off the grid");
                assert!(p > Decimal::ZERO);
            }
        }
    }

    /// The step-to-step log-returns have the volatility asked for: over
    /// 100,000 one-second steps at 30% a year the sample deviation is within
    /// 2% of 0.3 × √(1 s in years). A seeded draw, so the figure is fixed.
    #[test]
    fn returns_have_the_volatility_asked_for() {
        let mut path = PricePath::new(spy(0.3), 11, "SPY");
        let expected = 0.3 * (1.0 / SECONDS_PER_YEAR).sqrt();
        let Process::Drawn(drawn) = &path.process else {
            panic!("a drawn path");
        };
        let mut state = drawn.checkpoints[0].clone();
        let logs: Vec<f64> = (0..100_000u64)
            .map(|_| {
                state = path.model.walk(state.clone(), 1, |_| {});
                state.log_price
            })
            .collect();
        assert_eq!(
            logs[99],
            path.log_price_at(Duration::from_secs(100)),
            "walk and read agree"
        );
        let returns: Vec<f64> = logs.windows(2).map(|w| w[1] - w[0]).collect();
        let n = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / n;
        let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(
            (std / expected - 1.0).abs() < 0.02,
            "std {std}, expected {expected}"
        );
    }

    /// A jump drawn at every step moves the log-price by exactly its size.
    #[test]
    fn a_certain_jump_moves_every_step() {
        let model = spy(0.0).with_jumps(1.0, Dist::Fixed(-0.01)).expect("jumps");
        let mut path = PricePath::new(model, 2, "SPY");
        let start = path.log_price_at(Duration::ZERO);
        let later = path.log_price_at(Duration::from_secs(10));
        assert!(
            (later - start + 0.1).abs() < 1e-12,
            "moved {}",
            later - start
        );
        assert!(path.price_at(Duration::from_secs(10)) < price("590.10"));
    }

    /// Halts hold from their start for their length, and not after.
    #[test]
    fn halts_are_windows() {
        let model = spy(0.2).with_halts(vec![(Duration::from_secs(60), Duration::from_secs(30))]);
        let path = PricePath::new(model, 1, "SPY");
        assert!(!path.halted_at(Duration::from_secs(59)));
        assert!(path.halted_at(Duration::from_secs(60)));
        assert!(path.halted_at(Duration::from_secs(89)));
        assert!(!path.halted_at(Duration::from_secs(90)));
    }

    /// Settings out of range are refused, naming the setting.
    #[test]
    fn bad_settings_name_the_setting() {
        let step = Duration::from_secs(1);
        let refused = [
            PathModel::new(price("0"), 0.0, 0.2, step),
            PathModel::new(price("590.10"), f64::NAN, 0.2, step),
            PathModel::new(price("590.10"), 0.0, -0.1, step),
            PathModel::new(price("590.10"), 0.0, 0.2, Duration::from_millis(10)),
            spy(0.2).with_jumps(1.5, Dist::Fixed(0.0)),
        ];
        let fields: Vec<&str> = refused
            .iter()
            .map(|r| r.as_ref().expect_err("refused").field)
            .collect();
        assert_eq!(
            fields,
            ["price", "drift", "volatility", "step", "jumps.probability"]
        );
    }

    /// Past the last step the path holds: every later instant reads the
    /// last step, so a read however far ahead draws at most [`MAX_STEPS`].
    #[test]
    fn the_path_ends_at_its_last_step() {
        let path = PricePath::new(spy(0.5), 9, "SPY");
        let last = Duration::from_secs(MAX_STEPS);
        assert_eq!(path.step_of(last - Duration::from_secs(1)), MAX_STEPS - 1);
        assert_eq!(path.step_of(last), MAX_STEPS);
        assert_eq!(path.step_of(last * 1_000), MAX_STEPS);
        assert_eq!(path.step_of(Duration::MAX), MAX_STEPS);
    }
}
