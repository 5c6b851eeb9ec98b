//! `getent passwd [NAME]` — user accounts, one `name:pw:uid:gid:gecos:home:shell` line each
//! (passwd(5)). `getent passwd NAME` exits 2 with no output when the user does not exist;
//! callers treat that exit status as "absent" and never reach this parser.

use super::error::{Layout, Result};
use super::text::numbered_lines;
use serde::Serialize;

pub const GETENT_PASSWD: Layout = Layout { what: "`getent passwd` output", doc: "passwd(5)" };

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// GECOS / full-name field, verbatim (may contain commas).
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// Parse one passwd line.
pub fn parse_passwd_line(line: &str) -> Result<PasswdEntry> {
    parse_numbered(1, line.trim_end_matches(['\n', '\r']))
}

/// Parse every line of `getent passwd` output.
pub fn parse_getent_passwd(text: &str) -> Result<Vec<PasswdEntry>> {
    numbered_lines(text)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| parse_numbered(n, l))
        .collect()
}

fn parse_numbered(n: usize, line: &str) -> Result<PasswdEntry> {
    let l = GETENT_PASSWD;
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _pw, uid, gid, gecos, home, shell] = fields.as_slice() else {
        return Err(l.err_at(n, line, format!("expected 7 `:`-separated fields, got {}", fields.len())));
    };
    if name.is_empty() {
        return Err(l.err_at(n, line, "empty user name"));
    }
    let num = |v: &str, what: &str| {
        v.parse::<u32>().map_err(|_| l.err_at(n, line, format!("expected a numeric {what}, got {v:?}")))
    };
    Ok(PasswdEntry {
        name: name.to_string(),
        uid: num(uid, "uid")?,
        gid: num(gid, "gid")?,
        gecos: gecos.to_string(),
        home: home.to_string(),
        shell: shell.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let e = parse_passwd_line("homelab:x:1000:1000:Homelab automation,,,:/home/homelab:/bin/bash\n").unwrap();
        assert_eq!(
            e,
            PasswdEntry {
                name: "homelab".into(),
                uid: 1000,
                gid: 1000,
                gecos: "Homelab automation,,,".into(),
                home: "/home/homelab".into(),
                shell: "/bin/bash".into()
            }
        );
        let all = parse_getent_passwd("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].uid, 65534);
        assert_eq!(parse_getent_passwd("").unwrap(), vec![]);
    }

    #[test]
    fn errors() {
        let e = parse_passwd_line("root:x:0:0:root:/root").unwrap_err();
        assert!(e.message.contains("7"), "{e}");
        let e = parse_getent_passwd("root:x:0:0:root:/root:/bin/bash\nbad:x:u:0:::\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(parse_passwd_line(":x:0:0:::").is_err());
    }
}
