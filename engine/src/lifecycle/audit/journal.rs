//! The audit log read back as the engine's journal, after a crash.
//!
//! The log is the journal: its `submit` record is written (and, under
//! either durability policy, made durable) before the order is sent, and
//! a verdict record ends every intent the engine concluded. Reading it
//! back checks the chain line by line. A crash can cut the last write
//! short: a last line that is not a whole, chained record is a torn tail,
//! reported and left out, never read as a record. Anything wrong before
//! the last line is not a crash's doing, and is refused.

use rust_decimal::Decimal;

use super::*;
use crate::lifecycle::Signal;
use crate::lifecycle::trader::{PENDING_CANCEL, replace_of};
use crate::port::{OrderStatus, TimeInForce, Timestamp};

/// A last line a crash cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Its line, from 1.
    pub line: usize,
    /// Why it is not a record.
    pub detail: String,
    /// Its length in bytes.
    pub bytes: usize,
}

/// A journal read back: its whole records, and the torn tail, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    records: Vec<AuditRecord>,
    torn: Option<TornTail>,
}

/// What the journal holds of one intent, in the order it first appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledIntent {
    /// The signal as its `submit` record gives it (id, trader, symbol,
    /// side, quantity, limit); for records without one (a bracket's exit
    /// leg, audited when it ended), as its first record gives it.
    pub signal: Signal,
    /// True when a `submit` record says the order may have been sent.
    pub submitted: bool,
    /// When the (last) `submit` record was written, by the engine's
    /// clock: the order was sent no earlier.
    pub recorded_at: Option<Timestamp>,
    /// The broker's id, once a record holds it.
    pub order_id: Option<String>,
    /// What filled, as the last fill record says: quantity, average price
    /// and the broker's stamp.
    pub filled: Option<(Decimal, Option<Decimal>, Option<Timestamp>)>,
    /// The pieces it filled in, quantity, price and broker stamp, as the
    /// last fill record gives them; none when it filled in one, or when
    /// the pieces do not add up to the record's quantity or a stamp is not
    /// one (the record's total is booked then).
    pub executions: Vec<(Decimal, Decimal, Timestamp)>,
    /// The record that concluded it, when the engine did.
    pub concluded: Option<AuditEvent>,
    /// When the engine concluded, by its clock.
    pub concluded_at: Option<Timestamp>,
    /// The concluding record's number in the log: the engine booked
    /// intents in this order.
    pub concluded_seq: Option<u64>,
    /// Why its order was to be canceled, when a cancel of it is journaled
    /// (a `cancel` record, status `pending_cancel`: the trader's, or one
    /// the engine was about to send) and no verdict followed: a restarted
    /// engine cancels the order it finds.
    pub cancel_asked: Option<String>,
    /// True when the record that concluded it says the order filled
    /// whole (a bracket's exits work from then).
    pub filled_whole: bool,
    /// For an exit leg: the `client_order_id` of the entry it protects.
    pub exit_of: Option<String>,
    /// How many replaces of it the journal holds (`{id}-v1` … `{id}-vN`):
    /// a restarted engine names its next replace `{id}-v{N+1}`.
    pub replaces: u32,
}

/// A bracket's or OTO's entry the journal shows filled whole, and not
/// every exit leg of it ended: a crash may have left legs working, for a
/// restarted engine to find and watch again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenExits {
    /// The entry: its signal carries its exits, its order id names the
    /// order whose legs to read.
    pub entry: JournaledIntent,
    /// Its legs the journal shows ended, with what each filled.
    pub ended: Vec<JournaledIntent>,
}

impl JournaledIntent {
    /// True when the engine sent, or may have sent, the order and never
    /// concluded about it: recovery must find out what became of it.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        self.submitted && self.concluded.is_none()
    }
}

/// True for a record that concludes its intent: a verdict (a fill record
/// of a filled order or of one that ended with part filled), a refusal,
/// or a failure. A fill record of `partially_filled` is followed by the
/// verdict.
fn concludes(record: &AuditRecord) -> bool {
    match record.event {
        AuditEvent::Submit | AuditEvent::Submitted | AuditEvent::Cancel => false,
        AuditEvent::Fill => record.status != "partially_filled",
        AuditEvent::Refused | AuditEvent::Reject | AuditEvent::NotFilled | AuditEvent::Failure => {
            true
        }
    }
}

impl Journal {
    /// Reads `text`, a log as written (keyed with `key`, or keyless),
    /// checking its chain. An empty journal is a fresh start.
    ///
    /// # Errors
    /// A line before the last that is not a record, is edited or out of
    /// chain: a crash cuts only the end, so this journal was damaged
    /// otherwise and recovery will not guess.
    pub fn read(text: &str, key: Option<&AuditKey>) -> Result<Self, AuditError> {
        let mut journal = Self::default();
        let mut previous_hash = GENESIS.to_owned();
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| (index + 1, line))
            .collect();
        let last = lines.last().map(|(number, _)| *number);
        for (number, line) in lines {
            let checked = parse_record(line, number).and_then(|record| {
                check_line(line, number, &record, key)?;
                let expected = journal.records.len() as u64 + 1;
                if record.seq != expected || record.prev_hash != previous_hash {
                    return Err(AuditError::Broken {
                        line: number,
                        seq: record.seq,
                        previous: expected - 1,
                        expected,
                    });
                }
                Ok(record)
            });
            match checked {
                Ok(record) => {
                    previous_hash.clone_from(&record.hash);
                    journal.records.push(record);
                }
                // Only the write the crash interrupted can be torn.
                Err(error) if Some(number) == last && !text.ends_with('\n') => {
                    journal.torn = Some(TornTail {
                        line: number,
                        detail: error.to_string(),
                        bytes: line.len(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(journal)
    }

    /// Every bracket's or OTO's entry that filled whole and has exit
    /// legs the journal does not show ended (an entry has one leg per
    /// exit its `submit` record gives), in journal order.
    #[must_use]
    pub fn open_exits(&self) -> Vec<OpenExits> {
        let intents = self.intents();
        let mut ended: std::collections::BTreeMap<&str, Vec<&JournaledIntent>> =
            std::collections::BTreeMap::new();
        for leg in &intents {
            if let (Some(entry), Some(_)) = (&leg.exit_of, leg.concluded) {
                ended.entry(entry.as_str()).or_default().push(leg);
            }
        }
        intents
            .iter()
            .filter(|entry| entry.filled_whole && entry.exit_of.is_none())
            .filter_map(|entry| {
                let signal = &entry.signal;
                let legs = usize::from(signal.stop_loss.is_some())
                    + usize::from(signal.take_profit.is_some());
                let done = ended
                    .get(signal.client_order_id.as_str())
                    .map_or(&[][..], Vec::as_slice);
                (done.len() < legs).then(|| OpenExits {
                    entry: entry.clone(),
                    ended: done.iter().map(|&leg| leg.clone()).collect(),
                })
            })
            .collect()
    }

    /// The whole records, in order.
    #[must_use]
    pub fn records(&self) -> &[AuditRecord] {
        &self.records
    }

    /// The torn tail left out, if the crash cut the last write short.
    #[must_use]
    pub fn torn(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Where the chain ends: the last whole record's number and hash
    /// (0 and [`GENESIS`] for an empty journal), to append after.
    #[must_use]
    pub fn end(&self) -> (u64, String) {
        self.records
            .last()
            .map_or_else(|| (0, GENESIS.to_owned()), |r| (r.seq, r.hash.clone()))
    }

    /// Every intent the journal names, in the order each first appears.
    #[must_use]
    pub fn intents(&self) -> Vec<JournaledIntent> {
        let mut intents: Vec<JournaledIntent> = Vec::new();
        let mut place: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for record in &self.records {
            let at = *place
                .entry(record.client_order_id.as_str())
                .or_insert_with(|| {
                    intents.push(JournaledIntent {
                        signal: signal_of(record),
                        submitted: false,
                        recorded_at: None,
                        order_id: None,
                        filled: None,
                        executions: Vec::new(),
                        concluded: None,
                        concluded_at: None,
                        concluded_seq: None,
                        cancel_asked: None,
                        filled_whole: false,
                        exit_of: None,
                        replaces: 0,
                    });
                    intents.len() - 1
                });
            let intent = &mut intents[at];
            if record.event == AuditEvent::Submit {
                intent.signal = signal_of(record);
                intent.submitted = true;
                intent.recorded_at = Timestamp::parse_rfc3339(&record.ts);
            }
            if record.order_id.is_some() {
                intent.order_id.clone_from(&record.order_id);
            }
            if record.event == AuditEvent::Cancel && record.status == PENDING_CANCEL {
                intent.cancel_asked = Some(record.reason.clone());
            }
            if record.exit_of.is_some() {
                intent.exit_of.clone_from(&record.exit_of);
            }
            if record.event == AuditEvent::Fill {
                let broker_at = record
                    .broker_at
                    .as_deref()
                    .and_then(Timestamp::parse_rfc3339);
                intent.filled = Some((record.qty, record.price, broker_at));
                intent.executions = pieces_of(record);
            }
            if concludes(record) {
                intent.filled_whole = record.event == AuditEvent::Fill
                    && record.status == OrderStatus::Filled.as_str();
                intent.concluded = Some(record.event);
                intent.concluded_at = Timestamp::parse_rfc3339(&record.ts);
                intent.concluded_seq = Some(record.seq);
            }
        }
        // Each replace `{id}-vN` counts for the intent it replaces.
        let counts: Vec<(usize, u32)> = intents
            .iter()
            .filter_map(|intent| {
                let (base, n) = replace_of(&intent.signal.client_order_id)?;
                Some((*place.get(base)?, n))
            })
            .collect();
        for (at, n) in counts {
            intents[at].replaces = intents[at].replaces.max(n);
        }
        intents
    }
}

/// The pieces a fill record lists, each with its stamp; none unless they
/// add up to the record's quantity and every stamp reads.
fn pieces_of(record: &AuditRecord) -> Vec<(Decimal, Decimal, Timestamp)> {
    let pieces: Option<Vec<(Decimal, Decimal, Timestamp)>> = record
        .executions
        .iter()
        .map(|(qty, price, at)| Some((*qty, *price, Timestamp::parse_rfc3339(at)?)))
        .collect();
    pieces
        .filter(|p| p.iter().map(|(qty, _, _)| *qty).sum::<Decimal>() == record.qty)
        .unwrap_or_default()
}

/// The signal a record stands for: a `submit` record holds the ordered
/// quantity, the limit price and the exits of a bracket or an OTO.
fn signal_of(record: &AuditRecord) -> Signal {
    let submit = record.event == AuditEvent::Submit;
    Signal {
        stop_loss: record.stop_loss.filter(|_| submit),
        take_profit: record.take_profit.filter(|_| submit),
        client_order_id: record.client_order_id.clone(),
        trader_id: record.trader_id.clone(),
        symbol: record.symbol.clone(),
        side: record.side,
        qty: record.qty,
        limit_price: if submit { record.price } else { None },
        time_in_force: TimeInForce::Day,
        extended_hours: false,
        stop_price: None,
        trail: None,
    }
}
