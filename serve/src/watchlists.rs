//! Watchlists, as Alpaca keeps them per account: `GET|POST
//! /v2/watchlists`, `GET|PUT|POST|DELETE /v2/watchlists/{id}`, `DELETE
//! /v2/watchlists/{id}/{symbol}` and the by-name forms
//! (`/v2/watchlists:by_name?name=`).
//!
//! A watchlist is answered with its `assets` (each as `GET /v2/assets`
//! shows it); the list of all answers them without. Ids are UUIDs derived
//! from the seed and a counter, stamps the session's clock at the
//! instant the call landed. Refusals, as Alpaca's: a symbol the scenario
//! does not price, a name in use, a name longer than 64 characters, a
//! symbol twice, each 422 naming it; an unknown id or name 404. A session
//! holds at most [`MAX_WATCHLISTS`] watchlists of at most
//! [`MAX_WATCHLIST_SYMBOLS`] symbols each, so a client cannot exhaust its
//! memory; past either bound the request is refused (422) naming it.
//!
//! Entry point: [`Session::watchlist_route`]. Imports `session`, `market`
//! (the asset shape) and `wire`.

use std::time::Duration;

use fillproof_simulator::uuid_shaped;
use serde_json::{Value, json};

use crate::api::query_param;
use crate::session::Session;
use crate::wire::{Reply, code};

/// The most watchlists one session keeps.
pub const MAX_WATCHLISTS: usize = 200;

/// The most symbols one watchlist holds.
pub const MAX_WATCHLIST_SYMBOLS: usize = 1_000;

/// The longest name Alpaca takes, in characters.
const MAX_NAME_CHARS: usize = 64;

/// One watchlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watchlist {
    id: String,
    name: String,
    symbols: Vec<String>,
    created_at: Duration,
    updated_at: Duration,
}

/// The session's watchlists, in creation order, and how many were made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Watchlists {
    lists: Vec<Watchlist>,
    made: u64,
}

/// Which watchlist a path names.
enum Key<'a> {
    Id(&'a str),
    Name(String),
}

fn invalid(message: &str) -> Reply {
    Reply::error(422, code::INVALID_FIELD, message)
}

fn not_found() -> Reply {
    Reply::error(404, code::NOT_FOUND, "watchlist not found")
}

/// A JSON object body, or the refusal.
fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Reply> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::error(
            400,
            code::BAD_REQUEST,
            "the body must be a JSON object",
        )),
    }
}

impl Session {
    /// The answer to a watchlist request that landed at `at`, or `None`
    /// when `segments` name no watchlist route.
    pub(crate) fn watchlist_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        body: &[u8],
        at: Duration,
    ) -> Option<Reply> {
        let by_name = || match query_param(query, "name") {
            Some(name) => Ok(Key::Name(name)),
            None => Err(invalid("name is required")),
        };
        let reply = match (method, segments) {
            ("GET", ["v2", "watchlists"]) => self.all_watchlists(),
            ("POST", ["v2", "watchlists"]) => self.create_watchlist(body, at),
            (_, ["v2", "watchlists:by_name"]) => match by_name() {
                Ok(key) => self.one_watchlist(method, &key, body, at),
                Err(refusal) => refusal,
            },
            ("DELETE", ["v2", "watchlists", id, symbol]) => self.edit(&Key::Id(id), at, |list| {
                let before = list.symbols.len();
                list.symbols.retain(|s| !s.eq_ignore_ascii_case(symbol));
                if list.symbols.len() == before {
                    return Err(Reply::error(
                        404,
                        code::NOT_FOUND,
                        &format!("symbol {symbol} is not in the watchlist"),
                    ));
                }
                Ok(())
            }),
            (_, ["v2", "watchlists", id]) => self.one_watchlist(method, &Key::Id(id), body, at),
            (_, ["v2", "watchlists" | "watchlists:by_name", ..]) => {
                Reply::error(405, code::BAD_REQUEST, "method not allowed")
            }
            _ => return None,
        };
        Some(reply)
    }

    fn one_watchlist(&self, method: &str, key: &Key<'_>, body: &[u8], at: Duration) -> Reply {
        match method {
            "GET" => self.edit(key, at, |_| Ok(())),
            "PUT" => self.update_watchlist(key, body, at),
            "POST" => {
                let symbol = match object(body) {
                    Ok(map) => map.get("symbol").and_then(Value::as_str).map(str::to_owned),
                    Err(refusal) => return refusal,
                };
                let Some(symbol) = symbol else {
                    return invalid("symbol is required");
                };
                match self.known_symbols(std::slice::from_ref(&symbol)) {
                    Ok(symbols) => self.edit(key, at, |list| {
                        if list.symbols.contains(&symbols[0]) {
                            return Err(invalid(&format!(
                                "symbol {} is already in the watchlist",
                                symbols[0]
                            )));
                        }
                        list.symbols.extend(symbols);
                        bounded(&list.symbols)
                    }),
                    Err(refusal) => refusal,
                }
            }
            "DELETE" => {
                let mut state = self.state();
                let lists = &mut state.surface.watchlists.lists;
                match lists.iter().position(|l| key.names(l)) {
                    Some(slot) => {
                        lists.remove(slot);
                        Reply::NoContent
                    }
                    None => not_found(),
                }
            }
            _ => Reply::error(405, code::BAD_REQUEST, "method not allowed"),
        }
    }

    fn all_watchlists(&self) -> Reply {
        let state = self.state();
        let lists = state.surface.watchlists.lists.iter();
        Reply::json(
            200,
            Value::Array(lists.map(|l| self.watchlist_json(l, false)).collect()),
        )
    }

    fn create_watchlist(&self, body: &[u8], at: Duration) -> Reply {
        let (name, symbols) = match self.name_and_symbols(body) {
            Ok((Some(name), symbols)) => (name, symbols.unwrap_or_default()),
            Ok((None, _)) => return invalid("name is required"),
            Err(refusal) => return refusal,
        };
        let mut state = self.state();
        let watchlists = &mut state.surface.watchlists;
        if watchlists.lists.len() >= MAX_WATCHLISTS {
            return invalid(&format!(
                "fillproof serve keeps at most {MAX_WATCHLISTS} watchlists a session"
            ));
        }
        if watchlists.lists.iter().any(|l| l.name == name) {
            return invalid(&format!("watchlist name \"{name}\" is already in use"));
        }
        let list = Watchlist {
            id: uuid_shaped(self.broker.id_seed(), "watchlist-id", watchlists.made),
            name,
            symbols,
            created_at: at,
            updated_at: at,
        };
        watchlists.made += 1;
        let answer = self.watchlist_json(&list, true);
        watchlists.lists.push(list);
        Reply::json(200, answer)
    }

    fn update_watchlist(&self, key: &Key<'_>, body: &[u8], at: Duration) -> Reply {
        let (name, symbols) = match self.name_and_symbols(body) {
            Ok(fields) => fields,
            Err(refusal) => return refusal,
        };
        if let Some(name) = &name {
            let state = self.state();
            let lists = &state.surface.watchlists.lists;
            if lists.iter().any(|l| &l.name == name && !key.names(l)) {
                return invalid(&format!("watchlist name \"{name}\" is already in use"));
            }
        }
        self.edit(key, at, |list| {
            if let Some(name) = name {
                list.name = name;
            }
            if let Some(symbols) = symbols {
                list.symbols = symbols;
            }
            Ok(())
        })
    }

    /// Applies `change` to the watchlist `key` names (stamping it updated
    /// unless it is a read) and answers it with its assets.
    fn edit(
        &self,
        key: &Key<'_>,
        at: Duration,
        change: impl FnOnce(&mut Watchlist) -> Result<(), Reply>,
    ) -> Reply {
        let mut state = self.state();
        let Some(list) = state
            .surface
            .watchlists
            .lists
            .iter_mut()
            .find(|l| key.names(l))
        else {
            return not_found();
        };
        let mut edited = list.clone();
        if let Err(refusal) = change(&mut edited) {
            return refusal;
        }
        if edited != *list {
            edited.updated_at = at;
        }
        *list = edited;
        Reply::json(200, self.watchlist_json(list, true))
    }

    /// A body's `name` and `symbols`, each checked.
    fn name_and_symbols(
        &self,
        body: &[u8],
    ) -> Result<(Option<String>, Option<Vec<String>>), Reply> {
        let map = object(body)?;
        let name = match map.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if !name.trim().is_empty() => {
                if name.chars().count() > MAX_NAME_CHARS {
                    return Err(invalid(&format!(
                        "name is longer than {MAX_NAME_CHARS} characters"
                    )));
                }
                Some(name.clone())
            }
            Some(other) => {
                return Err(invalid(&format!(
                    "invalid name {other}: use a non-empty string"
                )));
            }
        };
        let symbols = match map.get("symbols") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let texts: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let Some(texts) = texts else {
                    return Err(invalid("symbols must be a list of strings"));
                };
                let symbols = self.known_symbols(&texts)?;
                bounded(&symbols)?;
                let mut seen = std::collections::BTreeSet::new();
                if let Some(twice) = symbols.iter().find(|s| !seen.insert(*s)) {
                    return Err(invalid(&format!("symbol {twice} is listed twice")));
                }
                Some(symbols)
            }
            Some(other) => return Err(invalid(&format!("invalid symbols {other}: use a list"))),
        };
        Ok((name, symbols))
    }

    /// `names` as the market's symbols, or the refusal naming the first
    /// the scenario does not price.
    fn known_symbols(&self, names: &[String]) -> Result<Vec<String>, Reply> {
        if names.len() > MAX_WATCHLIST_SYMBOLS {
            return bounded(names).map(|()| Vec::new());
        }
        names
            .iter()
            .map(|name| {
                let symbol = name.trim().to_ascii_uppercase();
                if self.broker.market().symbols().any(|s| s == symbol) {
                    Ok(symbol)
                } else {
                    Err(invalid(&format!("asset not found: {}", name.trim())))
                }
            })
            .collect()
    }

    fn watchlist_json(&self, list: &Watchlist, with_assets: bool) -> Value {
        let mut answer = json!({
            "id": list.id,
            "account_id": self.account_id(),
            "name": list.name,
            "created_at": self.stamp(list.created_at).to_string(),
            "updated_at": self.stamp(list.updated_at).to_string(),
        });
        if with_assets {
            answer["assets"] = list.symbols.iter().map(|s| self.asset_json(s)).collect();
        }
        answer
    }
}

impl Key<'_> {
    fn names(&self, list: &Watchlist) -> bool {
        match self {
            Key::Id(id) => list.id == *id,
            Key::Name(name) => list.name == *name,
        }
    }
}

/// Refuses a list of more than [`MAX_WATCHLIST_SYMBOLS`] symbols.
fn bounded(symbols: &[String]) -> Result<(), Reply> {
    if symbols.len() > MAX_WATCHLIST_SYMBOLS {
        return Err(invalid(&format!(
            "symbols: a watchlist holds at most {MAX_WATCHLIST_SYMBOLS} symbols"
        )));
    }
    Ok(())
}
