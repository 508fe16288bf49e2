//! Alpaca's reference tables, as its Market Data API answers them: the
//! stock exchange codes (`GET /v2/stocks/meta/exchanges`), the trade and
//! quote condition codes per tape (`GET /v2/stocks/meta/conditions/
//! {trade,quote}?tape=`: tapes A and B are the CTS/CQS plans' codes, tape
//! C the UTP plan's) and the option exchange codes (`GET /v1beta1/
//! options/meta/exchanges`). Each maps a code to its name; the simulated
//! market's own records use only a few of them (`market`'s shapes).
//!
//! Entry point: [`table_json`]. Imports nothing of the crate.

use serde_json::{Map, Value};

/// The stock exchanges, by the one-letter code trades and quotes carry.
pub(crate) const STOCK_EXCHANGES: &[(&str, &str)] = &[
    ("A", "NYSE American (AMEX)"),
    ("B", "NASDAQ OMX BX"),
    ("C", "National Stock Exchange"),
    ("D", "FINRA ADF"),
    ("E", "Market Independent"),
    ("H", "MIAX"),
    ("I", "International Securities Exchange"),
    ("J", "Cboe EDGA"),
    ("K", "Cboe EDGX"),
    ("L", "Long Term Stock Exchange"),
    ("M", "Chicago Stock Exchange"),
    ("N", "New York Stock Exchange"),
    ("P", "NYSE Arca"),
    ("Q", "NASDAQ OMX"),
    ("S", "NASDAQ Small Cap"),
    ("T", "NASDAQ Int"),
    ("U", "Members Exchange"),
    ("V", "IEX"),
    ("W", "CBOE"),
    ("X", "NASDAQ OMX PSX"),
    ("Y", "Cboe BYX"),
    ("Z", "Cboe BZ"),
];

/// Trade conditions of tapes A and B (the CTS plan).
pub(crate) const CTS_TRADE_CONDITIONS: &[(&str, &str)] = &[
    (" ", "Regular Sale"),
    ("4", "Derivatively Priced"),
    ("5", "Market Center Reopening Trade"),
    ("6", "Market Center Closing Trade"),
    ("7", "Qualified Contingent Trade"),
    ("8", "Reserved"),
    (
        "9",
        "Corrected Consolidated Close Price as per Listing Market",
    ),
    ("B", "Average Price Trade"),
    ("C", "Cash Trade (Same Day Clearing)"),
    ("E", "Automatic Execution"),
    ("F", "Inter-market Sweep Order"),
    ("H", "Price Variation Trade"),
    ("I", "Odd Lot Trade"),
    ("K", "Rule 127 (NYSE only) or Rule 155 (NYSE MKT only)"),
    ("L", "Sold Last (Late Reporting)"),
    ("M", "Market Center Official Close"),
    ("N", "Next Day Trade (Next Day Clearing)"),
    ("O", "Market Center Opening Trade"),
    ("P", "Prior Reference Price"),
    ("Q", "Market Center Official Open"),
    ("R", "Seller"),
    ("T", "Extended Hours Trade"),
    ("U", "Extended Hours Sold (Out Of Sequence)"),
    ("V", "Contingent Trade"),
    ("X", "Cross Trade"),
    ("Z", "Sold (Out Of Sequence)"),
];

/// Trade conditions of tape C (the UTP plan).
pub(crate) const UTP_TRADE_CONDITIONS: &[(&str, &str)] = &[
    ("@", "Regular Sale"),
    ("1", "Stopped Stock (Regular Trade)"),
    ("4", "Derivatively priced"),
    ("5", "Re-Opening Prints"),
    ("6", "Closing Prints"),
    ("7", "Qualified Contingent Trade (QCT)"),
    ("8", "Placeholder For 611 Exempt"),
    ("9", "Corrected Consolidated Close (per listing market)"),
    ("A", "Acquisition"),
    ("B", "Bunched Trade"),
    ("C", "Cash Sale"),
    ("D", "Distribution"),
    ("E", "Placeholder"),
    ("F", "Intermarket Sweep"),
    ("G", "Bunched Sold Trade"),
    ("H", "Price Variation Trade"),
    ("I", "Odd Lot Trade"),
    ("K", "Rule 155 Trade (AMEX)"),
    ("L", "Sold Last"),
    ("M", "Market Center Official Close"),
    ("N", "Next Day"),
    ("O", "Opening Prints"),
    ("P", "Prior Reference Price"),
    ("Q", "Market Center Official Open"),
    ("R", "Seller"),
    ("S", "Split Trade"),
    ("T", "Form T"),
    ("U", "Extended trading hours (Sold Out of Sequence)"),
    ("V", "Contingent Trade"),
    ("W", "Average Price Trade"),
    ("X", "Cross Trade"),
    ("Y", "Yellow Flag Regular Trade"),
    ("Z", "Sold (out of sequence)"),
];

/// Quote conditions of tapes A and B (the CQS plan).
pub(crate) const CQS_QUOTE_CONDITIONS: &[(&str, &str)] = &[
    ("4", "On Demand Intra Day Auction"),
    ("A", "Slow Quote Offer Side"),
    ("B", "Slow Quote Bid Side"),
    ("C", "Closing Quote"),
    ("E", "Slow Quote LRP Bid Side"),
    ("F", "Slow Quote LRP Offer Side"),
    ("H", "Slow Quote Bid And Offer Side"),
    ("L", "Market Maker Quotes Closed"),
    ("N", "Non Firm Quote"),
    ("O", "Opening Quote"),
    ("R", "Regular Market Maker Open"),
    ("U", "Slow Quote LRP Bid And Offer"),
    ("W", "Slow Quote Set Slow List"),
];

/// Quote conditions of tape C (the UTP plan).
pub(crate) const UTP_QUOTE_CONDITIONS: &[(&str, &str)] = &[
    ("4", "On Demand Intra Day Auction"),
    ("A", "Manual Ask Automated Bid"),
    ("B", "Manual Bid Automated Ask"),
    ("F", "Fast Trading"),
    ("H", "Manual Bid And Ask"),
    ("I", "Order Imbalance"),
    ("L", "Closed Quote"),
    ("N", "Non Firm Quote"),
    ("O", "Opening Quote Automated"),
    ("R", "Regular Two Sided Open"),
    ("U", "Manual Bid And Ask Non Firm"),
    ("X", "Order Influx"),
    ("Y", "No Offer No Bid One Sided Open"),
    ("Z", "No Open No Resume"),
];

/// The option exchanges, by the one-letter code option trades and quotes
/// carry.
pub(crate) const OPTION_EXCHANGES: &[(&str, &str)] = &[
    ("A", "AMEX - NYSE American"),
    ("B", "BOX - Boston Options Exchange"),
    ("C", "CBOE - Cboe Options Exchange"),
    (
        "D",
        "EMERALD - Miami International Stock Exchange Emerald Options",
    ),
    ("E", "EDGX - Cboe EDGX Options Exchange"),
    ("H", "GEMX - Nasdaq GEMX"),
    ("I", "ISE - Nasdaq International Securities Exchange"),
    ("J", "MRX - Nasdaq MRX"),
    ("M", "MIAX - Miami International Stock Exchange"),
    ("N", "NYSE - NYSE Arca"),
    ("O", "OPRA - Options Price Reporting Authority"),
    (
        "P",
        "PEARL - Miami International Stock Exchange Pearl Options",
    ),
    ("Q", "NASD - Nasdaq Options"),
    (
        "S",
        "SPHR - Miami International Stock Exchange Sapphire Options",
    ),
    ("T", "BX - Nasdaq BX Options"),
    ("U", "MEMX - Members Options Exchange"),
    ("W", "C2 - Cboe C2 Options Exchange"),
    ("X", "PHLX - Nasdaq PHLX"),
    ("Z", "BATS - Cboe BZX Options Exchange"),
];

/// A table as the JSON object Alpaca answers: code to name.
pub(crate) fn table_json(table: &[(&str, &str)]) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(code, name)| ((*code).to_owned(), Value::from(*name)))
            .collect::<Map<String, Value>>(),
    )
}
