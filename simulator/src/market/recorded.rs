//! A recorded price path: a CSV file of trades or of bars read into a
//! bounded series of points ([`Recording`]), and the prices a
//! [`super::PricePath`] replays from it ([`Replay`]).
//!
//! # The file
//!
//! Text, with a header row naming the columns, then one record a line;
//! blank lines and lines starting with `#` are skipped, fields are split
//! at commas and trimmed (no quoting). Column names are case-insensitive:
//!
//! - trades: `t`/`time`/`timestamp`, `p`/`price` and optionally
//!   `s`/`size`;
//! - bars: `t`/`time`/`timestamp`, `o`/`open`, `h`/`high`, `l`/`low`,
//!   `c`/`close` and optionally `v`/`volume`.
//!
//! Any other name is refused, naming it. A timestamp is an RFC 3339 time
//! (`2025-01-02T14:30:00Z`) or a number of seconds (`12.5`); one file uses
//! one kind. Records are in time order (trades may share an instant, bars
//! may not). Prices are positive decimals within the prices anything
//! trades at, rounded to the price grid; sizes and volumes are read and
//! checked (a number, not negative) but not used.
//!
//! ```text
//! timestamp,price,size
//! 2025-01-02T14:30:00Z,100.00,200
//! 2025-01-02T14:30:05Z,99.90,100
//! ```
//!
//! # Time
//!
//! The first record is the run's virtual time zero: the path is replayed
//! from the run's start, whatever the run's epoch. It moves on the step
//! grid of its `step`: over the step starting at `k × step` the price is
//! the last point at or before that instant, so points inside one step are
//! represented by the last of them, which shows from the next step on.
//! After the last point the price holds.
//!
//! # Bars
//!
//! A bar becomes four points inside its span (from its timestamp to the
//! next bar's; the last bar spans as long as the one before it, and a lone
//! bar four steps): the open at the bar's start, then the high and the low
//! with the one nearer the open first (on a tie, the one farther from the
//! close first, then the high), then the close, held to the bar's end.
//! The points stand at the quarters of the span, moved back to the step
//! grid: a bar of at least four steps shows all four prices, and in a
//! shorter bar points sharing a step show only the later one (so the close
//! always shows).
//!
//! # Bounds
//!
//! At most [`MAX_RECORDS`] records (four points each for bars, so at most
//! 64 MiB of points), spanning at most [`MAX_STEPS`] steps; reads are
//! binary searches over the points.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use thiserror::Error;

use super::{CHECKPOINT_EVERY, MAX_STEPS};
use crate::lifecycle::on_price_grid;

/// The most records a recorded file holds.
pub const MAX_RECORDS: usize = 1_000_000;

/// Nanoseconds in a second.
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Column names a recorded file may use, as errors list them.
const COLUMN_NAMES: &str = "t/time/timestamp, p/price, s/size (trades); \
                            o/open, h/high, l/low, c/close, v/volume (bars)";

/// A problem in a recorded file: the line (from 1) and the column where
/// known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct RecordError {
    /// The line the problem is on; `None` for the whole file.
    pub line: Option<u64>,
    /// The column, as the header names it; `None` for the whole line.
    pub column: Option<String>,
    /// What is wrong and what would do.
    pub problem: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, &self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column `{column}`: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            (None, Some(column)) => write!(f, "column `{column}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.problem)
    }
}

impl RecordError {
    fn at(line: u64, column: Option<&str>, problem: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            column: column.map(str::to_owned),
            problem: problem.into(),
        }
    }
}

/// What a recorded file holds, as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Trades: a timestamp and a price (and a size).
    Trades,
    /// Bars: a timestamp, open, high, low and close (and a volume).
    Bars,
}

/// One point of a recorded path: nanoseconds after the first record, and
/// the price in ten-thousandths of a dollar (the grid's finest increment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    nanos: u64,
    ticks: u64,
}

/// A recorded price series, read from a CSV file of trades or bars (see
/// the module's documentation for the format and the intrabar
/// convention): its points in time order, the first at time zero.
#[derive(Clone, PartialEq, Eq)]
pub struct Recording {
    kind: RecordKind,
    records: usize,
    /// Never empty: a file without records is refused.
    points: Vec<Point>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("kind", &self.kind)
            .field("records", &self.records)
            .field("points", &self.points.len())
            .field("span", &self.span())
            .finish()
    }
}

impl Recording {
    /// Reads the text of a recorded file, for a path moving every `step`
    /// (which places the points of bars and bounds the file's span).
    ///
    /// # Errors
    /// The first problem, with its line and column: a header naming no
    /// known columns, a record out of time order, a timestamp, price or
    /// size that does not read or is out of range, more than
    /// [`MAX_RECORDS`] records, a span past [`MAX_STEPS`] steps, or no
    /// records at all.
    pub fn parse(text: &str, step: Duration) -> Result<Self, RecordError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (u64::try_from(i + 1).unwrap_or(u64::MAX), line))
            .map(|(number, line)| (number, line.trim_start_matches('\u{feff}').trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'));
        let Some((number, first)) = lines.next() else {
            return Err(RecordError {
                line: None,
                column: None,
                problem: "holds no header and no records; start with a header such as \
                          `timestamp,price` or `timestamp,open,high,low,close`"
                    .into(),
            });
        };
        let mut reader = Reader::new(Header::read(number, first)?, step);
        for (number, line) in lines {
            reader.record(number, line)?;
        }
        reader.finish(number)
    }

    /// What the file held: trades or bars.
    #[must_use]
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// How many records the file held.
    #[must_use]
    pub fn records(&self) -> usize {
        self.records
    }

    /// The time from the first point to the last.
    #[must_use]
    pub fn span(&self) -> Duration {
        Duration::from_nanos(self.points.last().map_or(0, |p| p.nanos))
    }

    /// The first price: the path's price at time zero.
    #[must_use]
    pub fn first_price(&self) -> Decimal {
        self.points
            .first()
            .map_or(fillproof_engine::MIN_PRICE, |p| price_of(p.ticks))
    }

    /// The index of the last point at or before `nanos` (0 before the
    /// first).
    fn index_at(&self, nanos: u64) -> usize {
        self.points
            .partition_point(|p| p.nanos <= nanos)
            .saturating_sub(1)
    }

    /// True when point `i` is the price of some step: no later point
    /// stands at or before the first step start at or after it.
    fn shows(&self, i: usize, step_nanos: u128) -> bool {
        let Some(next) = self.points.get(i + 1) else {
            return true;
        };
        let shown_from = u128::from(self.points[i].nanos).div_ceil(step_nanos) * step_nanos;
        shown_from < u128::from(next.nanos)
    }

    /// The lowest and highest price over steps `from..=to` (ticks): the
    /// price at `from`, and every point shown at a later step up to `to`.
    fn range_over(&self, from: u64, to: u64, step_nanos: u128) -> (u64, u64) {
        let at = |step: u64| u64::try_from(u128::from(step) * step_nanos).unwrap_or(u64::MAX);
        let first = self.index_at(at(from));
        let end = at(to);
        let start = self.points[first].ticks;
        let (mut low, mut high) = (start, start);
        for i in first + 1..self.points.len() {
            let point = self.points[i];
            if point.nanos > end {
                break;
            }
            if self.shows(i, step_nanos) {
                low = low.min(point.ticks);
                high = high.max(point.ticks);
            }
        }
        (low, high)
    }
}

/// A recorded path during a run: the shared recording and the ranges of
/// the blocks of steps read so far.
#[derive(Debug, Clone)]
pub(super) struct Replay {
    recording: Arc<Recording>,
    /// The lowest and highest price of each block of
    /// [`CHECKPOINT_EVERY`] steps (both ends included), once read.
    ranges: Vec<Option<(Decimal, Decimal)>>,
}

impl Replay {
    /// The replay of `recording` from its start.
    pub(super) fn new(recording: Arc<Recording>) -> Self {
        Self {
            recording,
            ranges: Vec::new(),
        }
    }

    /// True when the path never moves: a single point.
    pub(super) fn is_still(&self) -> bool {
        self.recording.points.len() == 1
    }

    /// The price over `step`: the last point at or before its start.
    pub(super) fn price_at_step(&self, step: u64, step_nanos: u128) -> Decimal {
        let start = u64::try_from(u128::from(step) * step_nanos).unwrap_or(u64::MAX);
        price_of(self.recording.points[self.recording.index_at(start)].ticks)
    }

    /// The lowest and highest price over the steps of `block` and the
    /// next block's first step, exactly as [`Replay::price_at_step`] reads
    /// them.
    pub(super) fn block_range(&mut self, block: u64, step_nanos: u128) -> (Decimal, Decimal) {
        let index = usize::try_from(block).unwrap_or(usize::MAX);
        if let Some(Some(range)) = self.ranges.get(index) {
            return *range;
        }
        let from = block.saturating_mul(CHECKPOINT_EVERY).min(MAX_STEPS);
        let to = from.saturating_add(CHECKPOINT_EVERY).min(MAX_STEPS);
        let (low, high) = self.recording.range_over(from, to, step_nanos);
        let range = (price_of(low), price_of(high));
        if index < self.ranges.len() {
            self.ranges[index] = Some(range);
        } else if index <= usize::try_from(MAX_STEPS / CHECKPOINT_EVERY).unwrap_or(0) {
            self.ranges.resize(index, None);
            self.ranges.push(Some(range));
        }
        range
    }
}

/// The price `ticks` ten-thousandths of a dollar stand for, on the grid.
fn price_of(ticks: u64) -> Decimal {
    on_price_grid(Decimal::new(i64::try_from(ticks).unwrap_or(i64::MAX), 4))
}

/// A column a recorded file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Time,
    Price,
    Size,
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl Column {
    /// The column `name` (any case) stands for.
    fn named(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "t" | "time" | "timestamp" => Self::Time,
            "p" | "price" => Self::Price,
            "s" | "size" => Self::Size,
            "o" | "open" => Self::Open,
            "h" | "high" => Self::High,
            "l" | "low" => Self::Low,
            "c" | "close" => Self::Close,
            "v" | "volume" => Self::Volume,
            _ => return None,
        })
    }

    /// The kind of file the column belongs to; `None` for the timestamp.
    fn kind(self) -> Option<RecordKind> {
        match self {
            Self::Time => None,
            Self::Price | Self::Size => Some(RecordKind::Trades),
            _ => Some(RecordKind::Bars),
        }
    }
}

/// The header row: the columns in the file's order, as it names them.
#[derive(Debug)]
struct Header {
    columns: Vec<(Column, String)>,
    kind: RecordKind,
}

impl Header {
    /// Reads the header on `line`.
    fn read(line: u64, text: &str) -> Result<Self, RecordError> {
        let mut columns: Vec<(Column, String)> = Vec::new();
        let mut kind = None;
        for name in text.split(',').map(str::trim) {
            let column = Column::named(name).ok_or_else(|| {
                RecordError::at(
                    line,
                    Some(name),
                    format!(
                        "is not a column name (the first line is the header); \
                         allowed: {COLUMN_NAMES}"
                    ),
                )
            })?;
            if let Some((_, earlier)) = columns.iter().find(|(c, _)| *c == column) {
                return Err(RecordError::at(
                    line,
                    Some(name),
                    format!("names the same column as `{earlier}`; name each once"),
                ));
            }
            match (kind, column.kind()) {
                (Some(was), Some(now)) if was != now => {
                    return Err(RecordError::at(
                        line,
                        Some(name),
                        "mixes trades (price, size) and bars (open, high, low, close, \
                         volume); a file holds one or the other",
                    ));
                }
                (_, Some(now)) => kind = Some(now),
                _ => {}
            }
            columns.push((column, name.to_owned()));
        }
        Self::complete(line, columns, kind)
    }

    /// The header, once it names every column its kind needs.
    fn complete(
        line: u64,
        columns: Vec<(Column, String)>,
        kind: Option<RecordKind>,
    ) -> Result<Self, RecordError> {
        let kind = kind.ok_or_else(|| {
            RecordError::at(
                line,
                None,
                "names no price; write `timestamp,price` (trades) or \
                 `timestamp,open,high,low,close` (bars)",
            )
        })?;
        let (what, needed): (&str, &[(Column, &str)]) = match kind {
            RecordKind::Trades => (
                "trades",
                &[(Column::Time, "timestamp"), (Column::Price, "price")],
            ),
            RecordKind::Bars => (
                "bars",
                &[
                    (Column::Time, "timestamp"),
                    (Column::Open, "open"),
                    (Column::High, "high"),
                    (Column::Low, "low"),
                    (Column::Close, "close"),
                ],
            ),
        };
        for (column, name) in needed {
            if !columns.iter().any(|(c, _)| c == column) {
                return Err(RecordError::at(
                    line,
                    Some(name),
                    format!("is missing from the header; {what} need it"),
                ));
            }
        }
        Ok(Self { columns, kind })
    }

    /// The name the header gives `column`, when it has it.
    fn name_of(&self, column: Column) -> Option<String> {
        self.columns
            .iter()
            .find(|(have, _)| *have == column)
            .map(|(_, name)| name.clone())
    }
}

/// How a file writes its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Rfc3339,
    Seconds,
}

/// A timestamp in nanoseconds on its clock (since the Unix epoch, or as
/// written), or why it does not read.
fn read_time(text: &str) -> Result<(Clock, i128), String> {
    if let Ok(seconds) = text.parse::<Decimal>() {
        return seconds
            .checked_mul(Decimal::from(NANOS_PER_SECOND))
            .and_then(|nanos| nanos.round().to_i128())
            .map(|nanos| (Clock::Seconds, nanos))
            .ok_or_else(|| format!("`{text}` seconds is out of range"));
    }
    fillproof_engine::Timestamp::parse_rfc3339(text)
        .map(|stamp| (Clock::Rfc3339, i128::from(stamp.unix_micros) * 1_000))
        .ok_or_else(|| {
            format!(
                "`{text}` is neither an RFC 3339 time (2025-01-02T14:30:00Z) \
                 nor a number of seconds (12.5)"
            )
        })
}

/// A price as ticks of the grid's finest increment, or why it is refused.
fn read_price(text: &str) -> Result<u64, String> {
    let price: Decimal = text
        .parse()
        .map_err(|_| format!("`{text}` is not a decimal price; write it like 590.10"))?;
    if price <= Decimal::ZERO {
        return Err(format!("is {price}; prices are positive"));
    }
    let (low, high) = (fillproof_engine::MIN_PRICE, fillproof_engine::MAX_PRICE);
    if price < low || price > high {
        return Err(format!(
            "is {price}, out of range; allowed: {low} to {high}"
        ));
    }
    (on_price_grid(price) * Decimal::from(10_000))
        .to_u64()
        .ok_or_else(|| format!("is {price}, out of range; allowed: {low} to {high}"))
}

/// A size or volume: a number, not negative.
fn read_amount(text: &str) -> Result<(), String> {
    match text.parse::<Decimal>() {
        Ok(amount) if amount >= Decimal::ZERO => Ok(()),
        Ok(amount) => Err(format!("is {amount}; it cannot be negative")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// One bar, read and waiting for the next bar's time to know its span.
#[derive(Debug, Clone, Copy)]
struct Bar {
    at: u64,
    open: u64,
    high: u64,
    low: u64,
    close: u64,
}

impl Bar {
    /// The high and the low in the order the path visits them: the one
    /// nearer the open first; on a tie the one farther from the close,
    /// then the high.
    fn extremes(&self) -> (u64, u64) {
        let high_first = match (self.high - self.open).cmp(&(self.open - self.low)) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.high.abs_diff(self.close) >= self.close.abs_diff(self.low),
        };
        if high_first {
            (self.high, self.low)
        } else {
            (self.low, self.high)
        }
    }
}

/// The times of a file's records read so far.
struct Times {
    step_nanos: u128,
    /// The latest a point may stand: [`MAX_STEPS`] steps.
    max_nanos: u128,
    /// The clock the first record used and its time: time zero.
    origin: Option<(Clock, i128)>,
    /// The last record's time and line.
    last: Option<(u64, u64)>,
    /// True for bars, which may not share an instant.
    bars: bool,
}

impl Times {
    /// The time of the record on `line` after the first, in order.
    fn read_at(&mut self, line: u64, name: &str, text: &str) -> Result<u64, RecordError> {
        let problem = |problem: String| RecordError::at(line, Some(name), problem);
        let (clock, nanos) = read_time(text).map_err(problem)?;
        let (first_clock, origin) = *self.origin.get_or_insert((clock, nanos));
        if clock != first_clock {
            return Err(problem(format!(
                "`{text}` is written as {clock:?} and the first record's time as \
                 {first_clock:?}; write every timestamp one way"
            )));
        }
        let after = nanos - origin;
        if after < 0 {
            return Err(problem(format!(
                "`{text}` is before the first record; records are in time order"
            )));
        }
        let after = u128::try_from(after).unwrap_or(u128::MAX);
        if after > self.max_nanos {
            let step = Duration::from_nanos(u64::try_from(self.step_nanos).unwrap_or(u64::MAX));
            return Err(problem(format!(
                "`{text}` is {:?} after the first record; a recorded path spans at most \
                 {MAX_STEPS} steps of {step:?}: give a longer `step` or a shorter file",
                Duration::from_nanos(u64::try_from(after).unwrap_or(u64::MAX))
            )));
        }
        let at = u64::try_from(after).unwrap_or(u64::MAX);
        if let Some((last, last_line)) = self.last {
            let bars = self.bars;
            if at < last || (bars && at == last) {
                return Err(problem(format!(
                    "`{text}` is not after line {last_line}'s time; records are in time order{}",
                    if bars { ", one bar an instant" } else { "" }
                )));
            }
        }
        Ok(at)
    }
}

/// The state of reading a file's records.
struct Reader {
    header: Header,
    times: Times,
    records: usize,
    points: Vec<Point>,
    /// The last bar read, placed once the next one's time is known.
    pending: Option<Bar>,
    /// The span of the last bar placed.
    last_span: Option<u64>,
}

impl Reader {
    fn new(header: Header, step: Duration) -> Self {
        let step_nanos = step.as_nanos().max(1);
        let bars = header.kind == RecordKind::Bars;
        Self {
            header,
            times: Times {
                step_nanos,
                max_nanos: step_nanos
                    .saturating_mul(u128::from(MAX_STEPS))
                    .min(u128::from(u64::MAX)),
                origin: None,
                last: None,
                bars,
            },
            records: 0,
            points: Vec::new(),
            pending: None,
            last_span: None,
        }
    }

    /// Reads the record on `line`.
    fn record(&mut self, line: u64, text: &str) -> Result<(), RecordError> {
        if self.records == MAX_RECORDS {
            return Err(RecordError::at(
                line,
                None,
                format!(
                    "is record {}; a file holds at most {MAX_RECORDS} records",
                    MAX_RECORDS + 1
                ),
            ));
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let columns = self.header.columns.len();
        if fields.len() != columns {
            let column = self
                .header
                .columns
                .get(fields.len())
                .map(|(_, n)| n.as_str());
            return Err(RecordError::at(
                line,
                column,
                format!(
                    "the record has {} fields and the header {columns} columns",
                    fields.len()
                ),
            ));
        }
        let mut at = 0;
        let mut prices = [0_u64; 4];
        for ((column, name), field) in self.header.columns.iter().zip(&fields) {
            let problem = |problem| RecordError::at(line, Some(name), problem);
            match column {
                Column::Time => at = self.times.read_at(line, name, field)?,
                Column::Size | Column::Volume => read_amount(field).map_err(problem)?,
                Column::Price | Column::Open => prices[0] = read_price(field).map_err(problem)?,
                Column::High => prices[1] = read_price(field).map_err(problem)?,
                Column::Low => prices[2] = read_price(field).map_err(problem)?,
                Column::Close => prices[3] = read_price(field).map_err(problem)?,
            }
        }
        self.records += 1;
        match self.header.kind {
            RecordKind::Trades => self.points.push(Point {
                nanos: at,
                ticks: prices[0],
            }),
            RecordKind::Bars => self.bar(line, at, prices)?,
        }
        self.times.last = Some((at, line));
        Ok(())
    }

    /// Checks the bar on `line` and places the one before it.
    fn bar(&mut self, line: u64, at: u64, prices: [u64; 4]) -> Result<(), RecordError> {
        let [open, high, low, close] = prices;
        for (ticks, what) in [(open, "open"), (close, "close")] {
            let wrong = if ticks > high {
                Some((Column::High, high, "under"))
            } else if ticks < low {
                Some((Column::Low, low, "over"))
            } else {
                None
            };
            if let Some((column, bound, side)) = wrong {
                return Err(RecordError {
                    line: Some(line),
                    column: self.header.name_of(column),
                    problem: format!(
                        "is {}, {side} the bar's {what} {}",
                        price_of(bound),
                        price_of(ticks)
                    ),
                });
            }
        }
        let bar = Bar {
            at,
            open,
            high,
            low,
            close,
        };
        if let Some(previous) = self.pending.replace(bar) {
            let span = at - previous.at;
            self.place(previous, span);
            self.last_span = Some(span);
        }
        Ok(())
    }

    /// Places `bar`'s four points inside `span`: at its quarters, moved
    /// back to the step grid.
    fn place(&mut self, bar: Bar, span: u64) {
        let (first, second) = bar.extremes();
        for (quarter, ticks) in [bar.open, first, second, bar.close].into_iter().enumerate() {
            let offset = u128::from(span) * quarter as u128 / 4;
            let offset = offset / self.times.step_nanos * self.times.step_nanos;
            self.points.push(Point {
                nanos: bar
                    .at
                    .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX)),
                ticks,
            });
        }
    }

    /// The recording, once every record is read; `header_line` is the
    /// header's line.
    fn finish(mut self, header_line: u64) -> Result<Recording, RecordError> {
        if self.records == 0 {
            return Err(RecordError::at(
                header_line,
                None,
                "the header is followed by no records; add at least one",
            ));
        }
        if let Some(bar) = self.pending.take() {
            let four_steps = u64::try_from(self.times.step_nanos * 4).unwrap_or(u64::MAX);
            let span = self.last_span.unwrap_or(four_steps);
            self.place(bar, span);
        }
        Ok(Recording {
            kind: self.header.kind,
            records: self.records,
            points: self.points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{PathModel, PricePath};

    const SECOND: Duration = Duration::from_secs(1);

    fn price(text: &str) -> Decimal {
        text.parse().expect("test price")
    }

    fn read(text: &str) -> Recording {
        Recording::parse(text, SECOND).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The error reading `text` gives, as (line, column).
    fn refused(text: &str) -> (Option<u64>, Option<String>, String) {
        let error = Recording::parse(text, SECOND).expect_err(text);
        (error.line, error.column.clone(), error.to_string())
    }

    /// The (seconds, price) of every point of `recording`.
    fn points(recording: &Recording) -> Vec<(f64, Decimal)> {
        recording
            .points
            .iter()
            .map(|p| (p.nanos as f64 / 1e9, price_of(p.ticks)))
            .collect()
    }

    /// Trades read as points at their times after the first, prices on
    /// the grid; the header's names are any case, sizes are optional, and
    /// comments and blank lines are skipped.
    #[test]
    fn trades_read_as_points_from_time_zero() {
        let recording =
            read("# a tape\nTimestamp,PRICE,size\n\n10,100.004,5\n12.5,0.51236,1\n12.5,101,0\n");
        assert_eq!(recording.kind(), RecordKind::Trades);
        assert_eq!(recording.records(), 3);
        assert_eq!(
            points(&recording),
            [
                (0.0, price("100.00")),
                (2.5, price("0.5124")),
                (2.5, price("101.00"))
            ]
        );
        assert_eq!(recording.span(), Duration::from_millis(2_500));
        let short = read("t,p\n0,5\n");
        assert_eq!(short.first_price(), price("5.00"));
    }

    /// RFC 3339 timestamps count from the first record.
    #[test]
    fn rfc3339_times_count_from_the_first_record() {
        let recording = read(
            "time,price\n2025-01-02T14:30:00Z,100\n2025-01-02T14:30:01.25Z,101\n\
             2025-01-02T09:31:00-05:00,102\n",
        );
        assert_eq!(
            points(&recording),
            [
                (0.0, price("100")),
                (1.25, price("101")),
                (60.0, price("102"))
            ]
        );
    }

    /// A bar becomes its open at its start, then the extreme nearer the
    /// open, the other extreme and the close at its quarters; the last bar
    /// spans as long as the one before it.
    #[test]
    fn bars_expand_into_four_points_nearer_extreme_first() {
        let recording =
            read("t,o,h,l,c,v\n0,100.00,100.50,99.90,100.20,10\n60,100.20,100.30,99.50,99.60,12\n");
        assert_eq!(recording.kind(), RecordKind::Bars);
        assert_eq!(recording.records(), 2);
        assert_eq!(
            points(&recording),
            [
                (0.0, price("100.00")),
                (15.0, price("99.90")),
                (30.0, price("100.50")),
                (45.0, price("100.20")),
                (60.0, price("100.20")),
                (75.0, price("100.30")),
                (90.0, price("99.50")),
                (105.0, price("99.60")),
            ]
        );
    }

    /// With the open midway, the extreme farther from the close comes
    /// first; a lone bar spans four steps; a bar of one step shows its
    /// close.
    #[test]
    fn intrabar_ties_and_short_bars() {
        let tie = read("t,o,h,l,c\n0,100,101,99,100.80\n");
        assert_eq!(
            points(&tie).iter().map(|(s, _)| *s).collect::<Vec<f64>>(),
            [0.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            points(&tie)[1].1,
            price("99"),
            "low first: the close is near the high"
        );
        let mut path = PricePath::new(
            PathModel::recorded(
                Arc::new(read(
                    "t,o,h,l,c\n0,10,12,9,11\n1,11,13,10,12\n2,12,12,8,9\n",
                )),
                SECOND,
            )
            .expect("model"),
            1,
            "X",
        );
        let seen: Vec<Decimal> = (0..3).map(|s| path.price_at(SECOND * s)).collect();
        assert_eq!(seen, [price("11"), price("12"), price("9")]);
    }

    /// The path moves on its step grid: over a step it is the last point
    /// at or before the step's start (before the first point, the first);
    /// points inside one step show the last of them from the next step;
    /// after the last point the price holds.
    #[test]
    fn a_replay_moves_on_the_step_grid() {
        let recording = read("t,p\n0,10\n0.2,11\n0.7,12\n1,13\n2.5,14\n");
        let mut path = PricePath::new(
            PathModel::recorded(Arc::new(recording), SECOND).expect("model"),
            1,
            "X",
        );
        let at = |ms: u64| Duration::from_millis(ms);
        let seen: Vec<Decimal> = [0, 500, 999, 1_000, 1_999, 2_000, 2_999, 3_000, 1_000_000]
            .into_iter()
            .map(|ms| path.price_at(at(ms)))
            .collect();
        let expected = ["10", "10", "10", "13", "13", "13", "13", "14", "14"];
        assert_eq!(seen, expected.map(price));
        assert_eq!(path.next_step_after(at(1_500)), Some(at(2_000)));
        assert!(!path.is_still());
        let single = read("t,p\n0,10\n");
        let still = PricePath::new(
            PathModel::recorded(Arc::new(single), SECOND).expect("model"),
            1,
            "X",
        );
        assert!(still.is_still(), "one trade never moves");
    }

    /// Each block's range is exactly the lowest and highest price the
    /// path reads at the block's steps and the next block's first, with
    /// points hidden inside a step left out.
    #[test]
    fn block_ranges_are_exact() {
        let mut text = String::from("t,p\n");
        for i in 0..6_000_u64 {
            // Prices wander; points 0.7 s apart sometimes share a step,
            // and the earlier one never shows.
            let seconds = i as f64 * 0.7;
            let cents = 10_000 + (i * 7_919 % 997) as i64 - 500 + (i / 50) as i64;
            text.push_str(&format!("{seconds},{}\n", Decimal::new(cents, 2)));
        }
        let model = PathModel::recorded(Arc::new(read(&text)), SECOND).expect("model");
        let mut path = PricePath::new(model, 1, "X");
        for block in 0..6_u64 {
            let start = block * CHECKPOINT_EVERY;
            let ((low, high), next) = path.block_range(SECOND * u32::try_from(start).expect("u32"));
            let read: Vec<Decimal> = (start..=start + CHECKPOINT_EVERY)
                .map(|s| path.price_at(Duration::from_secs(s)))
                .collect();
            let min = read.iter().min().copied().expect("prices");
            let max = read.iter().max().copied().expect("prices");
            assert_eq!((low, high), (min, max), "block {block}");
            assert_eq!(next, Some(Duration::from_secs(start + CHECKPOINT_EVERY)));
        }
    }

    /// A bad header is refused on its line, naming the column at fault.
    #[test]
    fn bad_headers_name_the_column() {
        let cases = [
            ("timestamp,vwap\n", 1, Some("vwap")),
            ("0,100.00\n1,100.10\n", 1, Some("0")),
            ("# c\n\ntime,price,price\n", 3, Some("price")),
            ("t,price,open\n", 1, Some("open")),
            ("t,o,h,c\n", 1, Some("low")),
            ("price,size\n", 1, Some("timestamp")),
            ("timestamp\n", 1, None),
        ];
        for (text, line, column) in cases {
            let (at, named, message) = refused(text);
            assert_eq!(at, Some(line), "{text}: {message}");
            assert_eq!(named.as_deref(), column, "{text}: {message}");
        }
    }

    /// A record at fault is refused on its line, naming its column.
    #[test]
    fn bad_records_name_line_and_column() {
        let cases = [
            ("t,p\n5,100\n4,100\n", 3, Some("t"), "time order"),
            (
                "t,o,h,l,c\n5,1,1,1,1\n5,1,1,1,1\n",
                3,
                Some("t"),
                "one bar an instant",
            ),
            ("t,p\n0,100\n1,-3\n", 3, Some("p"), "positive"),
            ("t,p\n0,100\n1,0\n", 3, Some("p"), "positive"),
            ("t,p\n0,20000000\n", 2, Some("p"), "out of range"),
            ("t,p\n0,0.00001\n", 2, Some("p"), "out of range"),
            ("t,p\n0,1O0\n", 2, Some("p"), "not a decimal price"),
            ("t,p\nyesterday,100\n", 2, Some("t"), "RFC 3339"),
            (
                "t,p\n0,100\n2025-01-02T14:30:00Z,100\n",
                3,
                Some("t"),
                "one way",
            ),
            ("t,p,s\n0,100,-1\n", 2, Some("s"), "negative"),
            ("t,p,s\n0,100\n", 2, Some("s"), "fields"),
            (
                "t,o,h,l,c\n0,10,9,8,9\n",
                2,
                Some("h"),
                "under the bar's open",
            ),
            (
                "t,o,h,l,c\n0,10,11,8,7\n",
                2,
                Some("l"),
                "over the bar's close",
            ),
            ("t,p\n0,1\n7000000,1\n", 3, Some("t"), "6048000 steps"),
            ("t,p\n\n", 1, None, "no records"),
        ];
        for (text, line, column, words) in cases {
            let (at, named, message) = refused(text);
            assert_eq!(at, Some(line), "{text}: {message}");
            assert_eq!(named.as_deref(), column, "{text}: {message}");
            assert!(message.contains(words), "{text}: {message}");
            assert!(message.starts_with(&format!("line {line}")), "{message}");
        }
        assert_eq!(refused("").0, None, "an empty file has no line");
    }

    /// A file of more than [`MAX_RECORDS`] records is refused at the
    /// first record past the bound; one of exactly that many reads.
    #[test]
    fn too_many_records_are_refused() {
        let mut text = String::with_capacity(4 * MAX_RECORDS + 8);
        text.push_str("t,p\n");
        for _ in 0..MAX_RECORDS {
            text.push_str("0,1\n");
        }
        assert_eq!(read(&text).records(), MAX_RECORDS);
        text.push_str("0,1\n");
        let (line, column, message) = refused(&text);
        assert_eq!(line, Some(u64::try_from(MAX_RECORDS).expect("u64") + 2));
        assert_eq!(column, None);
        assert!(message.contains("at most 1000000 records"), "{message}");
    }
}
