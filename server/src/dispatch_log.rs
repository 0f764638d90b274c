//! Records of handed-over jobs (`dispatched_at`), many in one statement.
//!
//! Under load the frontend hands hundreds of jobs a second to the queue, and recording each in
//! a write of its own cost nearly as much as storing the compose. A writer thread takes every
//! record queued meanwhile and writes them in one `UPDATE`. A record that never lands (the
//! process stops first) only lets the relay dispatch that job again, and workers claim a
//! compose once whatever duplicate jobs arrive.

use std::sync::mpsc::{self, Sender};

use odcs_common::compose::ComposeId;
use odcs_common::db::lifecycle::mark_dispatched_many;
use odcs_common::db::DbPool;

/// Most records written in one statement.
const MAX_BATCH: usize = 1000;

/// Where handlers send the ids of composes whose job they handed over.
#[derive(Clone)]
pub struct DispatchLog {
    records: Sender<ComposeId>,
}

impl DispatchLog {
    /// Starts the writer thread, writing into `pool`; it stops when the last handle is dropped.
    pub fn start(pool: DbPool) -> std::io::Result<DispatchLog> {
        let (records, rx) = mpsc::channel::<ComposeId>();
        std::thread::Builder::new()
            .name("dispatch-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut ids = vec![first];
                    while ids.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(id) => ids.push(id),
                            Err(_) => break,
                        }
                    }
                    let written = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                        conn.run(|c| mark_dispatched_many(c, &ids, odcs_common::time::now()))
                            .map_err(|e| e.to_string())
                    });
                    if let Err(e) = written {
                        tracing::warn!(composes = ids.len(), error = %e, "dispatches not recorded; the relay will dispatch them again");
                    }
                }
            })?;
        Ok(DispatchLog { records })
    }

    /// Records that compose `id`'s job was handed over.
    pub fn record(&self, id: ComposeId) {
        let _ = self.records.send(id);
    }
}
