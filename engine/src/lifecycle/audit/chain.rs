//! The hash chain: its genesis, its modes and key, the digest every
//! fillproof chain is made with, and the head kept beside a log.

use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::*;

/// The hash a log's first record chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The environment variable that holds the audit key: when set (and not
/// empty), logs are chained with HMAC-SHA256 under it, and verifying one
/// needs it.
pub const AUDIT_KEY_ENV: &str = "FILLPROOF_AUDIT_KEY";

/// How a log's records are chained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainMode {
    /// SHA-256, keyless: anyone can recompute it.
    #[serde(rename = "sha256")]
    Sha256,
    /// HMAC-SHA256 under an [`AuditKey`]: only a holder of the key can.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl ChainMode {
    /// The mode's name, as records and heads spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    pub(super) fn of(key: Option<&AuditKey>) -> Self {
        if key.is_some() {
            Self::HmacSha256
        } else {
            Self::Sha256
        }
    }
}

/// The secret an HMAC-SHA256 chain is keyed with. Its `Debug` shows no
/// part of it.
#[derive(Clone)]
pub struct AuditKey {
    mac: Hmac<Sha256>,
}

impl AuditKey {
    /// A key of these bytes; `None` when there are none.
    #[must_use]
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        let mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
        Some(Self { mac })
    }

    /// The key in [`AUDIT_KEY_ENV`]: `None` when it is unset or empty.
    ///
    /// # Errors
    /// A value that is not UTF-8.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(AUDIT_KEY_ENV) {
            Ok(value) => Ok(Self::new(value.as_bytes())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "{AUDIT_KEY_ENV} is not UTF-8: give the key as text (for example 64 hex digits)"
            )),
        }
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<secret>)")
    }
}

/// SHA-256 (HMAC-SHA256 under `key`) of `prev_hash`, a newline and the
/// body, given in `parts`, in lower-case hex.
pub(super) fn chain_hash(key: Option<&AuditKey>, prev_hash: &str, parts: &[&str]) -> String {
    let head: [&[u8]; 2] = [prev_hash.as_bytes(), b"\n"];
    digest_hex(
        key,
        head.into_iter().chain(parts.iter().map(|p| p.as_bytes())),
    )
}

/// SHA-256 of `parts`, one after another (HMAC-SHA256 under `key`, which
/// only a holder of the key can compute), in lower-case hex: the one
/// digest every fillproof hash chain and file digest is made with (the
/// audit log, `fillproof serve`'s request log, a scenario's digest).
#[must_use]
pub fn digest_hex<'a>(key: Option<&AuditKey>, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    match key {
        None => {
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update(part);
            }
            hex(&hasher.finalize())
        }
        Some(key) => {
            let mut mac = key.mac.clone();
            for part in parts {
                mac.update(part);
            }
            hex(&mac.finalize().into_bytes())
        }
    }
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for &byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Whether `a` and `b` are equal, in time that depends on their lengths
/// only (a MAC compared byte by byte with an early exit tells a forger
/// how much of a guess was right).
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The chain's head: how many records a log holds and the last one's hash,
/// written beside the log (`LOG.head`, one JSON object) so that a log cut
/// short is detected. Keyed, it carries a seal (HMAC-SHA256 of the count
/// and the hash) that only a holder of the key can write for a shorter
/// log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// Records in the log.
    pub records: u64,
    /// The last record's hash ([`GENESIS`] for none).
    pub last_hash: String,
    /// How the log is chained.
    pub mode: ChainMode,
    /// Keyed: HMAC-SHA256 of `records` and `last_hash`, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl AuditHead {
    /// The head of a log of `records` records ending with `last_hash`,
    /// sealed under `key`.
    #[must_use]
    pub fn new(records: u64, last_hash: String, key: Option<&AuditKey>) -> Self {
        let seal = key.map(|key| Self::seal_of(key, records, &last_hash));
        Self {
            records,
            last_hash,
            mode: ChainMode::of(key),
            seal,
        }
    }

    pub(super) fn seal_of(key: &AuditKey, records: u64, last_hash: &str) -> String {
        let mut mac = key.mac.clone();
        mac.update(format!("fillproof audit head\n{records}\n{last_hash}").as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The head as a line of JSON, newline-terminated.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a head written by [`AuditHead::to_json`].
    ///
    /// # Errors
    /// Text that is not such a head, with the parser's word on why (which
    /// names the field).
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text.trim_end()).map_err(|e| e.to_string())
    }

    /// Checks that `log`, the head a verified log ends with (from
    /// [`verify_chain`]), is the one this head was written for.
    ///
    /// # Errors
    /// [`AuditError::HeadMismatch`] naming what differs: the mode, the
    /// count (a cut tail, or records added), the last hash, or the seal.
    pub fn check(&self, log: &AuditHead, key: Option<&AuditKey>) -> Result<(), AuditError> {
        let mismatch = |detail: String| Err(AuditError::HeadMismatch { detail });
        if self.mode != log.mode {
            return mismatch(format!(
                "the head says the log is chained with {}, and it is chained with {}",
                self.mode.as_str(),
                log.mode.as_str()
            ));
        }
        if self.records > log.records {
            return mismatch(format!(
                "the log holds {} records and its head {}: {} records were cut from its end",
                log.records,
                self.records,
                self.records - log.records
            ));
        }
        if self.records < log.records {
            return mismatch(format!(
                "the log holds {} records and its head {}: records were added after the head was written",
                log.records, self.records
            ));
        }
        if !same(&self.last_hash, &log.last_hash) {
            return mismatch(format!(
                "the log's last record (record {}) has hash {} and its head says {}: the log's last records are not the ones the head was written for",
                log.records, log.last_hash, self.last_hash
            ));
        }
        if let Some(key) = key {
            let expected = Self::seal_of(key, self.records, &self.last_hash);
            if !self
                .seal
                .as_deref()
                .is_some_and(|seal| same(seal, &expected))
            {
                return mismatch(
                    "the head's seal does not match its count and hash under this key: the head was edited, or written with another key".into(),
                );
            }
        }
        Ok(())
    }
}
