//! A bot's HTTP/1.1 connection to `serve`, kept alive between requests
//! and opened again when it fails, as an SDK's session is.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest a bot waits for an answer before it counts it lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer body a bot reads.
const MAX_BODY_BYTES: usize = 16 << 20;

/// A kept-alive connection with the bot's credentials.
pub(super) struct Connection {
    address: SocketAddr,
    key: Option<String>,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// A connection to `address`, opened at the first request, sending
    /// `key` (with any secret) when given.
    pub(super) fn new(address: SocketAddr, key: Option<String>) -> Self {
        Self {
            address,
            key,
            stream: None,
        }
    }

    /// Sends one request and reads its answer: the status, the body's
    /// JSON (`Null` when empty or not JSON) and how long it took from the
    /// first byte written to the last read.
    ///
    /// # Errors
    ///
    /// The connection failed, closed or timed out before a whole answer:
    /// it is dropped, and the next request opens another.
    pub(super) async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, Value, Duration)> {
        let started = Instant::now();
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.exchange(method, path, body)).await;
        match answer {
            Ok(Ok((status, json))) => Ok((status, json, started.elapsed())),
            Ok(Err(error)) => {
                self.stream = None;
                Err(error)
            }
            Err(_) => {
                self.stream = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer in time",
                ))
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, Value)> {
        if self.stream.is_none() {
            self.stream = Some(BufReader::new(TcpStream::connect(self.address).await?));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        let auth = self.key.as_deref().map_or(String::new(), |key| {
            format!("APCA-API-KEY-ID: {key}\r\nAPCA-API-SECRET-KEY: crowd-secret\r\n")
        });
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: fillproof\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream
            .get_mut()
            .write_all(format!("{head}{body}").as_bytes())
            .await?;
        read_answer(stream).await
    }
}

/// Reads one answer: its status line, headers and `Content-Length` body.
async fn read_answer(stream: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Value)> {
    let broken = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    let status: u16 = line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken("no status line"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(broken("closed in the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| broken("bad Content-Length"))?;
            }
        }
    }
    if length > MAX_BODY_BYTES {
        return Err(broken("answer body too large"));
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}
