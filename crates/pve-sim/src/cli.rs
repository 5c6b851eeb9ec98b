//! PVE-style command line handling: option parsing like `PVE::JSONSchema::get_options`
//! (Getopt::Long), the error shapes of `PVE::Exception`/`RESTHandler::cli_handler`, and exit codes
//! (pve-cli.md §1.1).

use std::collections::BTreeMap;
use std::fmt;

/// An error that ends the applet with a PVE-shaped message and exit code.
#[derive(Debug)]
pub enum Fail {
    /// `die "msg\n"` from Perl: message on stderr, exit 255 (pve-cli.md §1.1).
    Die(String),
    /// `400 Parameter verification failed.` + `param: message` lines + usage (pve-cli.md §1.1).
    Param { errors: Vec<(String, String)>, usage: String },
    /// Free-form message (may be empty) and explicit exit code.
    Exit { code: i32, stderr: String },
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Die(m) => write!(f, "{m}"),
            Fail::Param { errors, usage } => {
                writeln!(f, "400 Parameter verification failed.")?;
                for (p, m) in errors {
                    writeln!(f, "{p}: {m}")?;
                }
                write!(f, "\n{usage}")
            }
            Fail::Exit { stderr, .. } => write!(f, "{stderr}"),
        }
    }
}

impl std::error::Error for Fail {}

impl Fail {
    pub fn code(&self) -> i32 {
        match self {
            Fail::Die(_) | Fail::Param { .. } => 255,
            Fail::Exit { code, .. } => *code,
        }
    }
}

/// `die "msg\n"`.
pub fn die(msg: impl Into<String>) -> anyhow::Error {
    Fail::Die(msg.into()).into()
}

/// A single-parameter 400 error.
pub fn param_err(param: &str, msg: impl Into<String>, usage: &str) -> anyhow::Error {
    Fail::Param { errors: vec![(param.to_string(), msg.into())], usage: usage.to_string() }.into()
}

/// Print an applet error the way the Perl CLIs do and return the exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    if let Some(f) = e.downcast_ref::<Fail>() {
        let s = f.to_string();
        if !s.is_empty() {
            eprint!("{s}");
            if !s.ends_with('\n') {
                eprintln!();
            }
        }
        return f.code();
    }
    eprintln!("{e:#}");
    255
}

/// Kinds of options (booleans may omit their value, like Getopt `name:s` in PVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
}

/// Parsed command line: positional arguments and `--opt` values (last wins; repeatable options
/// keep all values in `multi`).
#[derive(Debug, Default, Clone)]
pub struct Args {
    pub pos: Vec<String>,
    pub opts: BTreeMap<String, String>,
    pub multi: BTreeMap<String, Vec<String>>,
}

impl Args {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }

    pub fn has(&self, k: &str) -> bool {
        self.opts.contains_key(k)
    }

    /// Boolean option value (absent → false).
    pub fn flag(&self, k: &str) -> bool {
        self.get(k).map(truthy).unwrap_or(false)
    }
}

/// Perl-ish boolean parsing of PVE (`1|0|yes|no|on|off|true|false`).
pub fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "on" | "true")
}

fn is_bool_word(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "0" | "yes" | "no" | "on" | "off" | "true" | "false")
}

/// Option spec: name and kind. A spec named `*` accepts any option (pvesh passes API params).
pub type Spec<'a> = &'a [(&'a str, Kind)];

/// Parse like Getopt::Long as PVE configures it: `--name value`, `--name=value`, `-name value`;
/// booleans may omit the value. Unknown option → `Unknown option: X` + `400 unable to parse option`.
/// `npos` = exact number of positional parameters expected (None = any).
pub fn parse(args: &[String], spec: Spec, npos: Option<usize>, usage: &str) -> anyhow::Result<Args> {
    let any = spec.iter().any(|(n, _)| *n == "*");
    let mut out = Args::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.pos.extend(args[i..].iter().cloned());
            break;
        }
        let name_val = a.strip_prefix("--").or_else(|| a.strip_prefix('-').filter(|r| !r.is_empty() && !r.starts_with(|c: char| c.is_ascii_digit())));
        let Some(nv) = name_val else {
            out.pos.push(a.clone());
            continue;
        };
        let (name, inline) = match nv.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (nv.to_string(), None),
        };
        let kind = match spec.iter().find(|(n, _)| *n == name) {
            Some((_, k)) => Some(*k),
            None if any => None,
            None => {
                return Err(Fail::Exit {
                    code: 255,
                    stderr: format!("Unknown option: {name}\n400 unable to parse option\n{usage}"),
                }
                .into())
            }
        };
        let value = match inline {
            Some(v) => v,
            None => {
                let next = args.get(i);
                match kind {
                    Some(Kind::Bool) => match next {
                        Some(v) if is_bool_word(v) => {
                            i += 1;
                            v.clone()
                        }
                        _ => "1".to_string(),
                    },
                    None => match next {
                        Some(v) if !v.starts_with("--") => {
                            i += 1;
                            v.clone()
                        }
                        _ => "1".to_string(),
                    },
                    Some(_) => match next {
                        Some(v) => {
                            i += 1;
                            v.clone()
                        }
                        None => {
                            return Err(Fail::Exit {
                                code: 255,
                                stderr: format!("Option {name} requires an argument\n400 unable to parse option\n{usage}"),
                            }
                            .into())
                        }
                    },
                }
            }
        };
        if kind == Some(Kind::Int) && value.parse::<i64>().is_err() {
            return Err(param_err(&name, format!("type check ('integer') failed - got '{value}'"), usage));
        }
        if kind == Some(Kind::Bool) && !is_bool_word(&value) {
            return Err(param_err(&name, format!("type check ('boolean') failed - got '{value}'"), usage));
        }
        out.multi.entry(name.clone()).or_default().push(value.clone());
        out.opts.insert(name, value);
    }
    if let Some(n) = npos {
        if out.pos.len() < n {
            return Err(Fail::Exit { code: 255, stderr: format!("400 not enough arguments\n{usage}") }.into());
        }
        if out.pos.len() > n {
            return Err(Fail::Exit { code: 255, stderr: format!("400 too many arguments\n{usage}") }.into());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_and_positionals() {
        let spec: Spec = &[("link0", Kind::Str), ("force", Kind::Bool), ("votes", Kind::Int)];
        let a = parse(&v(&["pvecl", "--link0", "10.0.0.1,priority=5", "--force", "--votes=2"]), spec, Some(1), "u").unwrap();
        assert_eq!(a.pos, vec!["pvecl"]);
        assert_eq!(a.get("link0"), Some("10.0.0.1,priority=5"));
        assert!(a.flag("force"));
        assert_eq!(a.get("votes"), Some("2"));
        let a = parse(&v(&["--force", "0", "x"]), spec, Some(1), "u").unwrap();
        assert!(!a.flag("force"));
    }

    #[test]
    fn unknown_option_is_reported_like_getopt() {
        let err = parse(&v(&["--server", "x"]), &[("content", Kind::Str)], None, "USAGE").unwrap_err();
        let f = err.downcast_ref::<Fail>().unwrap();
        assert_eq!(f.to_string(), "Unknown option: server\n400 unable to parse option\nUSAGE");
        assert_ne!(f.code(), 0);
    }

    #[test]
    fn param_error_layout() {
        let e = param_err("clustername", "value may only be 15 characters long", "pvecm create <clustername> [OPTIONS]\n");
        assert_eq!(
            e.to_string(),
            "400 Parameter verification failed.\nclustername: value may only be 15 characters long\n\npvecm create <clustername> [OPTIONS]\n"
        );
    }
}
