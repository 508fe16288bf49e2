//! Pre-trade validation: is the order well formed and affordable? It runs
//! before anything reaches the broker, and says exactly what was wrong
//! with the numbers.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::lifecycle::Signal;
use crate::port::{Quote, Side, TimeInForce, Trail};

/// Formats money as `$5,000.00` (or `-$10,250.00`).
#[must_use]
pub fn money(amount: Decimal) -> String {
    let rounded = amount.round_dp(2).abs();
    let text = format!("{rounded:.2}");
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let mut out = String::new();
    if amount.round_dp(2).is_sign_negative() && !rounded.is_zero() {
        out.push('-');
    }
    let _ = write!(out, "${grouped}.{cents}");
    out
}

/// The smallest price the engine trades at: $0.0001, the sub-penny
/// increment.
pub const MIN_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 4);

/// The largest price the engine trades at: $10,000,000 a share.
pub const MAX_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);

/// The largest quantity of one order: 1,000,000,000.
pub const MAX_QTY: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// The largest amount of money the engine is configured with (buying
/// power, a loss limit, a commission): $1,000,000,000,000,000. With the
/// price and quantity bounds, no sum of a run's notionals can overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// True when `price` is one the engine trades at.
#[must_use]
pub fn price_in_range(price: Decimal) -> bool {
    (MIN_PRICE..=MAX_PRICE).contains(&price)
}

/// Why validation refused a signal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// Quantity zero or negative.
    #[error("Quantity must be greater than 0; got {qty}")]
    NonPositiveQuantity {
        /// What was asked.
        qty: Decimal,
    },
    /// Quantity above [`MAX_QTY`].
    #[error("Quantity {qty} is too large; allowed: at most {MAX_QTY}")]
    QuantityTooLarge {
        /// What was asked.
        qty: Decimal,
    },
    /// A price outside [`MIN_PRICE`]..=[`MAX_PRICE`].
    #[error("{what} {price} is out of range; allowed: {MIN_PRICE} to {MAX_PRICE}")]
    PriceOutOfRange {
        /// Which price: `Limit price`, `Reference price`, `Stop loss` or
        /// `Take profit`.
        what: &'static str,
        /// The price.
        price: Decimal,
    },
    /// Limit price too far from the reference price.
    #[error(
        "Limit price {} is {deviation_pct}% from the reference price {}; allowed: within {band_pct}%",
        money(*price),
        money(*reference)
    )]
    PriceOutsideBand {
        /// The limit price.
        price: Decimal,
        /// The reference price.
        reference: Decimal,
        /// How far off, in percent.
        deviation_pct: Decimal,
        /// The band, in percent.
        band_pct: Decimal,
    },
    /// A limit price too far from the latest quote's touch (the ask for a
    /// buy, the bid for a sell).
    #[error(
        "Limit price {} is {deviation_pct}% from the latest {touch_name} {} (bid {} / ask {}); allowed: within {band_pct}%",
        money(*price),
        money(*touch),
        money(*bid),
        money(*ask)
    )]
    PriceAwayFromQuote {
        /// The limit price.
        price: Decimal,
        /// `ask` or `bid`: the side of the quote the order trades against.
        touch_name: &'static str,
        /// That side's price.
        touch: Decimal,
        /// The quote's bid.
        bid: Decimal,
        /// The quote's ask.
        ask: Decimal,
        /// How far off, in percent.
        deviation_pct: Decimal,
        /// The band, in percent.
        band_pct: Decimal,
    },
    /// No quote to check the price against.
    #[error("No latest quote for {symbol} to check the price against ({reason}); nothing was sent")]
    QuoteUnavailable {
        /// The symbol.
        symbol: String,
        /// Why the market data had none.
        reason: String,
    },
    /// A buy costs more than the buying power left.
    #[error("Insufficient funds for {} order; available: {}", money(*notional), money(*available))]
    InsufficientFunds {
        /// What the order would cost.
        notional: Decimal,
        /// Buying power left.
        available: Decimal,
    },
    /// A stop order's stop at or through the market: it would trigger at
    /// once.
    #[error("Stop price {} must be {} the reference price {} for a {side} stop; at or {} it, it triggers at once", money(*stop), if *side == Side::Buy { "above" } else { "below" }, money(*reference), if *side == Side::Buy { "below" } else { "above" })]
    StopWrongSide {
        /// The stop.
        stop: Decimal,
        /// The reference price.
        reference: Decimal,
        /// The order's side.
        side: Side,
    },
    /// A trailing stop's trail outside what can work: a percent not
    /// strictly between 0 and 100, a price not strictly between $0 and the
    /// reference price.
    #[error("Trail {trail} is out of range; allowed: more than 0 and less than {bound}")]
    TrailOutOfRange {
        /// The trail as given: `1.5%` or `$2.00`.
        trail: String,
        /// The bound it must stay under: `100%` or the reference price.
        bound: String,
    },
    /// A combination of order fields no broker takes.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A stop loss on the wrong side of the price the position opens at.
    #[error("Stop loss {} must be {} the {against} {} for a {side}", money(*stop), if *side == Side::Buy { "below" } else { "above" }, money(*reference))]
    StopLossWrongSide {
        /// The stop.
        stop: Decimal,
        /// Which price it was checked against: `reference price` or
        /// `limit price`.
        against: &'static str,
        /// That price.
        reference: Decimal,
        /// The order's side.
        side: Side,
    },
    /// A take profit on the wrong side of the price the position opens at.
    #[error("Take profit {} must be {} the {against} {} for a {side}", money(*target), if *side == Side::Buy { "above" } else { "below" }, money(*reference))]
    TakeProfitWrongSide {
        /// The target.
        target: Decimal,
        /// Which price it was checked against: `reference price` or
        /// `limit price`.
        against: &'static str,
        /// That price.
        reference: Decimal,
        /// The order's side.
        side: Side,
    },
}

/// Validation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationConfig {
    /// A limit price must be within this many percent of the reference
    /// price; default 5.
    pub price_band_pct: Decimal,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            price_band_pct: Decimal::from(5),
        }
    }
}

/// Checks a signal against the reference price and, for buys, the buying
/// power left (`None`: not checked). Cheap: a handful of `Decimal`
/// operations, no allocation on success.
///
/// # Errors
/// The first problem found.
pub fn validate(
    signal: &Signal,
    reference: Decimal,
    available: Option<Decimal>,
    config: &ValidationConfig,
) -> Result<(), ValidationError> {
    if signal.qty <= Decimal::ZERO {
        return Err(ValidationError::NonPositiveQuantity { qty: signal.qty });
    }
    if signal.qty > MAX_QTY {
        return Err(ValidationError::QuantityTooLarge { qty: signal.qty });
    }
    // Within these bounds no arithmetic below, or on the order's fills,
    // can overflow.
    for (what, price) in [
        ("Reference price", Some(reference)),
        ("Limit price", signal.limit_price),
        ("Stop loss", signal.stop_loss),
        ("Take profit", signal.take_profit),
        ("Stop price", signal.stop_price),
    ] {
        if let Some(price) = price.filter(|p| !price_in_range(*p)) {
            return Err(ValidationError::PriceOutOfRange { what, price });
        }
    }
    if let Some(limit) = signal.limit_price {
        let deviation_pct = deviation_pct(limit, reference);
        if deviation_pct > config.price_band_pct {
            return Err(ValidationError::PriceOutsideBand {
                price: limit,
                reference,
                deviation_pct,
                band_pct: config.price_band_pct,
            });
        }
    }
    check_stop(signal, reference)?;
    check_exits(signal, reference)?;
    if let (Side::Buy, Some(available)) = (signal.side, available) {
        let notional = signal.qty * signal.unit_cost(reference);
        if notional > available {
            return Err(ValidationError::InsufficientFunds {
                notional,
                available,
            });
        }
    }
    Ok(())
}

/// Checks a stop, stop-limit or trailing-stop signal: a stop on the far
/// side of the reference price (a buy's above it, a sell's below: at or
/// through it, it would trigger at once), a trail that can work, a
/// trailing stop with no limit or stop price of its own and a `day` or
/// `gtc` time in force, and no exits (a bracket's entry is a market or
/// limit order).
fn check_stop(signal: &Signal, reference: Decimal) -> Result<(), ValidationError> {
    if signal.stop_price.is_none() && signal.trail.is_none() {
        return Ok(());
    }
    if signal.has_exits() {
        return Err(ValidationError::Unsupported(
            "A stop loss or take profit needs a market or limit entry; a stop or trailing \
             stop cannot head a bracket",
        ));
    }
    if let Some(stop) = signal.stop_price {
        let wrong = match signal.side {
            Side::Buy => stop <= reference,
            Side::Sell => stop >= reference,
        };
        if wrong {
            return Err(ValidationError::StopWrongSide {
                stop,
                reference,
                side: signal.side,
            });
        }
    }
    let Some(trail) = signal.trail else {
        return Ok(());
    };
    if signal.stop_price.is_some() || signal.limit_price.is_some() {
        return Err(ValidationError::Unsupported(
            "A trailing stop takes no stop or limit price: its stop follows the market",
        ));
    }
    if !matches!(signal.time_in_force, TimeInForce::Day | TimeInForce::Gtc) {
        return Err(ValidationError::Unsupported(
            "A trailing stop works `day` or `gtc` only",
        ));
    }
    let (value, bound, shown, bound_shown) = match trail {
        Trail::Percent(pct) => (
            pct,
            Decimal::ONE_HUNDRED,
            format!("{pct}%"),
            "100%".to_owned(),
        ),
        Trail::Price(price) => (price, reference, money(price), money(reference)),
    };
    if value <= Decimal::ZERO || value >= bound {
        return Err(ValidationError::TrailOutOfRange {
            trail: shown,
            bound: bound_shown,
        });
    }
    Ok(())
}

/// Checks a signal's exits against each price its position may open at
/// (the reference price, and the limit price when it has one): a stop loss
/// on the losing side of both, a take profit on the winning side of both,
/// as the broker checks a bracket's legs against its entry.
fn check_exits(signal: &Signal, reference: Decimal) -> Result<(), ValidationError> {
    let opens_at = [
        ("reference price", Some(reference)),
        ("limit price", signal.limit_price),
    ];
    for (against, price) in opens_at {
        let Some(price) = price else { continue };
        if let Some(stop) = signal.stop_loss {
            let wrong = match signal.side {
                Side::Buy => stop >= price,
                Side::Sell => stop <= price,
            };
            if wrong {
                return Err(ValidationError::StopLossWrongSide {
                    stop,
                    against,
                    reference: price,
                    side: signal.side,
                });
            }
        }
        if let Some(target) = signal.take_profit {
            let wrong = match signal.side {
                Side::Buy => target <= price,
                Side::Sell => target >= price,
            };
            if wrong {
                return Err(ValidationError::TakeProfitWrongSide {
                    target,
                    against,
                    reference: price,
                    side: signal.side,
                });
            }
        }
    }
    Ok(())
}

/// How far `price` is from `from` (positive), in percent of `from`, to the
/// hundredth: what a price band is measured in.
fn deviation_pct(price: Decimal, from: Decimal) -> Decimal {
    ((price - from).abs() / from * Decimal::from(100)).round_dp(2)
}

/// Checks a limit price against the latest quote (the seeds' "price
/// reasonable"): a buy's limit within the band of the ask, a sell's within
/// the band of the bid. A market order, or a quote with a side at zero (no
/// market), passes.
///
/// # Errors
/// [`ValidationError::PriceAwayFromQuote`].
pub fn validate_against_quote(
    signal: &Signal,
    quote: &Quote,
    config: &ValidationConfig,
) -> Result<(), ValidationError> {
    let Some(limit) = signal.limit_price else {
        return Ok(());
    };
    let (touch_name, touch) = (Quote::touch_name(signal.side), quote.touch(signal.side));
    if touch <= Decimal::ZERO {
        return Ok(());
    }
    let deviation_pct = deviation_pct(limit, touch);
    if deviation_pct > config.price_band_pct {
        return Err(ValidationError::PriceAwayFromQuote {
            price: limit,
            touch_name,
            touch,
            bid: quote.bid,
            ask: quote.ask,
            deviation_pct,
            band_pct: config.price_band_pct,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn signal(side: Side, qty: &str, limit: Option<&str>) -> Signal {
        Signal {
            stop_price: None,
            trail: None,
            client_order_id: "c".into(),
            trader_id: "t".into(),
            symbol: "SPY".into(),
            side,
            qty: d(qty),
            limit_price: limit.map(d),
            stop_loss: None,
            take_profit: None,
            time_in_force: crate::port::TimeInForce::Day,
            extended_hours: false,
        }
    }

    /// Money is formatted with a dollar sign, thousands separators and cents.
    #[test]
    fn money_formats_like_the_specification() {
        assert_eq!(money(d("5000")), "$5,000.00");
        assert_eq!(money(d("3200")), "$3,200.00");
        assert_eq!(money(d("1234567.891")), "$1,234,567.89");
        assert_eq!(money(d("-10250")), "-$10,250.00");
        assert_eq!(money(d("0.5")), "$0.50");
    }

    /// The specification's message for a buy beyond the buying power.
    #[test]
    fn insufficient_funds_message() {
        let error = validate(
            &signal(Side::Buy, "50", None),
            d("100"),
            Some(d("3200")),
            &ValidationConfig::default(),
        )
        .expect_err("too expensive");
        assert_eq!(
            error.to_string(),
            "Insufficient funds for $5,000.00 order; available: $3,200.00"
        );
        // A limit exactly at the edge of the band is within it.
        validate(
            &signal(Side::Buy, "1", Some("105")),
            d("100"),
            None,
            &ValidationConfig::default(),
        )
        .expect("5% off is within a 5% band");
        // Exactly the buying power left is enough.
        validate(
            &signal(Side::Buy, "32", None),
            d("100"),
            Some(d("3200")),
            &ValidationConfig::default(),
        )
        .expect("exactly affordable");
        // A sell does not need buying power.
        assert!(
            validate(
                &signal(Side::Sell, "50", None),
                d("100"),
                Some(d("3200")),
                &ValidationConfig::default()
            )
            .is_ok()
        );
    }

    /// Quantity, price band, stop and target are each checked with a
    /// specific message.
    #[test]
    fn each_rule_has_its_message() {
        let config = ValidationConfig::default();
        let e = validate(&signal(Side::Buy, "0", None), d("100"), None, &config).expect_err("qty");
        assert_eq!(e.to_string(), "Quantity must be greater than 0; got 0");
        let e = validate(
            &signal(Side::Buy, "1", Some("110")),
            d("100"),
            None,
            &config,
        )
        .expect_err("band");
        assert_eq!(
            e.to_string(),
            "Limit price $110.00 is 10.00% from the reference price $100.00; allowed: within 5%"
        );
        let mut s = signal(Side::Buy, "1", None);
        s.stop_loss = Some(d("101"));
        let e = validate(&s, d("100"), None, &config).expect_err("stop");
        assert_eq!(
            e.to_string(),
            "Stop loss $101.00 must be below the reference price $100.00 for a buy"
        );
        let mut s = signal(Side::Sell, "1", None);
        s.take_profit = Some(d("101"));
        let e = validate(&s, d("100"), None, &config).expect_err("target");
        assert_eq!(
            e.to_string(),
            "Take profit $101.00 must be below the reference price $100.00 for a sell"
        );
        assert!(
            validate(
                &signal(Side::Buy, "1", Some("104")),
                d("100"),
                None,
                &config
            )
            .is_ok()
        );
    }

    /// Goal: a signal's exits are checked against the limit price its
    /// position opens at too, and each exit's price against the engine's
    /// bounds. Method: a buy limited at $103 (reference $100) with a take
    /// profit of $102 is refused naming the limit price, with one of $104
    /// passes; a stop loss of -1 or 0 and a take profit of 10^12 are
    /// refused as out of range, naming the exit.
    #[test]
    fn exits_are_checked_against_the_limit_and_the_bounds() {
        let config = ValidationConfig::default();
        let mut s = signal(Side::Buy, "1", Some("103"));
        s.take_profit = Some(d("102"));
        let e = validate(&s, d("100"), None, &config).expect_err("target under the limit");
        assert_eq!(
            e.to_string(),
            "Take profit $102.00 must be above the limit price $103.00 for a buy"
        );
        s.take_profit = Some(d("104"));
        s.stop_loss = Some(d("101"));
        validate(&s, d("100"), None, &config).expect_err("stop over the reference");
        s.stop_loss = Some(d("99"));
        validate(&s, d("100"), None, &config).expect("a bracket that fits");
        let mut s = signal(Side::Sell, "1", Some("98"));
        s.stop_loss = Some(d("99"));
        let e = validate(&s, d("100"), None, &config).expect_err("stop under the reference");
        assert!(e.to_string().contains("reference price $100.00"), "{e}");
        for stop in ["-1", "0"] {
            let mut s = signal(Side::Buy, "1", None);
            s.stop_loss = Some(d(stop));
            let e = validate(&s, d("100"), None, &config).expect_err("stop out of range");
            assert!(e.to_string().starts_with("Stop loss"), "{e}");
            assert!(matches!(e, ValidationError::PriceOutOfRange { .. }), "{e}");
        }
        let mut s = signal(Side::Buy, "1", None);
        s.take_profit = Some(d("1000000000000"));
        let e = validate(&s, d("100"), None, &config).expect_err("target out of range");
        assert!(
            e.to_string()
                .starts_with("Take profit 1000000000000 is out of range"),
            "{e}"
        );
    }

    /// Goal: stop, stop-limit and trailing-stop signals are checked as a
    /// broker would need them, each refusal naming the field and the
    /// bound, and a buy stop costs its stop. Method: each rule at and
    /// around its edge, with $1,050 of buying power and the market at $100.
    #[test]
    fn stop_and_trailing_stop_signals_are_checked() {
        let config = ValidationConfig::default();
        let check =
            |s: &Signal| validate(s, d("100"), Some(d("1050")), &config).map_err(|e| e.to_string());
        let mut stop = signal(Side::Buy, "10", None);
        stop.stop_price = Some(d("100"));
        assert_eq!(
            check(&stop),
            Err(
                "Stop price $100.00 must be above the reference price $100.00 for a buy stop; \
                 at or below it, it triggers at once"
                    .to_owned()
            )
        );
        stop.stop_price = Some(d("104"));
        assert_eq!(check(&stop), Ok(()), "10 at the $104 stop fits $1,050");
        stop.stop_price = Some(d("106"));
        assert_eq!(
            check(&stop),
            Err("Insufficient funds for $1,060.00 order; available: $1,050.00".to_owned())
        );
        stop.stop_price = Some(d("0"));
        assert!(check(&stop).is_err_and(|e| e.starts_with("Stop price 0 is out of range")));
        let mut sell_stop = signal(Side::Sell, "10", Some("98"));
        sell_stop.stop_price = Some(d("100.5"));
        assert!(check(&sell_stop).is_err_and(|e| e.contains("below the reference price")));
        sell_stop.stop_price = Some(d("99"));
        assert_eq!(check(&sell_stop), Ok(()), "a stop limit under the market");
        sell_stop.take_profit = Some(d("90"));
        assert!(check(&sell_stop).is_err_and(|e| e.contains("cannot head a bracket")));

        let mut trailing = signal(Side::Sell, "10", None);
        for (trail, refused) in [
            (
                Trail::Percent(d("0")),
                Some("Trail 0% is out of range; allowed: more than 0 and less than 100%"),
            ),
            (
                Trail::Percent(d("100")),
                Some("Trail 100% is out of range; allowed: more than 0 and less than 100%"),
            ),
            (Trail::Percent(d("1.5")), None),
            (
                Trail::Price(d("100")),
                Some("Trail $100.00 is out of range; allowed: more than 0 and less than $100.00"),
            ),
            (Trail::Price(d("2")), None),
        ] {
            trailing.trail = Some(trail);
            assert_eq!(
                check(&trailing),
                refused.map(str::to_owned).map_or(Ok(()), Err),
                "{trail:?}"
            );
        }
        trailing.limit_price = Some(d("99"));
        assert!(check(&trailing).is_err_and(|e| e.contains("takes no stop or limit price")));
        trailing.limit_price = None;
        trailing.time_in_force = TimeInForce::Ioc;
        assert!(check(&trailing).is_err_and(|e| e.contains("`day` or `gtc` only")));
    }

    /// Quantities and prices outside the engine's bounds are refused with
    /// the bound, so that nothing after validation can overflow: a price of
    /// 10^-28, a price or buying power near `Decimal::MAX`.
    #[test]
    fn out_of_range_figures_are_refused_with_the_bound() {
        let tiny = "0.0000000000000000000000000001";
        let error = validate(
            &signal(Side::Buy, "1", None),
            d(tiny),
            None,
            &ValidationConfig::default(),
        )
        .expect_err("tiny reference");
        assert_eq!(
            error.to_string(),
            format!("Reference price {tiny} is out of range; allowed: 0.0001 to 10000000")
        );
        let error = validate(
            &signal(Side::Sell, "1", Some(&Decimal::MAX.to_string())),
            Decimal::MAX,
            Some(Decimal::MAX),
            &ValidationConfig::default(),
        )
        .expect_err("huge price");
        assert!(
            matches!(error, ValidationError::PriceOutOfRange { .. }),
            "{error}"
        );
        let error = validate(
            &signal(Side::Buy, "1000000001", None),
            d("10"),
            Some(Decimal::MAX),
            &ValidationConfig::default(),
        )
        .expect_err("huge quantity");
        assert_eq!(
            error.to_string(),
            "Quantity 1000000001 is too large; allowed: at most 1000000000"
        );
        // At the bounds, with buying power near the limit of Decimal, the
        // largest order passes without overflow.
        validate(
            &signal(Side::Buy, "1000000000", Some("10000000")),
            MAX_PRICE,
            Some(Decimal::MAX),
            &ValidationConfig::default(),
        )
        .expect("largest order");
        assert_eq!(MAX_AMOUNT, d("1000000000000000"));
    }
}
