//! External commands a compose runs for a long time (Pungi, its validator, post scripts, git):
//! each in a process group of its own, its output in log files, and stopped together with
//! every process it started when it runs past its timeout or the compose is cancelled.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use thiserror::Error;

use crate::cancel::{Cancel, Cancelled};

/// How often a running command is checked.
const POLL: Duration = Duration::from_millis(100);

/// How long a stopped command's processes get to exit after `SIGTERM` before `SIGKILL`.
const GRACE: Duration = Duration::from_secs(5);

/// Why a command did not succeed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// It could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A log file could not be opened.
    #[error("cannot open {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its timeout and was killed.
    #[error("{what} has taken more time than allowed by configuration ({seconds} seconds)")]
    TimedOut {
        /// What ran (`Compose`, `The post script`, ...).
        what: String,
        /// The timeout.
        seconds: u64,
    },
    /// The compose was cancelled, and the command killed.
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// It exited unsuccessfully.
    #[error("{command} failed: {status}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// Waiting for it failed.
    #[error("cannot wait for {program}: {source}")]
    Wait {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExternalCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Its working directory (`None`: the worker's).
    pub cwd: Option<PathBuf>,
    /// Variables added to the worker's environment.
    pub env: Vec<(String, String)>,
    /// The file its standard output is appended to (`None`: discarded).
    pub stdout: Option<PathBuf>,
    /// The file its standard error is appended to (`None`: discarded).
    pub stderr: Option<PathBuf>,
    /// What the timeout message calls it.
    pub what: String,
    /// How long it may run.
    pub timeout: Duration,
}

impl ExternalCommand {
    /// `argv`, run in the worker's directory with its output discarded, for `timeout`.
    pub fn new(argv: Vec<String>, what: &str, timeout: Duration) -> ExternalCommand {
        ExternalCommand {
            argv,
            cwd: None,
            env: Vec::new(),
            stdout: None,
            stderr: None,
            what: what.to_owned(),
            timeout,
        }
    }

    /// The command line, as logs and errors show it.
    pub fn line(&self) -> String {
        self.argv.join(" ")
    }

    fn output(path: Option<&PathBuf>) -> Result<Stdio, CommandError> {
        match path {
            None => Ok(Stdio::null()),
            Some(path) => OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .map_err(|source| CommandError::Log {
                    path: path.clone(),
                    source,
                }),
        }
    }

    /// Runs the command to its end, stopping it (and everything it started) when `cancel`
    /// says the compose must stop or the timeout passes.
    pub fn run(&self, cancel: &Cancel) -> Result<(), CommandError> {
        let program = self.argv.first().cloned().unwrap_or_default();
        let mut command = std::process::Command::new(&program);
        command
            .args(&self.argv[1.min(self.argv.len())..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Self::output(self.stdout.as_ref())?)
            .stderr(Self::output(self.stderr.as_ref())?);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|source| CommandError::Spawn {
            program: program.clone(),
            source,
        })?;
        let status = self.supervise(&mut child, cancel, &program)?;
        if status.success() {
            Ok(())
        } else {
            Err(CommandError::Failed {
                command: self.line(),
                status,
            })
        }
    }

    fn supervise(
        &self,
        child: &mut Child,
        cancel: &Cancel,
        program: &str,
    ) -> Result<ExitStatus, CommandError> {
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let deadline = Instant::now() + self.timeout;
        let wait_error = |source| CommandError::Wait {
            program: program.to_owned(),
            source,
        };
        loop {
            if let Some(status) = child.try_wait().map_err(wait_error)? {
                // Whatever it left running in its group goes with it.
                stop_group(group, child);
                return Ok(status);
            }
            let stop = if let Err(cancelled) = cancel.check() {
                Some(CommandError::Cancelled(cancelled))
            } else if Instant::now() >= deadline {
                Some(CommandError::TimedOut {
                    what: self.what.clone(),
                    seconds: self.timeout.as_secs(),
                })
            } else {
                None
            };
            if let Some(error) = stop {
                tracing::warn!(command = %self.line(), error = %error, "stopping a command");
                stop_group(group, child);
                return Err(error);
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Whether any process of `group` is still alive.
fn group_alive(group: Pid) -> bool {
    !matches!(killpg(group, None), Err(Errno::ESRCH))
}

/// Stops every process of `group` (politely first), and reaps its leader.
fn stop_group(group: Pid, leader: &mut Child) {
    if !group_alive(group) {
        let _ = leader.try_wait();
        return;
    }
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        let _ = leader.try_wait();
        if !group_alive(group) {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = leader.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> ExternalCommand {
        ExternalCommand::new(
            vec!["sh".into(), "-c".into(), script.into()],
            "The test",
            timeout,
        )
    }

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    }

    #[test]
    fn output_goes_to_the_logs_and_failures_say_how() {
        let dir = std::env::temp_dir().join(format!("odcs-cmd-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut command = sh("echo out; echo err >&2; exit 3", Duration::from_secs(30));
        command.stdout = Some(dir.join("out.log"));
        command.stderr = Some(dir.join("err.log"));
        let error = command.run(&Cancel::never()).expect_err("exit 3");
        assert!(error.to_string().contains("exit status: 3"), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.join("out.log")).expect("out"),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("err.log")).expect("err"),
            "err\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_timeout_kills_the_command_and_its_children() {
        let dir = std::env::temp_dir().join(format!("odcs-cmd-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pids = dir.join("pids");
        let command = sh(
            &format!(
                "sleep 300 & echo $! > {0}; sh -c 'sleep 300' & echo $! >> {0}; wait",
                pids.display()
            ),
            Duration::from_secs(1),
        );
        let error = command.run(&Cancel::never()).expect_err("timeout");
        assert_eq!(
            error.to_string(),
            "The test has taken more time than allowed by configuration (1 seconds)"
        );
        let pids = std::fs::read_to_string(&pids).expect("pids");
        for pid in pids.split_whitespace() {
            let pid: i32 = pid.parse().expect("pid");
            assert!(!alive(pid), "process {pid} outlived the command");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cancelled_compose_kills_its_command() {
        let cancel = Cancel::never();
        let lose = cancel.clone();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            lose.lose_lease();
        });
        let error = sh("sleep 300", Duration::from_secs(600))
            .run(&cancel)
            .expect_err("cancelled");
        assert!(matches!(
            error,
            CommandError::Cancelled(Cancelled::LeaseLost)
        ));
        killer.join().expect("join");
    }
}
