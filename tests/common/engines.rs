//! Engines of a test's own: PostgreSQL, Redis and RabbitMQ on spare ports,
//! each in a temp folder, so a test may stop and restart them while the
//! machine's shared services stay up. Every guard stops its engine and
//! removes its folder on drop, also when the test panics.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// Every includer declares `scratch.rs` beside this module.
use super::scratch::{TempDir, services_required, temp_dir};

/// A free port on the loopback interface (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Looks for `name` in the PATH, then in `extra` folders (distributions keep
/// PostgreSQL's and RabbitMQ's tools off the PATH).
fn find_tool(name: &str, first: &[PathBuf], extra: &[PathBuf]) -> Option<PathBuf> {
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    first
        .iter()
        .chain(path.iter())
        .chain(extra.iter())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The `bin` folders of installed PostgreSQL versions, newest first.
fn postgres_bins() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs
}

/// None, printing why, when a tool is missing; a panic instead under
/// CRM_REQUIRE_SERVICES=1.
fn missing<T>(what: &str) -> Option<T> {
    assert!(
        !services_required(),
        "{what} is required (CRM_REQUIRE_SERVICES=1) but not installed"
    );
    eprintln!("SKIP: {what} not installed");
    None
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// uid and gid of an OS user, when it exists.
fn os_user(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// Engines refuse to run as root: as root, run `program` as `user` (who then
/// owns the engine's folder); otherwise as ourselves.
fn command_as(user: &str, program: &Path, home: Option<&Path>) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--", "env"]);
        // runuser resets HOME to the user's own; RabbitMQ reads its cookie there.
        if let Some(h) = home {
            c.arg(format!("HOME={}", h.display()));
        }
        c.arg(program);
        c
    } else {
        let mut c = Command::new(program);
        if let Some(h) = home {
            c.env("HOME", h);
        }
        c
    }
}

fn chown_tree(dir: &Path, user: &str) {
    if !is_root() {
        return;
    }
    let (uid, gid) = os_user(user).unwrap_or_else(|| panic!("no OS user {user}"));
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
    }
}

/// Why a tool run failed: it could not be started or waited for, or it ran
/// and failed (or was killed at its deadline), with what it printed.
#[derive(Debug)]
enum RunError {
    Spawn {
        command: String,
        source: std::io::Error,
    },
    Wait {
        command: String,
        source: std::io::Error,
    },
    Failed {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn { command, source } => write!(f, "spawn {command}: {source}"),
            RunError::Wait { command, source } => write!(f, "wait for {command}: {source}"),
            RunError::Failed {
                command,
                status,
                output,
            } => write!(f, "{command}: {status}\n{output}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Spawn { source, .. } | RunError::Wait { source, .. } => Some(source),
            RunError::Failed { .. } => None,
        }
    }
}

/// Runs a command to completion within `timeout`; its output on failure.
fn run(mut cmd: Command, timeout: Duration) -> Result<(), RunError> {
    let command = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            command: command.clone(),
            source,
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    let out = child.wait_with_output().map_err(|source| RunError::Wait {
        command: command.clone(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RunError::Failed {
            command,
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

pub fn wait_port(port: u16, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    while !port_open(port) {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A PostgreSQL cluster of our own (`initdb` + `pg_ctl`), trust auth.
pub struct Postgres {
    pub port: u16,
    dir: TempDir,
    pg_ctl: PathBuf,
}

#[allow(dead_code, reason = "bus_reconnect.rs starts a RabbitMQ node only")]
impl Postgres {
    /// `initdb` and `pg_ctl`, and the OS user to run them as (as root).
    fn tools() -> Option<(PathBuf, PathBuf)> {
        let bins = postgres_bins();
        let (Some(initdb), Some(pg_ctl)) = (
            find_tool("initdb", &[], &bins),
            find_tool("pg_ctl", &[], &bins),
        ) else {
            return missing("PostgreSQL (initdb, pg_ctl)");
        };
        if is_root() && os_user("postgres").is_none() {
            return missing("the postgres OS user");
        }
        Some((initdb, pg_ctl))
    }

    pub fn start() -> Option<Postgres> {
        let (initdb, pg_ctl) = Self::tools()?;
        // The guard first: whatever fails below, its folder goes.
        let pg = Postgres {
            port: free_port(),
            dir: temp_dir("pg"),
            pg_ctl,
        };
        chown_tree(&pg.dir, "postgres");
        let mut init = command_as("postgres", &initdb, None);
        init.arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(init, Duration::from_secs(60)).unwrap();
        pg.start_server();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut c = command_as("postgres", &self.pg_ctl, None);
        c.arg("-D").arg(self.dir.join("data")).args(args);
        c
    }

    fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let mut c = self.ctl(&["-w", "-t", "30", "-o", &opts, "start"]);
        c.arg("-l").arg(self.dir.join("server.log"));
        if let Err(e) = run(c, Duration::from_secs(40)) {
            panic!("{e}\n{}", log_tail(&self.dir.join("server.log")));
        }
    }

    /// A clean stop (`-m fast`, which drops every client connection), `down`
    /// of outage, and a start on the same port.
    pub fn restart(&self, down: Duration) {
        run(
            self.ctl(&["-w", "-t", "30", "-m", "fast", "stop"]),
            Duration::from_secs(40),
        )
        .unwrap();
        std::thread::sleep(down);
        self.start_server();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = run(
            self.ctl(&["-w", "-t", "20", "-m", "immediate", "stop"]),
            Duration::from_secs(30),
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of our own without persistence: a restart loses every key,
/// as a crashed cache node would.
pub struct Redis {
    pub port: u16,
    dir: TempDir,
    bin: PathBuf,
    child: Mutex<Option<Child>>,
}

#[allow(dead_code, reason = "bus_reconnect.rs starts a RabbitMQ node only")]
impl Redis {
    fn tool() -> Option<PathBuf> {
        find_tool("redis-server", &[], &[]).or_else(|| missing("Redis (redis-server)"))
    }

    pub fn start() -> Option<Redis> {
        let bin = Self::tool()?;
        let r = Redis {
            port: free_port(),
            dir: temp_dir("redis"),
            bin,
            child: Mutex::new(None),
        };
        r.spawn();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        *self.child.lock().unwrap() = Some(child);
        wait_port(self.port, Duration::from_secs(15), "redis-server");
    }

    fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// kill -9, `down` of outage, and a fresh (empty) server on the same port.
    pub fn restart(&self, down: Duration) {
        self.kill();
        std::thread::sleep(down);
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A RabbitMQ node of our own: its own node name, ports, config, database
/// and logs, no plugins; restarted with `stop_app` / `start_app`.
pub struct Rabbit {
    pub port: u16,
    pub node: String,
    dir: TempDir,
    ctl: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Rabbit {
    /// `rabbitmq-server` and `rabbitmqctl`, and the OS user to run them as
    /// (as root).
    fn tools() -> Option<(PathBuf, PathBuf)> {
        // Debian's /usr/sbin wrappers `su` to rabbitmq and reset the
        // environment this node is configured by; the real scripts do not.
        let first = [PathBuf::from("/usr/lib/rabbitmq/bin")];
        let (Some(server), Some(ctl)) = (
            find_tool("rabbitmq-server", &first, &[]),
            find_tool("rabbitmqctl", &first, &[]),
        ) else {
            return missing("RabbitMQ (rabbitmq-server, rabbitmqctl)");
        };
        if is_root() && os_user("rabbitmq").is_none() {
            return missing("the rabbitmq OS user");
        }
        Some((server, ctl))
    }

    pub fn start() -> Option<Rabbit> {
        let (server, ctl) = Self::tools()?;
        let (port, dist) = (free_port(), free_port());
        // The guard first: whatever fails below, its folder goes.
        let r = Rabbit {
            port,
            node: format!("crmtest-{}-{port}@localhost", std::process::id()),
            dir: temp_dir("rabbit"),
            ctl,
            child: Mutex::new(None),
        };
        let (dir, node) = (&*r.dir, r.node.as_str());
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        // Our own (empty) env file, so /etc/rabbitmq/rabbitmq-env.conf's
        // NODENAME does not apply.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let cookie = dir.join(".erlang.cookie");
        std::fs::write(&cookie, format!("CRMTEST{}{port}", std::process::id())).unwrap();
        std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400)).unwrap();
        chown_tree(dir, "rabbitmq");
        let log = std::fs::File::create(dir.join("server.out")).unwrap();
        let mut cmd = command_as("rabbitmq", &server, Some(dir));
        Self::env(&mut cmd, dir, node)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            // The node's own pid, for the drop guard's last resort.
            .env("RABBITMQ_PID_FILE", dir.join("node.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        *r.child.lock().unwrap() = Some(cmd.spawn().unwrap());
        r.wait_up();
        Some(r)
    }

    fn env<'a>(cmd: &'a mut Command, dir: &Path, node: &str) -> &'a mut Command {
        cmd.env("RABBITMQ_NODENAME", node)
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !port_open(self.port) {
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() > deadline {
                panic!(
                    "RabbitMQ node {} did not come up on {}:\n{}",
                    self.node,
                    self.port,
                    log_tail(&self.dir.join("server.out"))
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn rabbitmqctl(&self, args: &[&str], timeout: Duration) -> Result<(), RunError> {
        let mut cmd = command_as("rabbitmq", &self.ctl, Some(&self.dir));
        Self::env(&mut cmd, &self.dir, &self.node)
            .args(["-n", &self.node])
            .args(args);
        run(cmd, timeout)
    }

    /// Stops the broker inside the running node: every client connection is
    /// closed and the port stops listening.
    pub fn stop_app(&self) {
        self.rabbitmqctl(&["stop_app"], Duration::from_secs(60))
            .unwrap();
    }

    /// Starts the broker again and waits for its port.
    pub fn start_app(&self) {
        self.rabbitmqctl(&["start_app"], Duration::from_secs(60))
            .unwrap();
        self.wait_up();
    }

    /// `stop_app`, `down` of outage, `start_app`.
    #[allow(
        dead_code,
        reason = "bus_reconnect.rs stops and starts the node itself"
    )]
    pub fn restart(&self, down: Duration) {
        self.stop_app();
        std::thread::sleep(down);
        self.start_app();
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        let _ = self.rabbitmqctl(&["shutdown"], Duration::from_secs(20));
        // If the node outlived `shutdown`, kill exactly its pid. Never a
        // negative (group) pid: procps-ng 4.0.2's `kill -KILL -PGID` sends
        // kill(-1) (measured with strace), i.e. kills every process.
        let beam = std::fs::read_to_string(self.dir.join("node.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|pid| *pid > 1);
        if let Some(pid) = beam
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// All three, started side by side (RabbitMQ takes the longest).
#[allow(dead_code, reason = "bus_reconnect.rs starts a RabbitMQ node only")]
pub struct Engines {
    pub pg: Postgres,
    pub redis: Redis,
    pub rabbit: Rabbit,
}

#[allow(dead_code, reason = "bus_reconnect.rs starts a RabbitMQ node only")]
impl Engines {
    /// None (skip) when a tool is missing and services are not required.
    pub fn start() -> Option<Engines> {
        // Every tool looked for first: a skip starts (and stops) nothing.
        Postgres::tools()?;
        Redis::tool()?;
        Rabbit::tools()?;
        let rabbit = std::thread::spawn(Rabbit::start);
        let pg = std::thread::spawn(Postgres::start);
        let redis = Redis::start();
        // Both joined before either result is looked at: a panic in one
        // still drops (stops) the other.
        let (pg, rabbit) = (pg.join(), rabbit.join());
        let (pg, rabbit) = (unwind(pg), unwind(rabbit));
        Some(Engines {
            pg: pg?,
            redis: redis?,
            rabbit: rabbit?,
        })
    }
}

fn unwind<T>(r: std::thread::Result<T>) -> T {
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}
