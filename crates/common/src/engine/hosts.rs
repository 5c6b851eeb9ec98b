//! Working several hosts at once: one thread per host (ssh2 is blocking), reports returned
//! in input order so output stays grouped per host.

use super::report::HostReport;
use crate::ssh::{Session, SshTarget};
use std::time::Instant;

/// Run `f` for every host on its own thread; results in the order of `hosts`. Nothing is
/// printed here: render the collected reports afterwards, so host output never interleaves.
/// A panicking closure becomes a failed report instead of taking the run down.
pub fn for_each_host<T: Sync, F: Fn(&T) -> HostReport + Sync>(hosts: &[T], f: F) -> Vec<HostReport> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = hosts.iter().map(|h| scope.spawn(|| f(h))).collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, handle)| {
                handle.join().unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    HostReport::failed(format!("host #{}", i + 1), format!("internal error (panic): {why}"))
                })
            })
            .collect()
    })
}

/// Connect to `target` and run `f` with the session. A connection failure becomes a failed
/// report naming the host; a first-contact pin becomes a note; `round_trips` is the
/// session's total and `elapsed` includes connecting.
pub fn with_session(target: &SshTarget, f: impl FnOnce(&Session) -> HostReport) -> HostReport {
    let started = Instant::now();
    let session = match Session::connect(target) {
        Ok(s) => s,
        Err(e) => {
            let mut r = HostReport::failed(&target.name, e);
            r.elapsed = started.elapsed();
            return r;
        }
    };
    let mut report = f(&session);
    if report.host.is_empty() {
        report.host = target.name.clone();
    }
    if let Some(pin) = session.new_pin() {
        report.notes.insert(0, pin.to_string());
    }
    report.round_trips = session.round_trips();
    report.connect_time = session.connect_time();
    report.elapsed = started.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_and_panics_are_contained() {
        let hosts = vec!["a", "b", "c", "d"];
        let reports = for_each_host(&hosts, |h| {
            if *h == "c" {
                panic!("boom");
            }
            HostReport::new(*h)
        });
        let names: Vec<&str> = reports.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "host #3", "d"]);
        assert!(reports[2].error.as_deref().unwrap().contains("boom"));
    }
}
