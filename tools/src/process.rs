//! `crm` processes driven from outside: a role started with an environment on
//! a free port, `/healthz` polled until it answers, one-shot CLI commands run
//! with their output captured, SIGTERM and a wait for the exit, and a kill
//! when the handle is dropped. The bench and the black-box tests share it.
//!
//! Blocking std code only, so a test can use it with or without a runtime;
//! async callers run [`Process::wait_healthy`] on a blocking thread.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no free port: {0}")]
    Port(#[source] std::io::Error),
    #[error("cannot create the log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spawn crm {args}: {source}")]
    Spawn {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("crm {args}: {source}")]
    Io {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{base} did not become healthy")]
    Unhealthy { base: String },
    #[error("{base} exited with {status} before it became healthy")]
    Exited {
        base: String,
        status: std::process::ExitStatus,
    },
    #[error("{args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

/// A port nobody listens on right now (the OS picks it; a race with another
/// process binding it in between is possible but has not been seen).
pub fn free_port() -> Result<u16, ProcessError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(ProcessError::Port)
}

/// Where a started process's stderr goes.
#[derive(Debug, Clone, Default)]
pub enum Log {
    #[default]
    Discard,
    Inherit,
    /// `<dir>/<first argument>-<port>.log`, kept after the process ends.
    Dir(PathBuf),
}

/// How `crm` is started: which executable, with what environment, logging
/// where. Variables apply in the order given (a later one wins); a started
/// role gets `CRM_BIND` last.
#[derive(Debug, Clone)]
pub struct Launcher {
    exe: PathBuf,
    env: Vec<(String, String)>,
    clean_env: bool,
    log: Log,
}

/// What a one-shot command printed, and its exit code (None when a signal
/// ended it).
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Launcher {
    pub fn new(exe: impl Into<PathBuf>) -> Self {
        Self {
            exe: exe.into(),
            env: Vec::new(),
            clean_env: false,
            log: Log::Discard,
        }
    }

    /// Starts from an empty environment but `PATH`, so the caller's own
    /// `CRM_*` settings cannot leak into the process.
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn log(mut self, log: Log) -> Self {
        self.log = log;
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args);
        if self.clean_env {
            cmd.env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts `crm <args>` listening on a free port; stdin and stdout are
    /// closed, stderr goes where [`Launcher::log`] says.
    pub fn spawn(&self, args: &[&str]) -> Result<Process, ProcessError> {
        let port = free_port()?;
        let stderr = match &self.log {
            Log::Discard => Stdio::null(),
            Log::Inherit => Stdio::inherit(),
            Log::Dir(dir) => {
                let name = args.first().copied().unwrap_or("crm");
                let path = dir.join(format!("{name}-{port}.log"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::File::create(&path))
                    .map_err(|source| ProcessError::Log { path, source })?
                    .into()
            }
        };
        let child = self
            .command(args)
            .env("CRM_BIND", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                args: args.join(" "),
                source,
            })?;
        Ok(Process {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Runs `crm <args>` to its end with `stdin` (or nothing) on its input.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, ProcessError> {
        let io = |source| ProcessError::Io {
            args: args.join(" "),
            source,
        };
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                args: args.join(" "),
                source,
            })?;
        // Dropped before the wait: the command sees the end of its input.
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
            pipe.write_all(text.as_bytes()).map_err(io)?;
        }
        let out = child.wait_with_output().map_err(io)?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `crm token create <name>`: a new full-scope service token.
    pub fn create_token(&self, name: &str) -> Result<String, ProcessError> {
        let out = self.run(&["token", "create", name], None)?;
        if out.code != Some(0) {
            return Err(ProcessError::Failed {
                args: "token create".into(),
                stderr: out.stderr,
            });
        }
        Ok(out.stdout.trim().to_string())
    }
}

/// A started `crm`; killed (SIGKILL) when dropped unless already stopped.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    base: String,
}

impl Process {
    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Polls `/healthz` until it answers 2xx; fails early if the process exits.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<(), ProcessError> {
        let url = format!("{}/healthz", self.base);
        let deadline = Instant::now() + timeout;
        loop {
            if get_status(&url).is_ok_and(|s| (200..300).contains(&s)) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(ProcessError::Exited {
                    base: self.base.clone(),
                    status,
                });
            }
            if Instant::now() >= deadline {
                return Err(ProcessError::Unhealthy {
                    base: self.base.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits however long the process takes to flush what it
    /// acknowledged; its exit code (None if a signal ended it).
    pub fn terminate(&mut self) -> Option<i32> {
        self.stop(None)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` (None then).
    pub fn terminate_within(&mut self, grace: Duration) -> Option<i32> {
        self.stop(Some(grace))
    }

    fn stop(&mut self, grace: Option<Duration>) -> Option<i32> {
        let mut child = self.child.take()?;
        // `kill` the command: the workspace forbids the unsafe a libc call needs.
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            let _ = child.kill();
        }
        let Some(grace) = grace else {
            return child.wait().ok().and_then(|s| s.code());
        };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// How the process ended, if it has; None while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL and reap: a crash, as far as the process can tell.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Status code of a plain `GET http://host:port/path`, std only (no runtime
/// needed, and no client pool that outlives a restarted process).
fn get_status(url: &str) -> std::io::Result<u16> {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    Ok(buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn status_of_a_plain_get() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // The request may arrive in several writes: read to its end.
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-request");
                req.extend_from_slice(&buf[..n]);
            }
            assert!(String::from_utf8_lossy(&req).starts_with("GET /healthz HTTP/1.1"));
            conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        });
        assert_eq!(
            get_status(&format!("http://127.0.0.1:{port}/healthz")).unwrap(),
            204
        );
        server.join().unwrap();
    }

    #[test]
    fn a_process_that_exits_is_not_waited_on_until_the_timeout() {
        let mut p = Launcher::new("true").spawn(&[]).unwrap();
        let started = Instant::now();
        let err = p.wait_healthy(Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, ProcessError::Exited { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn run_captures_output_and_feeds_stdin() {
        let out = Launcher::new("sh")
            .clean_env()
            .env("GREETING", "hi")
            .run(
                &["-c", "cat; echo \" $GREETING\"; echo oops >&2; exit 3"],
                Some("in"),
            )
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "in hi\n");
        assert_eq!(out.stderr, "oops\n");
    }

    #[test]
    fn terminate_returns_the_exit_code() {
        let mut p = Launcher::new("sleep").spawn(&["30"]).unwrap();
        // Killed by SIGTERM: no exit code, and well before the 30 s.
        let started = Instant::now();
        assert_eq!(p.terminate_within(Duration::from_secs(10)), None);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(p.terminate(), None, "already stopped");
    }
}
