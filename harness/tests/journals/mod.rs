//! Journals as the crash tests read them back and tamper with them.

use fillproof_engine::{AuditRecord, GENESIS, Journal, MemorySink};

/// The journal `sink` holds, read back whole.
pub fn journal_of(sink: &MemorySink) -> Journal {
    Journal::read(&(sink.lines().join("\n") + "\n"), None).expect("a whole journal")
}

/// `journal`'s records that `keep` keeps, changed by `edit`, numbered and
/// chained again as a keyless writer would: a tampered journal that still
/// reads as a valid chain.
pub fn resealed(
    journal: &Journal,
    keep: impl Fn(&AuditRecord) -> bool,
    edit: impl Fn(&mut AuditRecord),
) -> Journal {
    let mut previous = GENESIS.to_owned();
    let mut lines = Vec::new();
    for record in journal.records().iter().filter(|r| keep(r)) {
        let mut record = record.clone();
        edit(&mut record);
        record.seq = lines.len() as u64 + 1;
        record.prev_hash.clone_from(&previous);
        record.hash = record.expected_hash();
        previous.clone_from(&record.hash);
        lines.push(serde_json::to_string(&record).expect("serializes"));
    }
    Journal::read(&(lines.join("\n") + "\n"), None).expect("a valid chain")
}
