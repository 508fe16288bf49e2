//! The engine's event stream as the harness hears it: every status
//! update with the virtual instant it was heard, for the latency figures
//! (submit to acknowledgement, submit to the end, broker change to the
//! update). One [`StatusLog`] serves a run: each engine the run builds
//! (a fresh one after a crash too) is listened to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fillproof_engine::OrderEvent;
use fillproof_simulator::SimBroker;
use tokio::sync::broadcast;

/// One update and when the harness heard it (virtual, since the run's
/// zero: the ledger's clock).
#[derive(Debug, Clone)]
pub struct Heard {
    /// When it was heard.
    pub at: Duration,
    /// The update.
    pub event: OrderEvent,
}

/// Every update a run's engines sent, and how many the harness missed
/// (its listener fell behind the stream's buffer): with any missed, the
/// figures made from them are absent.
#[derive(Debug, Clone, Default)]
pub struct StatusEvents {
    /// The updates heard, in the order heard.
    pub heard: Vec<Heard>,
    /// Updates the listener lost.
    pub lost: u64,
}

/// Where a run's listeners write.
#[derive(Clone, Default)]
pub(super) struct StatusLog {
    heard: Arc<Mutex<Vec<Heard>>>,
    lost: Arc<AtomicU64>,
}

impl StatusLog {
    /// Listens to `events` on a task of its own until the engine is gone,
    /// stamping each update with the broker's virtual clock.
    pub(super) fn listen(
        &self,
        mut events: broadcast::Receiver<OrderEvent>,
        broker: Arc<SimBroker>,
    ) {
        let heard = Arc::clone(&self.heard);
        let lost = Arc::clone(&self.lost);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => heard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Heard {
                            at: broker.elapsed(),
                            event,
                        }),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        lost.fetch_add(missed, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// What the listeners heard so far.
    pub(super) fn take(&self) -> StatusEvents {
        StatusEvents {
            heard: std::mem::take(&mut *self.heard.lock().unwrap_or_else(PoisonError::into_inner)),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}
