//! The real `tendero` binary as a child process, for the tests that kill it (crash, crash under load, several
//! instances) and the benches that measure it: one way to run it in its own directory with a known environment,
//! wait until it answers, keep its log, and never leave it running.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How to run `tendero` on one database: the binary, the directory it runs in and its logs go to, and the
/// settings it gets through the environment.
pub struct Tendero {
    bin: PathBuf,
    dir: PathBuf,
    database: String,
    env: Vec<(String, String)>,
    inherit_settings: bool,
    ready_path: String,
    ready_within: Duration,
    starts: AtomicU32,
    http: reqwest::Client,
}

impl Tendero {
    /// `bin` on `database`, run in `dir` (so no `config/local.toml` of the checkout leaks in) with none of the
    /// caller's `TENDERO__*` settings nor `RUST_LOG` (a developer's shell must not change what a test sees), logging
    /// warnings and errors. `start` waits for `/healthz`, for up to 60 s, unless told otherwise.
    pub fn new(bin: impl Into<PathBuf>, dir: impl Into<PathBuf>, database: &str) -> Self {
        Tendero {
            bin: bin.into(),
            dir: dir.into(),
            database: database.to_string(),
            env: vec![("TENDERO__TELEMETRY__LEVEL".into(), "warn".into())],
            inherit_settings: false,
            ready_path: "/healthz".into(),
            ready_within: Duration::from_secs(60),
            starts: AtomicU32::new(0),
            http: reqwest::Client::new(),
        }
    }

    /// Sets a variable for every command and server from now on (a later value for the same key wins).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Passes the caller's `TENDERO__*` settings on, for a bench whose runner tunes the server that way.
    pub fn inheriting_settings(mut self) -> Self {
        self.inherit_settings = true;
        self
    }

    /// Waits for `path` (`/readyz` also needs the database) instead of `/healthz`, for up to `within`.
    pub fn ready_at(mut self, path: &str, within: Duration) -> Self {
        self.ready_path = path.to_string();
        self.ready_within = within;
        self
    }

    /// The directory the process runs in and its logs go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many servers were spawned so far; the n-th logs to `serve-n.log`.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// `tendero --database URL` in the directory, with the environment; add the subcommand.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command.current_dir(&self.dir).arg("--database").arg(&self.database);
        if !self.inherit_settings {
            for (key, _) in std::env::vars() {
                if key.starts_with("TENDERO__") {
                    command.env_remove(key);
                }
            }
        }
        command.env_remove("RUST_LOG");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs `tendero admin create` and returns the API token it prints on its last line.
    pub fn create_admin(&self, email: &str, name: &str) -> String {
        let output = self
            .command()
            .args(["admin", "create", "--email", email, "--name", name])
            .output()
            .expect("run tendero admin create");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "admin create failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("a token line").trim().to_string()
    }

    /// Spawns `tendero serve` on a free port, with `extra` variables for this server only, without waiting.
    pub fn spawn(&self, extra: &[(&str, &str)]) -> Server {
        let n = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let log = self.dir.join(format!("serve-{n}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let port = free_port();
        let mut command = self.command();
        command.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn tendero serve");
        let pid = child.id();
        Server { child: Some(child), pid, base: format!("http://127.0.0.1:{port}"), log, http: self.http.clone() }
    }

    /// Spawns `tendero serve` and waits until it answers.
    pub async fn start(&self, extra: &[(&str, &str)]) -> Server {
        let mut server = self.spawn(extra);
        server.wait_until_answering(&self.ready_path, self.ready_within).await;
        server
    }

    /// Waits until each of `servers` answers (spawned together, they start side by side).
    pub async fn wait_all(&self, servers: &mut [Server]) {
        for server in servers {
            server.wait_until_answering(&self.ready_path, self.ready_within).await;
        }
    }
}

/// A running `tendero serve`; SIGKILLed and reaped on drop, so a failing test leaves no process behind.
pub struct Server {
    child: Option<Child>,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its stdout and stderr.
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// Its process id (lease owners are named after it).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The URL of an API path (`/promises` gives `http://.../api/v1/promises`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Waits (bounded) until `path` answers 200; panics with the log if the process exits first or time runs out.
    pub async fn wait_until_answering(&mut self, path: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(response) = self.http.get(format!("{}{path}", self.base)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("tendero serve (pid {}) exited with {status} before answering:\n{}", self.pid, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "tendero serve (pid {}) did not answer {path} within {within:?}:\n{}",
                self.pid,
                self.log_tail()
            );
            // Short: the benches time the start with this poll.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and wait until the process is gone.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server already stopped");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// The end of its log, and its beginning when the log is long: an error that stops the process at start-up
    /// is printed first and its backtrace after.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

/// The end of a log file, and its beginning when it is long (see [`Server::log_tail`]).
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 60 {
        format!("{}\n...\n{}", lines[..20].join("\n"), lines[lines.len() - 40..].join("\n"))
    } else {
        lines.join("\n")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("probe listener").local_addr().expect("address").port()
}
