//! Typed settings, layered: the embedded `config/default.toml` < `config/default.toml` on disk <
//! `config/local.toml` < an optional file named on the command line < `TENDERO__SECTION__KEY` environment
//! variables < command-line flags. Validated once at start so a bad value stops the process with a clear message.

use std::net::SocketAddr;
use std::path::Path;

use chrono::Duration;
use serde::Deserialize;

use crate::domain::time::{parse_duration, WeeklyWindow};

const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything Tendero can be configured with.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Database connection.
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The in-process scheduler.
    pub scheduler: SchedulerSettings,
    /// Default tolerances for judging promises.
    pub promises: PromiseSettings,
    /// Outgoing email.
    pub email: EmailSettings,
    /// Template overrides.
    pub templates: TemplateSettings,
}

/// `[email]`.
#[derive(Clone, Debug, Deserialize)]
pub struct EmailSettings {
    /// `smtp://host:port`, empty for no email.
    pub smtp_url: String,
    /// From address.
    pub from: String,
}

/// `[templates]`.
#[derive(Clone, Debug, Deserialize)]
pub struct TemplateSettings {
    /// Override directory, empty for none.
    pub dir: String,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    /// Listen address, e.g. `127.0.0.1:8080`.
    pub bind: String,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Public base URL.
    pub public_url: String,
    /// Worker threads (0 = one per core).
    pub workers: usize,
}

/// `[database]`.
#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://PATH`.
    pub url: String,
    /// Pooled read connections.
    pub max_connections: u32,
    /// SQLite busy timeout in milliseconds.
    pub busy_timeout_ms: u64,
}

/// `[telemetry]`.
#[derive(Clone, Debug, Deserialize)]
pub struct TelemetrySettings {
    /// `pretty` or `json`.
    pub format: String,
    /// Tracing filter directive.
    pub level: String,
}

/// `[scheduler]`.
#[derive(Clone, Debug, Deserialize)]
pub struct SchedulerSettings {
    /// Whether this node fires prompts.
    pub enabled: bool,
    /// Escalation delay, ISO 8601.
    pub escalate_after: String,
    /// Misfire threshold, ISO 8601.
    pub misfire_after: String,
    /// Claim lease, ISO 8601.
    pub lease: String,
    /// Timers per transaction.
    pub batch_size: i64,
}

/// `[promises]`, durations in ISO 8601.
#[derive(Clone, Debug, Deserialize)]
pub struct PromiseSettings {
    /// How early an attempt still counts as on time.
    pub callback_early: String,
    /// Grace after due for callbacks.
    pub callback_grace: String,
    /// When an unattempted callback is broken.
    pub callback_broken_after: String,
    /// When an open deadline is broken.
    pub deadline_broken_after: String,
    /// Default lead reminders for callbacks.
    pub callback_lead: Vec<String>,
    /// Default lead reminders for deadlines.
    pub deadline_lead: Vec<String>,
    /// Default customer contact window.
    pub default_contact_window: String,
    /// Default agent shift.
    pub default_shift: String,
}

/// The promise tolerances, parsed.
#[derive(Clone, Debug)]
pub struct Tolerances {
    /// How early an attempt still counts as on time.
    pub callback_early: Duration,
    /// Grace after due for callbacks.
    pub callback_grace: Duration,
    /// When an unattempted callback is broken.
    pub callback_broken_after: Duration,
    /// When an open deadline is broken.
    pub deadline_broken_after: Duration,
    /// Default lead reminders for callbacks.
    pub callback_lead: Vec<Duration>,
    /// Default lead reminders for deadlines.
    pub deadline_lead: Vec<Duration>,
    /// Default customer contact window.
    pub default_contact_window: WeeklyWindow,
    /// Default agent shift.
    pub default_shift: WeeklyWindow,
}

impl Settings {
    /// Loads the layers. `extra_file` is an optional TOML file given on the command line.
    pub fn load(extra_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(EMBEDDED_DEFAULTS, config::FileFormat::Toml))
            .add_source(config::File::with_name("config/default").required(false))
            .add_source(config::File::with_name("config/local").required(false));
        if let Some(path) = extra_file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("TENDERO")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("promises.callback_lead")
                    .with_list_parse_key("promises.deadline_lead"),
            )
            .build()?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        Ok(settings)
    }

    /// Checks every value that could stop the service later, naming the setting that is wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|e| anyhow::anyhow!("server.bind `{}` is not an address:port ({e})", self.server.bind))?;
        if self.server.body_limit_bytes < 1024 {
            anyhow::bail!("server.body_limit_bytes must be at least 1024");
        }
        crate::db::DatabaseUrl::parse(&self.database.url).map_err(anyhow::Error::msg)?;
        if !matches!(self.telemetry.format.as_str(), "pretty" | "json") {
            anyhow::bail!("telemetry.format `{}` must be `pretty` or `json`", self.telemetry.format);
        }
        self.tolerances()?;
        self.scheduler_config()?;
        self.smtp()?;
        Ok(())
    }

    /// The scheduler's tuning, parsed.
    pub fn scheduler_config(&self) -> anyhow::Result<SchedulerConfig> {
        let s = &self.scheduler;
        let one = |name: &str, value: &str| {
            parse_duration(value).map_err(|e| anyhow::anyhow!("scheduler.{name} `{value}`: {e}"))
        };
        if !(1..=10_000).contains(&s.batch_size) {
            anyhow::bail!("scheduler.batch_size must be between 1 and 10000");
        }
        Ok(SchedulerConfig {
            escalate_after: one("escalate_after", &s.escalate_after)?,
            misfire_after: one("misfire_after", &s.misfire_after)?,
            lease: one("lease", &s.lease)?,
            batch_size: s.batch_size,
            email: !self.email.smtp_url.trim().is_empty(),
        })
    }

    /// The SMTP relay, when email is on.
    pub fn smtp(&self) -> anyhow::Result<Option<SmtpTarget>> {
        if self.email.smtp_url.trim().is_empty() {
            return Ok(None);
        }
        SmtpTarget::parse(self.email.smtp_url.trim(), &self.email.from).map(Some).map_err(anyhow::Error::msg)
    }

    /// The promise tolerances, parsed and checked.
    pub fn tolerances(&self) -> anyhow::Result<Tolerances> {
        let p = &self.promises;
        let one = |name: &str, value: &str| {
            parse_duration(value).map_err(|e| anyhow::anyhow!("promises.{name} `{value}`: {e}"))
        };
        let many = |name: &str, values: &[String]| values.iter().map(|v| one(name, v)).collect::<Result<Vec<_>, _>>();
        let window = |name: &str, value: &str| {
            WeeklyWindow::parse(value).map_err(|e| anyhow::anyhow!("promises.{name} `{value}`: {e}"))
        };
        Ok(Tolerances {
            callback_early: one("callback_early", &p.callback_early)?,
            callback_grace: one("callback_grace", &p.callback_grace)?,
            callback_broken_after: one("callback_broken_after", &p.callback_broken_after)?,
            deadline_broken_after: one("deadline_broken_after", &p.deadline_broken_after)?,
            callback_lead: many("callback_lead", &p.callback_lead)?,
            deadline_lead: many("deadline_lead", &p.deadline_lead)?,
            default_contact_window: window("default_contact_window", &p.default_contact_window)?,
            default_shift: window("default_shift", &p.default_shift)?,
        })
    }
}

/// Scheduler tuning.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Escalate a due prompt nobody acknowledged after this long.
    pub escalate_after: Duration,
    /// A firing later than this is a misfire (the service was not running).
    pub misfire_after: Duration,
    /// How long a claim holds before another instance may take the work.
    pub lease: Duration,
    /// Timers per transaction.
    pub batch_size: i64,
    /// Whether due prompts are also emailed to the agent.
    pub email: bool,
}

/// Where email goes.
#[derive(Clone, Debug)]
pub struct SmtpTarget {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The From address.
    pub from: String,
}

impl SmtpTarget {
    /// Parses `smtp://host:port` (plain SMTP, for a relay on the same host or network).
    pub fn parse(url: &str, from: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| format!("email.smtp_url `{url}` must look like smtp://host:port"))?;
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "25"));
        let port =
            port.trim_end_matches('/').parse::<u16>().map_err(|_| format!("email.smtp_url `{url}` has a bad port"))?;
        if host.is_empty() {
            return Err(format!("email.smtp_url `{url}` has no host"));
        }
        from.parse::<lettre::Address>().map_err(|e| format!("email.from `{from}` is not an address: {e}"))?;
        Ok(Self { host: host.to_string(), port, from: from.to_string() })
    }
}
