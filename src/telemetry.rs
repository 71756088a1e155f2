//! The tracing subscriber: human-readable by default, JSON for log collectors. Request ids come from
//! `tracing-actix-web`'s root span, which every log line inside a request carries.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls (tests spawning many apps) are ignored.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let result = if format == "json" {
        fmt().json().with_env_filter(filter).with_current_span(true).try_init()
    } else {
        fmt().with_env_filter(filter).try_init()
    };
    // An error means a subscriber is already installed, which is fine in tests.
    let _ = result;
}
