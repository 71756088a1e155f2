//! The `tendero` command: serve, migrate, demo, admin create, token create, check.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use tendero::clock::Clock;
use tendero::settings::Settings;
use tendero::startup::{open_database, Application};
use tendero::{auth, demo, repo, telemetry};

#[derive(Parser)]
#[command(name = "tendero", version, about = "Keeps the promises customer-service agents make")]
struct Cli {
    /// A TOML file layered over config/default.toml and config/local.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://data/tendero.db (overrides settings).
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (and the scheduler unless disabled).
    Serve {
        /// Listen address, e.g. 127.0.0.1:8080 (overrides settings).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load the demo dataset from the seed stories, print tokens to log in with, and optionally serve.
    Demo {
        /// Also add this many synthetic customers with promises and history.
        #[arg(long, default_value_t = 0)]
        customers: u32,
        /// Start serving after seeding.
        #[arg(long)]
        serve: bool,
        /// Listen address when serving.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the configuration, the database and the time-zone data, then exit.
    Check,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin and print a new API token as the last line.
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Password for the web pages (at least 10 characters).
        #[arg(long)]
        password: Option<String>,
        /// IANA zone of the admin.
        #[arg(long, default_value = "Europe/Madrid")]
        time_zone: String,
    },
    /// Set an agent's password for the web pages.
    Password {
        /// The agent's login email.
        #[arg(long)]
        email: String,
        /// The new password (at least 10 characters); read from TENDERO_PASSWORD when omitted, so it need not
        /// appear in the shell history.
        #[arg(long, env = "TENDERO_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for an agent and print it as the last line.
    Create {
        /// The agent's email.
        #[arg(long)]
        agent: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database {
        settings.database.url = url.clone();
    }
    match &cli.command {
        Command::Serve { bind } | Command::Demo { bind, .. } => {
            if let Some(bind) = bind {
                settings.server.bind = bind.clone();
            }
        }
        _ => {}
    }
    settings.validate()?;
    telemetry::init(&settings.telemetry.format, &settings.telemetry.level);

    match cli.command {
        Command::Serve { .. } => serve(settings),
        Command::Migrate => {
            let db = open_database(&settings)?;
            drop(db);
            println!("database {} is up to date", settings.database.url);
            Ok(())
        }
        Command::Demo { customers, serve: and_serve, .. } => {
            let db = open_database(&settings)?;
            let logins = demo::seed(&db, &settings.tolerances()?, customers, Clock::system().now())?;
            println!("Demo data loaded into {}.", settings.database.url);
            println!("API tokens (send as `Authorization: Bearer <token>`):");
            for login in &logins {
                println!("  {:<8} {:<28} {}", login.role, login.email, login.token);
            }
            println!("Web password for every demo login: {}", demo::DEMO_PASSWORD);
            drop(db);
            if and_serve {
                println!(
                    "Serving on http://{} (API under /api/v1, OpenAPI at /api/v1/openapi.json)",
                    settings.server.bind
                );
                serve(settings)
            } else {
                Ok(())
            }
        }
        Command::Admin { command: AdminCommand::Create { email, name, password, time_zone } } => {
            let db = open_database(&settings)?;
            let hash = password.as_deref().map(auth::hash_password).transpose()?;
            let token = demo::create_admin(&db, &settings, &email, &name, &time_zone, hash)?;
            println!("admin {email} created; API token:");
            println!("{token}");
            Ok(())
        }
        Command::Admin { command: AdminCommand::Password { email, password } } => {
            if password.chars().count() < 10 {
                anyhow::bail!("the password needs at least 10 characters");
            }
            let db = open_database(&settings)?;
            let hash = auth::hash_password(&password)?;
            let now = Clock::system().now().timestamp_millis();
            let email = email.trim().to_lowercase();
            let found = db.write_blocking(|conn| {
                let Some(agent) = tendero::repo::agents::find_by_email(conn, &email)? else { return Ok(false) };
                let changes = tendero::repo::agents::AgentChanges {
                    password_hash: Some(Some(hash.clone())),
                    updated_at: now,
                    ..Default::default()
                };
                Ok(tendero::repo::agents::update(conn, &agent.id, &changes)?)
            })?;
            if !found {
                anyhow::bail!("no agent has the email {email}");
            }
            println!("password of {email} set");
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { agent, name } } => {
            let db = open_database(&settings)?;
            let now = Clock::system().now().timestamp_millis();
            let secret = db
                .write_blocking(|conn| {
                    let found = repo::agents::find_by_email(conn, &agent.to_lowercase())?
                        .ok_or_else(|| tendero::error::AppError::not_found("agent", &agent))?;
                    Ok(repo::tokens::create(conn, &found.id, &name, now)?.1)
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("token for {agent}:");
            println!("{secret}");
            Ok(())
        }
        Command::Check => {
            println!("configuration: ok");
            let db = open_database(&settings).context("database")?;
            db.read_blocking(tendero::db::ping).map_err(|e| anyhow::anyhow!("database: {e}"))?;
            println!("database: ok ({}, migrations applied)", settings.database.url);
            println!("time-zone data: IANA {}", tendero::domain::time::tzdata_version());
            tendero::domain::time::HolidayCalendar::check_embedded()
                .map_err(|e| anyhow::anyhow!("holiday calendars: {e}"))?;
            println!("holiday calendars: {}", tendero::domain::time::HolidayCalendar::known_regions().join(", "));
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings, Clock::system())?;
        tracing::info!(bind = %settings.server.bind, port = app.port(), "tendero serving");
        app.run_until_stopped().await?;
        Ok(())
    })
}
