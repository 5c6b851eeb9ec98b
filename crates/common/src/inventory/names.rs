//! Shapes of the names the inventory uses: host names, DNS names, Linux user names,
//! environment variables, GitHub users, Proxmox ids, Debian packages, time zones, URLs.
//!
//! Each check returns `Err(reason)`: the reason says what is wrong and what is expected; the
//! caller adds the place (file:line:col).

/// One DNS label: 1..=63 of `[A-Za-z0-9-]`, not starting or ending with `-` (RFC 1123).
pub fn check_dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty; give a name".into());
    }
    if s.len() > 63 {
        return Err(format!("`{s}` is {} characters; shorten it to at most 63 (a DNS label)", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(format!("`{s}` contains `{c}`; use only letters, digits and `-`"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("`{s}` starts or ends with `-`; remove that `-`"));
    }
    Ok(())
}

/// A DNS name (`pool.ntp.org`, `home.arpa`): labels separated by dots, ≤ 253 characters.
pub fn check_dns_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 253 {
        return Err(format!("is {} characters; a DNS name has at most 253", s.len()));
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err(format!("`{s}` has an empty label (a leading, trailing or doubled `.`)"));
        }
        check_dns_label(label).map_err(|e| if label == s { e } else { format!("in `{s}`: {e}") })?;
    }
    Ok(())
}

/// A host's short name (`pve-node1`): one lower-case DNS label, not purely numeric.
/// Proxmox uses it as the node name (`/etc/pve/nodes/<name>`) and the installer refuses a
/// numeric host name.
pub fn check_host_name(s: &str) -> Result<(), String> {
    if s.contains('.') {
        return Err(format!(
            "`{s}` contains `.`; give the short host name (e.g. pve-node1) — the domain comes from cluster.domain"
        ));
    }
    check_dns_label(s)?;
    if s.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("`{s}` has upper-case letters; use lower case ({})", s.to_ascii_lowercase()));
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` is purely numeric; a host name needs a letter"));
    }
    Ok(())
}

/// A host given by IP address or DNS name (NFS server, NTP server).
pub fn check_host_or_ip(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("`{s}` is not a valid IPv4 address"));
    }
    check_dns_name(s).map_err(|e| format!("is neither an IP address nor a DNS name: {e}"))
}

/// Proxmox's `pve-node` format (used for the cluster name): DNS-name characters.
/// `pvecm create` additionally limits the cluster name to 15 characters (pve-cli.md §2.1).
pub fn check_cluster_name(s: &str) -> Result<(), String> {
    check_dns_name(s)?;
    if s.len() > 15 {
        return Err(format!(
            "`{s}` is {} characters; pvecm create allows at most 15 (corosync cluster_name)",
            s.len()
        ));
    }
    Ok(())
}

/// Names that already belong to the system on Debian (base-passwd) and Proxmox: the
/// automation user is created and changed by our tools, so it must be a new, own account.
const SYSTEM_USERS: &[&str] = &[
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "gnats", "nobody", "systemd-network", "systemd-resolve",
    "systemd-timesync", "messagebus", "sshd", "_apt", "postfix", "ceph", "tss", "statd",
];

/// A Linux login name as Debian's adduser accepts it by default:
/// `^[a-z][-a-z0-9_]*$`, at most 32 characters.
pub fn check_linux_user(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 32 {
        return Err(format!("`{s}` is {} characters; Linux user names have at most 32", s.len()));
    }
    let mut chars = s.chars();
    let first = chars.next().unwrap();
    if !first.is_ascii_lowercase() {
        return Err(format!("`{s}` must start with a lower-case letter (a-z)"));
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')) {
        return Err(format!("`{s}` contains `{c}`; use lower-case letters, digits, `-` and `_`"));
    }
    Ok(())
}

/// The automation account: a valid user name that is not root or another system account.
pub fn check_automation_user(s: &str) -> Result<(), String> {
    check_linux_user(s)?;
    if SYSTEM_USERS.contains(&s) {
        return Err(format!(
            "`{s}` is a system account; the automation user must be its own account (e.g. `homelab`) so that its keys and sudo rule can be managed without touching {s}"
        ));
    }
    Ok(())
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn check_env_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(format!("`{s}` must start with a letter or `_`"));
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("`{s}` contains `{c}`; use letters, digits and `_` (e.g. PROXMOX_ROOT_PASSWORD)"));
    }
    Ok(())
}

/// A GitHub user name: 1..=39 of letters, digits and single hyphens, not starting or ending
/// with a hyphen.
pub fn check_github_user(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the GitHub user name is empty (write github:USER)".into());
    }
    if s.len() > 39 {
        return Err(format!("`{s}` is {} characters; GitHub user names have at most 39", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(format!("`{s}` contains `{c}`; GitHub user names have only letters, digits and `-`"));
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Err(format!("`{s}` is not a GitHub user name: hyphens cannot lead, trail or be doubled"));
    }
    Ok(())
}

/// Proxmox storage id (`pve-storage-id`): `^[a-z][a-z0-9\-_.]*[a-z0-9]$`, case-insensitive.
pub fn check_storage_id(s: &str) -> Result<(), String> {
    let ok = s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a Proxmox storage id: start with a letter, end with a letter or digit, use only letters, digits, `-`, `_`, `.` (e.g. nas-backup)"
        ))
    }
}

/// Proxmox config id (`pve-configid`, backup job ids): `^[a-z][a-z0-9_-]+$`, case-insensitive.
pub fn check_config_id(s: &str) -> Result<(), String> {
    let ok = s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a Proxmox job id: at least 2 characters, start with a letter, then letters, digits, `-`, `_` (e.g. weekly-all)"
        ))
    }
}

/// A Debian package name (Debian Policy §5.6.1): `[a-z0-9][a-z0-9+.-]+`.
pub fn check_package_name(s: &str) -> Result<(), String> {
    let ok = s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a Debian package name; use the exact lower-case name without version or spaces, e.g. qemu-guest-agent"
        ))
    }
}

/// A Linux network interface name (NIC or bridge): 1..=15 characters, no `/`, `:` or spaces.
pub fn check_ifname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 15 {
        return Err(format!("`{s}` must be 1..=15 characters (Linux IFNAMSIZ)"));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("`{s}` contains `{c}`; interface names use letters, digits, `-`, `_`, `.`"));
    }
    Ok(())
}

/// Top-level areas of the IANA time zone database.
const TZ_AREAS: &[&str] = &[
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific", "Etc",
];

/// Time zone shape: `UTC`, or `Area/Location[/Sub]` from the IANA database
/// (e.g. `Australia/Brisbane`, `America/Argentina/Buenos_Aires`, `Etc/GMT+10`).
pub fn check_timezone(s: &str) -> Result<(), String> {
    if s == "UTC" {
        return Ok(());
    }
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(format!("`{s}` is not a time zone name: write `UTC` or Area/City, e.g. Australia/Brisbane"));
    }
    if !TZ_AREAS.contains(&parts[0]) {
        return Err(format!("`{s}` is not a time zone name: the area `{}` must be one of {}", parts[0], TZ_AREAS.join(", ")));
    }
    for p in &parts[1..] {
        let ok = p.starts_with(|c: char| c.is_ascii_uppercase())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
        if !ok {
            let hint = if p.contains(' ') { " (spaces are written `_`, e.g. New_York)" } else { "" };
            return Err(format!(
                "`{s}` is not a time zone name: `{p}` must start with a capital letter and use letters, digits, `_`, `-`, `+`{hint}"
            ));
        }
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host, e.g. `http://192.168.10.2:8000`.
pub fn check_http_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("`{s}` must start with http:// or https:// (e.g. http://192.168.10.2:8000)"))?;
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{s}` contains whitespace"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!("`{s}` contains credentials (`user@`); remove them — secrets belong in install.token, never in the URL"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("`{s}` has an unterminated `[` in its host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{s}` has no host"));
    }
    if !authority.starts_with('[') {
        check_host_or_ip(host).map_err(|e| format!("`{s}`: host {e}"))?;
    } else if host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!("`{s}`: `{host}` is not an IPv6 address"));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("`{s}`: port `{p}` must be a number 1..=65535")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert!(check_host_name("pve-node1").is_ok());
        assert!(check_host_name("pve-node1.home.arpa").unwrap_err().contains("short host name"));
        assert!(check_host_name("PVE1").unwrap_err().contains("lower case"));
        assert!(check_host_name("123").unwrap_err().contains("numeric"));
        assert!(check_host_name("-a").is_err());
        assert!(check_host_name("a_b").is_err());
    }

    #[test]
    fn cluster_names() {
        assert!(check_cluster_name("homelab").is_ok());
        assert!(check_cluster_name("a-very-long-cluster").unwrap_err().contains("15"));
        assert!(check_cluster_name("home lab").is_err());
    }

    #[test]
    fn users_and_env() {
        assert!(check_automation_user("homelab").is_ok());
        assert!(check_automation_user("root").unwrap_err().contains("system account"));
        assert!(check_linux_user("Admin").is_err());
        assert!(check_linux_user("9lives").is_err());
        assert!(check_env_name("PI_ROOT_PASSWORD").is_ok());
        assert!(check_env_name("PI-ROOT").is_err());
        assert!(check_env_name("1X").is_err());
    }

    #[test]
    fn github_users() {
        assert!(check_github_user("octocat").is_ok());
        assert!(check_github_user("octo-cat").is_ok());
        assert!(check_github_user("-octo").is_err());
        assert!(check_github_user("oct--o").is_err());
        assert!(check_github_user("octo_cat").is_err());
        assert!(check_github_user(&"a".repeat(40)).is_err());
    }

    #[test]
    fn ids() {
        assert!(check_storage_id("nas-backup").is_ok());
        assert!(check_storage_id("nas.b_1").is_ok());
        assert!(check_storage_id("1nas").is_err());
        assert!(check_storage_id("nas-").is_err());
        assert!(check_config_id("weekly-all").is_ok());
        assert!(check_config_id("weekly.all").is_err());
        assert!(check_package_name("qemu-guest-agent").is_ok());
        assert!(check_package_name("vim=2:9").is_err());
    }

    #[test]
    fn timezones() {
        assert!(check_timezone("UTC").is_ok());
        assert!(check_timezone("Australia/Brisbane").is_ok());
        assert!(check_timezone("America/Argentina/Buenos_Aires").is_ok());
        assert!(check_timezone("Etc/GMT+10").is_ok());
        assert!(check_timezone("Brisbane").is_err());
        assert!(check_timezone("Mars/Olympus").is_err());
        assert!(check_timezone("America/New York").unwrap_err().contains("New_York"));
    }

    #[test]
    fn urls() {
        assert!(check_http_url("http://192.168.10.2:8000").is_ok());
        assert!(check_http_url("https://answers.home.arpa/pve").is_ok());
        assert!(check_http_url("http://[fd00::2]:8000/").is_ok());
        assert!(check_http_url("ftp://x").is_err());
        assert!(check_http_url("http://:8000").is_err());
        assert!(check_http_url("http://h:99999").is_err());
        assert!(check_http_url("http://u:p@h").unwrap_err().contains("credentials"));
    }
}
