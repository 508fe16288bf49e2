//! Where the adapter connects and with which keys.

use std::fmt;
use std::time::Duration;

/// Alpaca's paper-trading REST endpoint.
pub const PAPER_URL: &str = "https://paper-api.alpaca.markets";

/// The paper endpoint's trade_updates websocket.
pub const PAPER_STREAM_URL: &str = "wss://paper-api.alpaca.markets/stream";

/// Alpaca's Market Data API, for paper and live accounts alike.
pub const DATA_URL: &str = "https://data.alpaca.markets";

/// The adapter's settings.
///
/// Defaults: the paper endpoint, a 10 s timeout per request (the engine
/// bounds each call by its own `call_timeout` too; past either the
/// outcome is unknown and the engine reconciles). The secret is never
/// printed: `Debug` shows it as `***`.
#[derive(Clone)]
pub struct AlpacaConfig {
    /// REST base URL, without `/v2`.
    pub base_url: String,
    /// The trade_updates websocket URL.
    pub stream_url: String,
    /// The Market Data API's base URL, without `/v2`.
    pub data_url: String,
    /// `APCA-API-KEY-ID`.
    pub key_id: String,
    secret_key: String,
    /// The longest one request may take.
    pub request_timeout: Duration,
}

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("base_url", &self.base_url)
            .field("stream_url", &self.stream_url)
            .field("data_url", &self.data_url)
            .field("key_id", &self.key_id)
            .field("secret_key", &"***")
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why a configuration cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is unset or empty.
    #[error(
        "{0} is not set; export your Alpaca API key id and secret (APCA_API_KEY_ID, APCA_API_SECRET_KEY) before starting"
    )]
    MissingVariable(&'static str),
    /// A URL is not http(s) or ws(s).
    #[error("{field} \"{url}\" is not an {expected} URL")]
    BadUrl {
        /// The variable or field.
        field: &'static str,
        /// Its value.
        url: String,
        /// `http(s)` or `ws(s)`.
        expected: &'static str,
    },
}

impl AlpacaConfig {
    /// Alpaca's paper endpoint with these keys.
    #[must_use]
    pub fn paper(key_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            base_url: PAPER_URL.to_owned(),
            stream_url: PAPER_STREAM_URL.to_owned(),
            data_url: DATA_URL.to_owned(),
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// The same keys against another server, e.g. `fillproof serve`'s
    /// `http://127.0.0.1:PORT`; the stream is that server's `/stream`, and
    /// its market data that server's too.
    ///
    /// # Errors
    ///
    /// `base_url` is not an http(s) URL.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, ConfigError> {
        let base = base_url.trim_end_matches('/');
        let stream = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}/stream")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}/stream")
        } else {
            return Err(ConfigError::BadUrl {
                field: "base_url",
                url: base_url.to_owned(),
                expected: "http(s)",
            });
        };
        self.base_url = base.to_owned();
        self.data_url = base.to_owned();
        self.stream_url = stream;
        Ok(self)
    }

    /// From the environment: `APCA_API_KEY_ID` and `APCA_API_SECRET_KEY`
    /// (required), `APCA_API_BASE_URL` (default the paper endpoint).
    ///
    /// # Errors
    ///
    /// A key is missing or empty, or the base URL is not http(s).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`AlpacaConfig::from_env`], reading variables through `lookup`.
    ///
    /// # Errors
    ///
    /// As [`AlpacaConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::MissingVariable(name))
        };
        let config = Self::paper(
            required("APCA_API_KEY_ID")?,
            required("APCA_API_SECRET_KEY")?,
        );
        match lookup("APCA_API_BASE_URL").filter(|v| !v.trim().is_empty()) {
            Some(url) => config.with_base_url(&url),
            None => Ok(config),
        }
    }

    /// `APCA-API-SECRET-KEY`, for the request headers.
    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Missing keys are refused with the variable named; the secret never
    /// shows in `Debug`.
    #[test]
    fn keys_come_from_the_environment_and_stay_secret() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            AlpacaConfig::from_lookup(env(&[("APCA_API_KEY_ID", "PK1")])).map(|_| ()),
            Err(ConfigError::MissingVariable("APCA_API_SECRET_KEY"))
        );
        assert_eq!(
            AlpacaConfig::from_lookup(env(&[
                ("APCA_API_KEY_ID", " "),
                ("APCA_API_SECRET_KEY", "s")
            ]))
            .map(|_| ()),
            Err(ConfigError::MissingVariable("APCA_API_KEY_ID"))
        );
        let config = AlpacaConfig::from_lookup(env(&[
            ("APCA_API_KEY_ID", "PK1"),
            ("APCA_API_SECRET_KEY", "hunter2"),
            ("APCA_API_BASE_URL", "http://127.0.0.1:8080/"),
        ]))
        .expect("complete");
        assert_eq!(config.base_url, "http://127.0.0.1:8080");
        assert_eq!(config.stream_url, "ws://127.0.0.1:8080/stream");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            AlpacaConfig::paper("k", "s")
                .with_base_url("ftp://x")
                .is_err()
        );
    }
}
