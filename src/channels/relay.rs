//! Live prompts across instances (PostgreSQL): the scheduler that fires a prompt sends `NOTIFY tendero_prompts`
//! with its instance and the prompt id, in the firing transaction (so it is sent only if the prompt commits);
//! every instance listens and publishes prompts fired elsewhere to its own hub, so an agent connected to instance
//! A sees a prompt fired by instance B. SQLite runs one instance, so it needs none of this.

#[cfg(feature = "postgres")]
use std::time::Duration;

use diesel::RunQueryDsl;

use crate::channels::live::Hub;
use crate::db::{Backend, Db, DbConn};

/// The notification channel.
pub const CHANNEL: &str = "tendero_prompts";

/// How often the listening connection is polled; libpq delivers notifications on read, and a poll is one
/// non-blocking `PQconsumeInput`.
#[cfg(feature = "postgres")]
const POLL: Duration = Duration::from_millis(25);

/// Announces fired prompts to the other instances, inside the firing transaction: one notification per prompt,
/// all sent by one statement, since a round trip per prompt was what limited a burst on PostgreSQL. Does nothing
/// on SQLite.
pub fn announce_all<'a>(
    conn: &mut DbConn,
    instance: &str,
    prompt_ids: impl IntoIterator<Item = &'a str>,
) -> diesel::QueryResult<()> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    let payloads: Vec<String> = prompt_ids.into_iter().map(|id| format!("{instance}|{id}")).collect();
    if payloads.is_empty() {
        return Ok(());
    }
    let payloads = serde_json::to_string(&payloads).map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
    // `ORDER BY ordinality` keeps the prompts' order; notifications are delivered in the order they were sent.
    diesel::sql_query(
        "SELECT pg_notify($1, payload) FROM json_array_elements_text($2::json) WITH ORDINALITY AS p(payload, n) \
         ORDER BY n",
    )
    .bind::<diesel::sql_types::Text, _>(CHANNEL)
    .bind::<diesel::sql_types::Text, _>(payloads)
    .execute(conn)
    .map(|_| ())
}

/// The origin instance and prompt id of a notification payload.
pub fn parse_payload(payload: &str) -> Option<(&str, &str)> {
    payload.rsplit_once('|').filter(|(origin, id)| !origin.is_empty() && !id.is_empty())
}

/// The running listener thread of one application. Dropping it stops the thread and waits for it (a few
/// seconds at most), so no thread is left talking to libpq when the process exits: libpq's TLS state is torn
/// down by `exit`, and a connection attempt racing that teardown crashes the process.
pub struct RelayHandle {
    #[cfg(feature = "postgres")]
    stop: std::sync::Arc<Stop>,
    #[cfg(feature = "postgres")]
    done: std::sync::mpsc::Receiver<()>,
}

/// The stop flag, with a condition variable so a waiting relay wakes at once.
#[cfg(feature = "postgres")]
#[derive(Default)]
struct Stop {
    stopped: std::sync::Mutex<bool>,
    wake: std::sync::Condvar,
}

#[cfg(feature = "postgres")]
impl Stop {
    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits `timeout` or until stopped; true when stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let (stopped, _) =
            self.wake.wait_timeout_while(stopped, timeout, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
        *stopped
    }

    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        #[cfg(feature = "postgres")]
        {
            self.stop.set();
            // The thread checks the flag between polls; a connection attempt under way is waited for, but a
            // server that does not answer must not hold the shutdown for ever.
            if self.done.recv_timeout(SHUTDOWN_WAIT).is_err() {
                tracing::warn!("the prompt relay did not stop in time; leaving it");
            }
        }
    }
}

/// How long dropping a [`RelayHandle`] waits for its thread.
#[cfg(feature = "postgres")]
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Starts the listener thread for a PostgreSQL database (none for SQLite). It reconnects with backoff when the
/// server goes away, and stops for good when the database itself no longer exists or the handle is dropped.
#[cfg(feature = "postgres")]
pub fn spawn_listener(url: String, db: Db, hub: Hub, instance: String) -> Option<RelayHandle> {
    if db.backend() != Backend::Postgres {
        return None;
    }
    let stop = std::sync::Arc::new(Stop::default());
    let (finished, done) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let spawned = std::thread::Builder::new().name("prompt-relay".into()).spawn(move || {
        let mut backoff = Duration::from_millis(250);
        while !flag.is_set() {
            match listen(&url, &db, &hub, &instance, &flag) {
                Ok(()) => break,
                Err(e) if e.contains("does not exist") => {
                    tracing::warn!(error = %e, "prompt relay stopped: the database is gone");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "prompt relay lost its connection");
                    if flag.wait(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        // The connection and the pools' handle are dropped before the owner hears that the thread is done.
        drop((db, hub));
        let _ = finished.send(());
    });
    match spawned {
        Ok(_) => Some(RelayHandle { stop, done }),
        Err(e) => {
            tracing::error!(error = %e, "could not start the prompt relay; live prompts stay on their own instance");
            None
        }
    }
}

/// Without PostgreSQL support there is nothing to relay.
#[cfg(not(feature = "postgres"))]
pub fn spawn_listener(_url: String, _db: Db, _hub: Hub, _instance: String) -> Option<RelayHandle> {
    None
}

/// Listens until the connection fails (an error) or `stop` is set (`Ok`).
#[cfg(feature = "postgres")]
fn listen(url: &str, db: &Db, hub: &Hub, instance: &str, stop: &Stop) -> Result<(), String> {
    use crate::channels::live::LivePrompt;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|e| e.to_string())?;
    tracing::info!("prompt relay listening");
    loop {
        let mut batch = Vec::new();
        for note in conn.notifications_iter() {
            batch.push(note.map_err(|e| e.to_string())?.payload);
        }
        for payload in batch {
            let Some((origin, prompt_id)) = parse_payload(&payload) else { continue };
            if origin == instance {
                continue;
            }
            let id = prompt_id.to_string();
            match db.read_blocking(move |c| Ok(crate::repo::prompts::find(c, &id)?)) {
                Ok(Some(prompt)) => hub.publish(LivePrompt {
                    agent_id: prompt.agent_id.clone(),
                    json: std::sync::Arc::new(crate::service::events::prompt_json(&prompt)),
                }),
                Ok(None) => tracing::warn!(prompt_id, "relayed prompt not found"),
                Err(e) => tracing::warn!(error = %e, "reading a relayed prompt failed"),
            }
        }
        if stop.wait(POLL) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_the_origin_and_the_prompt() {
        assert_eq!(parse_payload("1234-node_01|pmt_9"), Some(("1234-node_01", "pmt_9")));
        assert_eq!(parse_payload("pmt_9"), None);
        assert_eq!(parse_payload("|pmt_9"), None);
    }
}
