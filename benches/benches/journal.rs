//! The journal's costs (the engine's audit log, read back after a crash):
//!
//! - one record written to a file under each durability policy: every
//!   record synced (`fsync` before `append` returns), or synced in groups
//!   of 64 with submits synced at once (here one record in four is a
//!   submit, as in an order's life: submit, submitted, fill, verdict);
//! - a journal of 100, 1,000 and 10,000 records read back and turned into
//!   intents, half of them in flight: the engine's own work in recovery,
//!   before any lookup at the broker (the lookups' time is the report's
//!   `recovery_ms`, in virtual time).

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fillproof_engine::{
    AuditEntry, AuditEvent, AuditLog, Clock, Decimal, Durability, FileSink, Journal, MemorySink,
    Side, Timestamp,
};

/// A clock that never moves: the bench measures writing, not stamping.
struct Still;

impl Clock for Still {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(1_760_000_000_000_000)
    }
}

/// Record `n` of an order's life: submit, submitted, fill, verdict, in
/// turn, for intent `n / 4`.
fn entry(n: u64) -> AuditEntry {
    let event = match n % 4 {
        0 => AuditEvent::Submit,
        1 => AuditEvent::Submitted,
        2 => AuditEvent::Fill,
        _ => AuditEvent::NotFilled,
    };
    AuditEntry {
        event,
        trader_id: "trader-0".into(),
        client_order_id: format!("fp-1-{}", n / 4),
        order_id: (event != AuditEvent::Submit).then(|| format!("ord-{}", n / 4)),
        symbol: "SPY".into(),
        side: Side::Buy,
        qty: Decimal::from(100),
        price: Some(Decimal::new(59_010, 2)),
        status: "new".into(),
        reason: "bench".into(),
        broker_at: None,
        exits: fillproof_engine::ExitPrices::default(),
        exit_of: None,
        executions: Vec::new(),
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal_append");
    group.throughput(Throughput::Elements(1));
    let dir = std::env::temp_dir().join(format!("fillproof-journal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, durability) in [
        ("every_record", Durability::EveryRecord),
        ("batched_64", Durability::Batched(64)),
    ] {
        let path = dir.join(format!("{name}.jsonl"));
        let _ = std::fs::remove_file(&path);
        let sink = FileSink::open_with(&path, durability).expect("journal file");
        let log = AuditLog::new(Box::new(sink), Arc::new(Still));
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("record", name), |b| {
            b.iter(|| {
                log.record(entry(n)).expect("write");
                n += 1;
            });
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn read_back(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal_recovery");
    for records in [100u64, 1_000, 10_000] {
        let sink = MemorySink::default();
        let log = AuditLog::new(Box::new(sink.clone()), Arc::new(Still));
        for n in 0..records {
            // Every other intent stops at `submitted`: in flight.
            if n % 8 < 2 || n % 8 >= 4 {
                log.record(entry(n)).expect("memory");
            }
        }
        let text = sink.lines().join("\n") + "\n";
        group.throughput(Throughput::Elements(records));
        group.bench_with_input(BenchmarkId::new("records", records), &text, |b, text| {
            b.iter(|| {
                let journal = Journal::read(text, None).expect("whole");
                journal.intents().iter().filter(|i| i.in_flight()).count()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, read_back);
criterion_main!(benches);
