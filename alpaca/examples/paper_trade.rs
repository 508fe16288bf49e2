//! fillproof's `OrderExecutor` trading through Alpaca: one small market
//! order, its fill detected over the trade_updates stream with a REST
//! safety poll, then the engine's position and the audit log's path.
//!
//! Keys come from the environment, `APCA_API_KEY_ID` and
//! `APCA_API_SECRET_KEY`; the example refuses to start without them and
//! never prints them. It trades on Alpaca's paper endpoint unless
//! `APCA_API_BASE_URL` names another, such as `fillproof serve`'s
//! `http://127.0.0.1:PORT`.
//!
//! ```sh
//! export APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=...
//! cargo run --release -p fillproof-alpaca --example paper_trade -- SPY 1 590.10
//! ```
//!
//! The arguments are the symbol, the quantity and the price the trader
//! expects to pay (the engine's risk checks and slippage use it; the
//! example reads no quotes).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use fillproof_alpaca::{AlpacaBroker, AlpacaConfig, AlpacaStream};
use fillproof_engine::clock::SystemClock;
use fillproof_engine::{AuditLog, FileSink};
use fillproof_engine::{ExecutorConfig, OrderExecutor, PollingConfig, Side, Signal};
use rust_decimal::Decimal;

fn main() -> ExitCode {
    let config = match AlpacaConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [symbol, qty, price] = args.as_slice() else {
        eprintln!("usage: paper_trade SYMBOL QTY EXPECTED_PRICE   (e.g. SPY 1 590.10)");
        return ExitCode::from(2);
    };
    let (Ok(qty), Ok(price)) = (qty.parse::<Decimal>(), price.parse::<Decimal>()) else {
        eprintln!("error: QTY and EXPECTED_PRICE must be decimal numbers, e.g. 1 and 590.10");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(trade(config, symbol.to_ascii_uppercase(), qty, price)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

async fn trade(
    config: AlpacaConfig,
    symbol: String,
    qty: Decimal,
    price: Decimal,
) -> Result<(), String> {
    println!(
        "trading through {} as key {}",
        config.base_url, config.key_id
    );
    let stream = AlpacaStream::new(config.clone());
    let broker = Arc::new(AlpacaBroker::new(config).map_err(|e| e.to_string())?);
    let clock = Arc::new(SystemClock);
    let audit_path = std::env::temp_dir().join("fillproof-paper-trade.audit.jsonl");
    let sink = FileSink::open(&audit_path).map_err(|e| format!("{}: {e}", audit_path.display()))?;
    let audit = Arc::new(AuditLog::new(Box::new(sink), clock.clone()));
    let mut settings = ExecutorConfig::default();
    settings.detection.polling = PollingConfig::Hybrid {
        safety: Duration::from_secs(5),
    };
    // A seed only spaces retries apart (jitter); any value will do.
    let executor = OrderExecutor::new(broker, settings, audit, clock, 1)
        .map_err(|e| e.to_string())?
        .with_trade_updates(&stream);
    let signal = Signal {
        stop_price: None,
        trail: None,
        client_order_id: format!("fillproof-example-{}", std::process::id()),
        trader_id: "example".into(),
        symbol: symbol.clone(),
        side: Side::Buy,
        qty,
        limit_price: None,
        stop_loss: None,
        take_profit: None,
        time_in_force: fillproof_engine::TimeInForce::Day,
        extended_hours: false,
    };
    let result = executor
        .execute(&signal, price)
        .await
        .map_err(|e| format!("the order did not execute: {e}"))?;
    println!(
        "order {} ({}): {:?}, filled {} of {} at {}",
        result.order_id,
        result.client_order_id,
        result.verdict,
        result.filled_qty,
        result.qty,
        result
            .avg_price
            .map_or_else(|| "no price".to_owned(), |p| p.to_string())
    );
    let position = executor.positions().position(&symbol);
    println!("engine position in {symbol}: {position:?}");
    println!("audit log: {}", audit_path.display());
    Ok(())
}
