//! The account's configurations: `GET` and `PATCH
//! /v2/account/configurations`, fields as alpaca-py's
//! `AccountConfiguration` names them.
//!
//! What is enforced: `suspend_trade: true` refuses every new order (403,
//! as Alpaca refuses trading on a suspended account), and the account
//! shows it as `trade_suspended_by_user` and `no_shorting` as
//! `shorting_enabled`. What is stored and shown but not enforced:
//! `no_shorting` (a sell past the position is not refused),
//! `fractional_trading` (fractional orders trade where the asset is
//! fractionable), `max_margin_multiplier` (buying power stays the cash
//! account's), `trade_confirm_email`, `ptp_no_exception_entry` and
//! `max_options_trading_level` (the account trades no options). Alpaca
//! removed `dtbp_check` and `pdt_check` on 2026-07-06 (its changelog
//! "Pattern day trading fields and configurations removed"): a `PATCH`
//! may still send them, as alpaca-py's `model_dump()` does, and a bad
//! value is refused, but the answer no longer carries them.
//!
//! A field Alpaca does not know, or a value it would not take, is 422
//! naming the field; `null` leaves a field as it is. Entry point:
//! [`Configs::patch`]. Imports `wire`.

use serde_json::{Map, Value, json};

use crate::wire::{Reply, code};

/// The account's configurations, Alpaca's paper defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Configs {
    pub(crate) trade_confirm_email: &'static str,
    pub(crate) suspend_trade: bool,
    pub(crate) no_shorting: bool,
    pub(crate) fractional_trading: bool,
    pub(crate) max_margin_multiplier: &'static str,
    pub(crate) ptp_no_exception_entry: bool,
    pub(crate) max_options_trading_level: u8,
}

impl Default for Configs {
    fn default() -> Self {
        Self {
            trade_confirm_email: "all",
            suspend_trade: false,
            no_shorting: false,
            fractional_trading: true,
            // The account's multiplier: buying power is its cash.
            max_margin_multiplier: "1",
            ptp_no_exception_entry: false,
            max_options_trading_level: 0,
        }
    }
}

/// A 422 naming `field`.
fn refuse(field: &str, value: &Value, expected: &str) -> Reply {
    Reply::error(
        422,
        code::INVALID_FIELD,
        &format!("invalid {field} {value}: use {expected}"),
    )
}

/// `value` as one of `allowed`.
fn pick(field: &str, value: &Value, allowed: &[&'static str]) -> Result<&'static str, Reply> {
    let text = match value {
        Value::String(text) => text.as_str(),
        // max_margin_multiplier is a string on the wire; a number is read too.
        Value::Number(n) => return pick(field, &Value::String(n.to_string()), allowed),
        _ => "",
    };
    allowed
        .iter()
        .copied()
        .find(|a| *a == text)
        .ok_or_else(|| refuse(field, value, &allowed.join(" or ")))
}

fn boolean(field: &str, value: &Value) -> Result<bool, Reply> {
    value
        .as_bool()
        .ok_or_else(|| refuse(field, value, "true or false"))
}

impl Configs {
    /// The configurations as Alpaca answers them.
    pub(crate) fn json(&self) -> Value {
        json!({
            "trade_confirm_email": self.trade_confirm_email,
            "suspend_trade": self.suspend_trade,
            "no_shorting": self.no_shorting,
            "fractional_trading": self.fractional_trading,
            "max_margin_multiplier": self.max_margin_multiplier,
            "ptp_no_exception_entry": self.ptp_no_exception_entry,
            "max_options_trading_level": self.max_options_trading_level,
        })
    }

    /// Applies a `PATCH` body: every field read first, nothing changed
    /// unless all read.
    ///
    /// # Errors
    /// The refusal (422) naming the first field that does not read.
    pub(crate) fn patch(&mut self, body: &[u8]) -> Result<(), Reply> {
        let fields: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(fields)) => fields,
            _ => {
                return Err(Reply::error(
                    400,
                    code::BAD_REQUEST,
                    "the body must be a JSON object of configuration fields",
                ));
            }
        };
        let mut next = self.clone();
        for (field, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
            match field.as_str() {
                "trade_confirm_email" => {
                    next.trade_confirm_email = pick(field, value, &["all", "none"])?;
                }
                "suspend_trade" => next.suspend_trade = boolean(field, value)?,
                "no_shorting" => next.no_shorting = boolean(field, value)?,
                "fractional_trading" => next.fractional_trading = boolean(field, value)?,
                "ptp_no_exception_entry" => next.ptp_no_exception_entry = boolean(field, value)?,
                "max_margin_multiplier" => {
                    next.max_margin_multiplier = pick(field, value, &["1", "2", "4"])?;
                }
                "max_options_trading_level" => {
                    next.max_options_trading_level = value
                        .as_u64()
                        .filter(|level| *level <= 3)
                        .and_then(|level| u8::try_from(level).ok())
                        .ok_or_else(|| refuse(field, value, "0, 1, 2 or 3"))?;
                }
                "dtbp_check" | "pdt_check" => {
                    pick(field, value, &["both", "entry", "exit"])?;
                }
                other => {
                    return Err(Reply::error(
                        422,
                        code::INVALID_FIELD,
                        &format!("unknown configuration field \"{other}\""),
                    ));
                }
            }
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a patch sets what it names and leaves the rest; a bad field
    /// changes nothing and is named. Method: alpaca-py's whole-model body
    /// (nulls included), then bad values one by one.
    #[test]
    fn a_patch_sets_what_it_names_and_refuses_by_field() {
        let mut configs = Configs::default();
        let body = br#"{"dtbp_check":null,"fractional_trading":false,"max_margin_multiplier":"2",
            "no_shorting":true,"pdt_check":"entry","suspend_trade":false,"trade_confirm_email":"none",
            "ptp_no_exception_entry":true,"max_options_trading_level":null}"#;
        configs.patch(body).expect("patched");
        assert!(!configs.fractional_trading && configs.no_shorting);
        assert_eq!(configs.max_margin_multiplier, "2");
        assert_eq!(configs.trade_confirm_email, "none");
        let before = configs.clone();
        for (body, field) in [
            (r#"{"suspend_trade":"yes"}"#, "suspend_trade"),
            (r#"{"max_margin_multiplier":"3"}"#, "max_margin_multiplier"),
            (r#"{"trade_confirm_email":"some"}"#, "trade_confirm_email"),
            (
                r#"{"max_options_trading_level":4}"#,
                "max_options_trading_level",
            ),
            (r#"{"pdt_check":"never"}"#, "pdt_check"),
            (r#"{"no_shorting":true,"colour":"blue"}"#, "colour"),
        ] {
            let Err(Reply::Json {
                status,
                body: answer,
            }) = configs.patch(body.as_bytes())
            else {
                panic!("{body} was taken");
            };
            assert_eq!(status, 422, "{body}");
            assert!(
                answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(field)),
                "{answer}"
            );
            assert_eq!(configs, before, "{body}");
        }
    }
}
