//! A PostgreSQL database made for one test or benchmark run, on a server that already exists.

use diesel::connection::SimpleConnection;

use tendero::db::{database_on, establish};

/// A PostgreSQL database made for one run on an existing server, and dropped (`WITH (FORCE)`, so connections left
/// open do not keep it) when this is dropped, unless [`ScratchDatabase::keep`] says otherwise.
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
    keep: bool,
}

impl ScratchDatabase {
    /// Creates database `name` (a plain identifier) on the server `server_url` points at, replacing one of that
    /// name left by an earlier run.
    pub fn create(server_url: &str, name: &str) -> anyhow::Result<Self> {
        let url = database_on(server_url, name)?;
        let mut admin = establish(server_url).map_err(|e| anyhow::anyhow!("{server_url} does not answer: {e}"))?;
        // One statement per call: PostgreSQL refuses these inside the transaction a multi-statement string runs as.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(Self { server: server_url.to_string(), name: name.to_string(), url, keep: false })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Leaves the database on the server when this is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Ok(mut admin) = establish(&self.server) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
