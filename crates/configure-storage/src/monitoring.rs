//! Memory monitoring on every node: a POSIX sh check script, a cron entry from the inventory's
//! interval and threshold (the reference setup: every 5 minutes, warn at 90 %), and the
//! monitoring packages the inventory lists.
//!
//! "Used" is MemTotal − MemAvailable from /proc/meminfo: page cache the kernel can drop is not
//! memory pressure (ZFS's ARC on a Proxmox node would otherwise always look "full").

use common::engine::resources::{File, Packages};
use common::engine::Resource;
use common::inventory::MemoryMonitoring;

pub const SCRIPT_PATH: &str = "/usr/local/bin/homelab-memcheck";
pub const CRON_PATH: &str = "/etc/cron.d/homelab-memcheck";
/// syslog tag of the warnings (`journalctl -t homelab-memcheck`, `grep homelab-memcheck /var/log/syslog`).
pub const TAG: &str = "homelab-memcheck";

/// The check script. The threshold is its argument (the cron line carries the inventory's
/// value), so the script itself never changes with the inventory. `HOMELAB_MEMCHECK_MEMINFO`
/// points it at another meminfo file (tests).
pub fn script() -> String {
    format!(
        r#"#!/bin/sh
# {SCRIPT_PATH} — installed by configure-storage (homelab-iac); changes are overwritten.
# Warns through syslog (tag {TAG}) when used memory (MemTotal - MemAvailable) reaches
# THRESHOLD percent. Usage: homelab-memcheck [THRESHOLD]   (default 90)
set -u
limit=${{1:-90}}
case $limit in
  ''|*[!0-9]*) echo "homelab-memcheck: the threshold must be a whole percentage, got '$limit'" >&2; exit 2 ;;
esac
meminfo=${{HOMELAB_MEMCHECK_MEMINFO:-/proc/meminfo}}
total=
avail=
while read -r key value _unit; do
  case $key in
    MemTotal:) total=$value ;;
    MemAvailable:) avail=$value ;;
  esac
done < "$meminfo"
if [ -z "$total" ] || [ -z "$avail" ] || [ "$total" -le 0 ]; then
  logger -t {TAG} -p user.err "cannot read MemTotal/MemAvailable from $meminfo"
  exit 1
fi
used=$(( (total - avail) * 100 / total ))
if [ "$used" -ge "$limit" ]; then
  logger -t {TAG} -p user.warning "memory used ${{used}}% >= ${{limit}}% (MemTotal ${{total}} kB, MemAvailable ${{avail}} kB)"
fi
exit 0
"#
    )
}

/// `/etc/cron.d/homelab-memcheck` for the inventory's interval and threshold.
pub fn cron(m: &MemoryMonitoring) -> String {
    let every = if m.interval_minutes <= 1 { "*".to_string() } else { format!("*/{}", m.interval_minutes) };
    format!(
        "# {CRON_PATH} — installed by configure-storage from the inventory's [monitoring.memory];\n\
         # changes are overwritten. Every {} minute(s), warn (syslog tag {TAG}) at {} % used memory.\n\
         SHELL=/bin/sh\n\
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         {every} * * * * root {SCRIPT_PATH} {}\n",
        m.interval_minutes, m.threshold_percent, m.threshold_percent
    )
}

/// The node resources for memory monitoring (none without `[monitoring.memory]`).
pub fn resources(m: Option<&MemoryMonitoring>) -> Vec<Box<dyn Resource>> {
    let Some(m) = m else { return Vec::new() };
    let mut v: Vec<Box<dyn Resource>> = Vec::new();
    if !m.packages.is_empty() {
        let names: Vec<&str> = m.packages.iter().map(String::as_str).collect();
        v.push(Box::new(Packages::new(&names)));
    }
    v.push(Box::new(File::new(SCRIPT_PATH, script(), 0o755)));
    v.push(Box::new(File::new(CRON_PATH, cron(m), 0o644)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn mem(interval: u32, threshold: u8) -> MemoryMonitoring {
        MemoryMonitoring { interval_minutes: interval, threshold_percent: threshold, packages: vec![] }
    }

    #[test]
    fn cron_line_follows_the_inventory() {
        let c = cron(&mem(5, 90));
        assert!(c.ends_with("*/5 * * * * root /usr/local/bin/homelab-memcheck 90\n"), "{c}");
        assert!(cron(&mem(1, 80)).contains("\n* * * * * root /usr/local/bin/homelab-memcheck 80\n"));
        let r = resources(Some(&MemoryMonitoring { packages: vec!["sysstat".into()], ..mem(5, 90) }));
        let ids: Vec<String> = r.iter().map(|x| x.id()).collect();
        assert_eq!(ids, ["packages sysstat", "file /usr/local/bin/homelab-memcheck", "file /etc/cron.d/homelab-memcheck"]);
        assert!(resources(None).is_empty());
    }

    /// Run the real script under sh with a fake meminfo and a `logger` stub that records.
    fn run_script(meminfo: &str, args: &[&str]) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let script_path = dir.path().join("memcheck");
        std::fs::write(&script_path, script()).unwrap();
        let info = dir.path().join("meminfo");
        std::fs::write(&info, meminfo).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("logged");
        let stub = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display());
        std::fs::write(bin.join("logger"), stub).unwrap();
        Command::new("chmod").arg("+x").arg(bin.join("logger")).status().unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("sh")
            .arg(&script_path)
            .args(args)
            .env("PATH", path)
            .env("HOMELAB_MEMCHECK_MEMINFO", &info)
            .output()
            .unwrap();
        let logged = if Path::new(&log).exists() { std::fs::read_to_string(&log).unwrap() } else { String::new() };
        (out.status.code().unwrap(), logged, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    const MEMINFO: &str = "MemTotal:       16000000 kB\nMemFree:          500000 kB\nMemAvailable:    1000000 kB\nBuffers:  1 kB\n";

    #[test]
    fn warns_at_or_above_the_threshold_only() {
        // used = 15 000 000 / 16 000 000 = 93 %
        let (code, logged, _) = run_script(MEMINFO, &["90"]);
        assert_eq!(code, 0);
        assert_eq!(logged, "-t homelab-memcheck -p user.warning memory used 93% >= 90% (MemTotal 16000000 kB, MemAvailable 1000000 kB)\n");
        let (code, logged, _) = run_script(MEMINFO, &["94"]);
        assert_eq!((code, logged.as_str()), (0, ""));
        let (code, logged, _) = run_script(MEMINFO, &["93"]);
        assert_eq!(code, 0);
        assert!(logged.contains("93% >= 93%"), "{logged}");
        // default threshold 90
        assert!(run_script(MEMINFO, &[]).1.contains(">= 90%"));
    }

    #[test]
    fn bad_input_is_reported() {
        let (code, _, err) = run_script(MEMINFO, &["ninety"]);
        assert_eq!(code, 2);
        assert!(err.contains("whole percentage"), "{err}");
        let (code, logged, _) = run_script("MemTotal: 100 kB\n", &["90"]);
        assert_eq!(code, 1);
        assert!(logged.contains("cannot read MemTotal/MemAvailable"), "{logged}");
    }

    #[test]
    fn script_is_posix_sh() {
        // dash is Debian's /bin/sh; `sh -n` parses without running.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, script()).unwrap();
        let out = Command::new("sh").arg("-n").arg(&p).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
