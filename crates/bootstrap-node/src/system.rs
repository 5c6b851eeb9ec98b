//! Small host-identity files: gai.conf IPv4 precedence, timezone, chrony sources.

use common::baseline::text::{set_block, MARKERS};

pub const GAI_CONF: &str = "/etc/gai.conf";
/// glibc: with any `precedence` line the built-in table is replaced; this single line is the
/// documented "prefer IPv4" setting (the commented example in Debian's gai.conf).
pub const GAI_PRECEDENCE: &str = "precedence ::ffff:0:0/96  100";

/// `/etc/gai.conf` with our block (the rest of the file, usually all comments, untouched).
pub fn gai_conf(current: &str) -> String {
    set_block(current, MARKERS, GAI_PRECEDENCE, |_| false)
}

pub const LOCALTIME: &str = "/etc/localtime";
pub const TIMEZONE_FILE: &str = "/etc/timezone";

pub fn zoneinfo(tz: &str) -> String {
    format!("/usr/share/zoneinfo/{tz}")
}

/// Debian's chrony reads `*.sources` from here (`sourcedir /etc/chrony/sources.d` in the
/// packaged chrony.conf); a file of our own survives package upgrades of chrony.conf.
pub const CHRONY_DIR: &str = "/etc/chrony/sources.d";
pub const CHRONY_SOURCES: &str = "/etc/chrony/sources.d/homelab-iac.sources";

/// The chrony sources file, or `None` when the inventory names no NTP server (then the file
/// must be absent and chrony keeps its packaged pool).
pub fn chrony_sources(servers: &[String]) -> Option<String> {
    if servers.is_empty() {
        return None;
    }
    let mut s = String::from("# Managed by homelab-iac (bootstrap-node): NTP servers from the inventory.\n");
    for srv in servers {
        s.push_str(&format!("server {srv} iburst\n"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gai_block_added_to_debian_file() {
        let debian = "# Configuration for getaddrinfo(3).\n#\n#precedence ::ffff:0:0/96  100\n";
        let out = gai_conf(debian);
        assert_eq!(out, format!("{debian}\n{}\n{GAI_PRECEDENCE}\n{}\n", MARKERS.begin, MARKERS.end));
        assert_eq!(gai_conf(&out), out);
    }

    #[test]
    fn chrony_file_lists_servers() {
        assert_eq!(chrony_sources(&[]), None);
        let s = chrony_sources(&["10.231.10.1".into(), "ntp.example".into()]).unwrap();
        assert!(s.ends_with("\nserver 10.231.10.1 iburst\nserver ntp.example iburst\n"), "{s}");
        assert_eq!(zoneinfo("Australia/Brisbane"), "/usr/share/zoneinfo/Australia/Brisbane");
    }
}
