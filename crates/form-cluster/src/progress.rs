//! Progress on stderr while form-cluster changes and waits: one line per step, and on a
//! terminal a live "waiting for …" line. Nothing in `--json` or `-q` mode.
//!
//! Waiting is always polling a condition with a deadline (never a fixed sleep): the poll
//! interval only spaces out the remote round trips.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Print step lines.
    pub enabled: bool,
    /// Redraw a live waiting line (stderr is a terminal).
    pub live: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Progress { enabled, live: enabled && std::io::stderr().is_terminal() }
    }
    pub fn off() -> Self {
        Progress { enabled: false, live: false }
    }

    /// `==> host: what`
    pub fn step(&self, host: &str, what: &str) {
        if self.enabled {
            eprintln!("==> {host}: {}", common::secret::redact(what));
        }
    }

    /// An indented detail line under the current step.
    pub fn detail(&self, what: &str) {
        if self.enabled {
            for l in what.lines() {
                eprintln!("    {}", common::secret::redact(l));
            }
        }
    }

    fn live_line(&self, text: &str) {
        if self.live {
            let mut e = std::io::stderr();
            let _ = write!(e, "\r\x1b[2K    {text}");
            let _ = e.flush();
        }
    }
    fn end_live(&self) {
        if self.live {
            let mut e = std::io::stderr();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
        }
    }
}

/// What a poll says.
pub enum Poll<T> {
    Done(T),
    /// Not yet: a short description of the current state for the progress line.
    Pending(String),
}

/// Poll `check` until it is done or `timeout` passes. `Err` on timeout carries the last state.
pub fn wait_for<T>(
    progress: &Progress,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<Poll<T>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let interval = Duration::from_millis(400);
    let mut last: String;
    if progress.enabled && !progress.live {
        eprintln!("    waiting for {what} (up to {} s)", timeout.as_secs());
    }
    loop {
        let round = Instant::now();
        match check() {
            Ok(Poll::Done(v)) => {
                progress.end_live();
                if progress.enabled {
                    eprintln!("    {what}: ok after {:.1} s", started.elapsed().as_secs_f64());
                }
                return Ok(v);
            }
            Ok(Poll::Pending(state)) => last = state,
            Err(e) => last = format!("{e:#}"),
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            progress.end_live();
            anyhow::bail!("timed out after {} s waiting for {what}; last state: {last}", timeout.as_secs());
        }
        progress.live_line(&format!("waiting for {what}: {:.0} s — {last}", elapsed.as_secs_f64()));
        if let Some(rest) = interval.checked_sub(round.elapsed()) {
            std::thread::sleep(rest.min(timeout.saturating_sub(elapsed)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_when_done_and_reports_last_state_on_timeout() {
        let mut n = 0;
        let v = wait_for(&Progress::off(), "x", Duration::from_secs(10), || {
            n += 1;
            Ok(if n >= 2 { Poll::Done(n) } else { Poll::Pending(format!("n={n}")) })
        })
        .unwrap();
        assert_eq!(v, 2);
        let e = wait_for::<()>(&Progress::off(), "quorum", Duration::from_millis(10), || {
            Ok(Poll::Pending("Total votes 1 of 3".into()))
        })
        .unwrap_err();
        assert!(format!("{e}").contains("waiting for quorum; last state: Total votes 1 of 3"), "{e}");
    }
}
