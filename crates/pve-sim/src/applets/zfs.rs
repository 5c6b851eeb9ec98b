//! `zfs` and `zpool` on the simulated pool state (model/zfs.rs), with the real tools' layouts:
//! space-aligned tables with a header, or tab-separated without (`-H`), raw numbers with `-p`.

use anyhow::Result;

use crate::model::zfs::{parse_size, ZfsState, ALL_ORDER};
use crate::render::{table, zfs_nicenum};

fn err(msg: &str, code: i32) -> Result<i32> {
    eprintln!("{msg}");
    Ok(code)
}

struct Flags {
    scripted: bool,
    parsable: bool,
    recursive: bool,
    depth: Option<usize>,
    fields: Option<Vec<String>>,
    types: Option<Vec<String>>,
    sources: Option<Vec<String>>,
    sort: Option<(String, bool)>,
    rest: Vec<String>,
}

/// Parse zfs-style short flags (`-rHp`, `-o a,b`, `-t t`, `-s src`, `-d N`).
fn flags(args: &[String], with_value: &str) -> Flags {
    let mut f = Flags {
        scripted: false,
        parsable: false,
        recursive: false,
        depth: None,
        fields: None,
        types: None,
        sources: None,
        sort: None,
        rest: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            f.rest.extend(args[i..].iter().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                if with_value.contains(c) {
                    let val = if j < chars.len() {
                        let v: String = chars[j..].iter().collect();
                        j = chars.len();
                        v
                    } else {
                        i += 1;
                        args.get(i - 1).cloned().unwrap_or_default()
                    };
                    let list = || val.split(',').map(str::to_string).collect::<Vec<_>>();
                    match c {
                        'o' => f.fields = Some(list()),
                        't' => f.types = Some(list()),
                        's' => {
                            if with_value.contains('S') {
                                f.sort = Some((val.clone(), false))
                            } else {
                                f.sources = Some(list())
                            }
                        }
                        'S' => f.sort = Some((val.clone(), true)),
                        'd' => {
                            f.depth = val.parse().ok();
                            f.recursive = true;
                        }
                        _ => {}
                    }
                } else {
                    match c {
                        'H' => f.scripted = true,
                        'p' => f.parsable = true,
                        'r' => f.recursive = true,
                        _ => {}
                    }
                }
            }
        } else {
            f.rest.push(a.clone());
        }
    }
    f
}

fn selected(st: &ZfsState, f: &Flags, default_types: &[&str]) -> Result<Vec<String>, String> {
    let types: Vec<String> = match &f.types {
        Some(t) if t.iter().any(|x| x == "all") => vec!["filesystem".into(), "volume".into(), "snapshot".into()],
        Some(t) => t.iter().map(|x| if x == "snap" { "snapshot".to_string() } else { x.clone() }).collect(),
        None => default_types.iter().map(|s| s.to_string()).collect(),
    };
    let want = |n: &str| st.datasets.get(n).is_some_and(|d| types.contains(&d.kind));
    let mut out = Vec::new();
    if f.rest.is_empty() {
        out.extend(st.datasets.keys().filter(|n| want(n)).cloned());
        return Ok(out);
    }
    for name in &f.rest {
        if !st.exists(name) {
            return Err(format!("cannot open '{name}': dataset does not exist"));
        }
        if want(name) || !f.recursive {
            out.push(name.clone());
        }
        if f.recursive {
            let base_depth = name.matches('/').count();
            for n in st.datasets.keys() {
                if (n.starts_with(&format!("{name}/")) || n.starts_with(&format!("{name}@"))) && want(n) {
                    let d = n.matches('/').count() - base_depth + usize::from(n.contains('@'));
                    if f.depth.is_none_or(|max| d <= max) {
                        out.push(n.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

fn zfs_list(args: &[String]) -> Result<i32> {
    let f = flags(args, "otsSd");
    let st = ZfsState::load()?;
    let fields = f.fields.clone().unwrap_or_else(|| vec!["name".into(), "used".into(), "avail".into(), "refer".into(), "mountpoint".into()]);
    let names = match selected(&st, &f, &["filesystem", "volume"]) {
        Ok(n) => n,
        Err(e) => return err(&e, 1),
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for n in &names {
        let mut row = Vec::new();
        for fl in &fields {
            let v = st.get(n, fl, f.parsable).map(|(v, _)| v).unwrap_or_else(|| "-".into());
            row.push(v);
        }
        rows.push(row);
    }
    if let Some((key, desc)) = &f.sort {
        if let Some(idx) = fields.iter().position(|x| x == key) {
            rows.sort_by(|a, b| {
                let (x, y) = (&a[idx], &b[idx]);
                let o = match (parse_size(x), parse_size(y)) {
                    (Some(p), Some(q)) => p.cmp(&q),
                    _ => x.cmp(y),
                };
                if *desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    if rows.is_empty() && !f.rest.is_empty() {
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no datasets available");
        return Ok(0);
    }
    if f.scripted {
        for r in rows {
            println!("{}", r.join("\t"));
        }
    } else {
        let header: Vec<String> = fields.iter().map(|x| header_name(x)).collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        let right: Vec<bool> = fields.iter().map(|x| is_numeric(x)).collect();
        print!("{}", table(&h, &rows, &right));
    }
    Ok(0)
}

fn header_name(f: &str) -> String {
    match f {
        "avail" | "available" => "AVAIL".into(),
        "refer" | "referenced" => "REFER".into(),
        other => other.to_ascii_uppercase(),
    }
}

fn is_numeric(f: &str) -> bool {
    matches!(f, "used" | "avail" | "available" | "refer" | "referenced" | "volsize" | "quota" | "refquota" | "reservation" | "size" | "alloc" | "free")
}

fn zfs_get(args: &[String]) -> Result<i32> {
    let f = flags(args, "ots d");
    let st = ZfsState::load()?;
    let mut rest = f.rest.clone();
    if rest.is_empty() {
        return err("missing property argument\nusage:\n\tget [-rHp] [-d max] [-o \"all\" | field[,...]]\n\t    [-t type[,...]] [-s source[,...]]\n\t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...", 2);
    }
    let props_arg = rest.remove(0);
    let props: Vec<String> = if props_arg == "all" {
        ALL_ORDER.iter().map(|s| s.to_string()).collect()
    } else {
        props_arg.split(',').map(str::to_string).collect()
    };
    for p in &props {
        if p != "all" && st.get("rpool", p, false).is_none() && !p.contains(':') {
            if let Some(first) = st.datasets.keys().next() {
                if st.get(first, p, false).is_none() {
                    return err(&format!("bad property list: invalid property '{p}'\nusage:\n\tget [-rHp] [-d max] [-o \"all\" | field[,...]]\n\t    [-t type[,...]] [-s source[,...]]\n\t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ..."), 2);
                }
            }
        }
    }
    let sel = Flags { rest, ..f };
    let names = match selected(&st, &sel, &["filesystem", "volume", "snapshot"]) {
        Ok(n) => n,
        Err(e) => return err(&e, 1),
    };
    let fields = sel.fields.clone().unwrap_or_else(|| vec!["name".into(), "property".into(), "value".into(), "source".into()]);
    let mut rows = Vec::new();
    for n in &names {
        for p in &props {
            let Some((v, src)) = st.get(n, p, sel.parsable) else { continue };
            if props_arg == "all" && v == "-" && src == "-" && !matches!(p.as_str(), "type" | "creation") {
                continue;
            }
            if let Some(srcs) = &sel.sources {
                let kind = if src.starts_with("inherited") { "inherited" } else if src == "-" { "none" } else { src.as_str() };
                if !srcs.iter().any(|s| s == kind) {
                    continue;
                }
            }
            let row: Vec<String> = fields
                .iter()
                .map(|fl| match fl.as_str() {
                    "name" => n.clone(),
                    "property" => p.clone(),
                    "value" => v.clone(),
                    "source" => src.clone(),
                    "received" => "-".into(),
                    _ => "-".into(),
                })
                .collect();
            rows.push(row);
        }
    }
    if sel.scripted {
        for r in rows {
            println!("{}", r.join("\t"));
        }
    } else {
        let header: Vec<String> = fields.iter().map(|x| x.to_ascii_uppercase()).collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        print!("{}", table(&h, &rows, &[]));
    }
    Ok(0)
}

pub fn zfs_main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        return err("usage: zfs command args ...", 2);
    };
    match cmd.as_str() {
        "list" => zfs_list(rest),
        "get" => zfs_get(rest),
        "set" => {
            let mut st = ZfsState::load()?;
            let (assigns, names): (Vec<&String>, Vec<&String>) = rest.iter().partition(|a| a.contains('='));
            if assigns.is_empty() || names.is_empty() {
                return err("missing property=value argument(s)", 2);
            }
            for n in &names {
                for a in &assigns {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    if let Err(e) = st.set(n, k, v) {
                        return err(&e, 1);
                    }
                }
            }
            st.save()?;
            Ok(0)
        }
        "inherit" => {
            let f = flags(rest, "");
            let [prop, names @ ..] = f.rest.as_slice() else { return err("missing property argument", 2) };
            let mut st = ZfsState::load()?;
            for n in names {
                if let Err(e) = st.inherit(n, prop) {
                    return err(&e, 1);
                }
            }
            st.save()?;
            Ok(0)
        }
        "create" => {
            let mut vol = None;
            let mut props = Vec::new();
            let mut name = None;
            let mut i = 0;
            while i < rest.len() {
                match rest[i].as_str() {
                    "-V" => {
                        i += 1;
                        vol = rest.get(i).and_then(|v| parse_size(v));
                    }
                    "-o" => {
                        i += 1;
                        if let Some((k, v)) = rest.get(i).and_then(|s| s.split_once('=')) {
                            props.push((k.to_string(), v.to_string()));
                        }
                    }
                    "-s" | "-p" | "-u" => {}
                    s => name = Some(s.to_string()),
                }
                i += 1;
            }
            let Some(name) = name else { return err("missing filesystem argument", 2) };
            let mut st = ZfsState::load()?;
            if let Err(e) = st.create(&name, vol, &props) {
                return err(&e, 1);
            }
            st.save()?;
            Ok(0)
        }
        "destroy" => {
            let f = flags(rest, "");
            let Some(name) = f.rest.first() else { return err("missing dataset argument", 2) };
            let mut st = ZfsState::load()?;
            if let Err(e) = st.destroy(name, f.recursive) {
                return err(&e, 1);
            }
            st.save()?;
            Ok(0)
        }
        "snapshot" | "snap" => {
            let f = flags(rest, "o");
            let mut st = ZfsState::load()?;
            for n in &f.rest {
                if let Err(e) = st.snapshot(n) {
                    return err(&e, 1);
                }
            }
            st.save()?;
            Ok(0)
        }
        "recv" | "receive" => {
            // Pseudo stream from `zfs send` below (used by the simulated replication).
            let f = flags(rest, "o");
            let Some(name) = f.rest.first() else { return err("missing snapshot argument", 2) };
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
            let v: serde_json::Value = match serde_json::from_str(&input) {
                Ok(v) => v,
                Err(_) => return err("cannot receive: invalid stream (bad magic number)", 1),
            };
            let mut st = ZfsState::load()?;
            let base = name.split('@').next().unwrap_or(name).to_string();
            if !st.exists(&base) {
                let volsize = v["volsize"].as_u64();
                if let Err(e) = st.create(&base, volsize, &[]) {
                    return err(&e, 1);
                }
            }
            if let Some(snap) = v["snapshot"].as_str() {
                let full = format!("{base}@{snap}");
                if !st.exists(&full) {
                    let _ = st.snapshot(&full);
                }
            }
            st.save()?;
            Ok(0)
        }
        "send" => {
            let f = flags(rest, "iI");
            let Some(name) = f.rest.last() else { return err("missing snapshot argument", 2) };
            let st = ZfsState::load()?;
            if !st.exists(name) {
                return err(&format!("cannot open '{name}': dataset does not exist"), 1);
            }
            let base = name.split('@').next().unwrap_or(name);
            let volsize = st.get(base, "volsize", true).and_then(|(v, _)| v.parse::<u64>().ok());
            let snap = name.split_once('@').map(|(_, s)| s);
            println!("{}", serde_json::json!({"pve-sim-zfs-stream": 1, "volsize": volsize, "snapshot": snap}));
            Ok(0)
        }
        "version" => {
            println!("zfs-2.3.4-pve1\nzfs-kmod-2.3.4-pve1");
            Ok(0)
        }
        "mount" | "unmount" | "umount" | "share" | "unshare" | "allow" => Ok(0),
        other => err(&format!("unrecognized command '{other}'"), 2),
    }
}

pub fn zpool_main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        return err("usage: zpool command args ...", 2);
    };
    let st = ZfsState::load()?;
    let f = flags(rest, "oT");
    for n in &f.rest {
        if !st.pools.contains_key(n) && matches!(cmd.as_str(), "list" | "status" | "get") {
            return err(&format!("cannot open '{n}': no such pool"), 1);
        }
    }
    let pools: Vec<&String> = st.pools.keys().filter(|p| f.rest.is_empty() || f.rest.contains(p)).collect();
    match cmd.as_str() {
        "list" => {
            if pools.is_empty() {
                println!("no pools available");
                return Ok(0);
            }
            let fields = f.fields.clone().unwrap_or_else(|| {
                ["name", "size", "alloc", "free", "ckpoint", "expandsz", "frag", "cap", "dedup", "health", "altroot"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
            let mut rows = Vec::new();
            for p in &pools {
                let pool = &st.pools[*p];
                let alloc = st.pool_alloc(p);
                let num = |n: u64| if f.parsable { n.to_string() } else { zfs_nicenum(n) };
                let row: Vec<String> = fields
                    .iter()
                    .map(|fl| match fl.as_str() {
                        "name" => p.to_string(),
                        "size" => num(pool.size),
                        "alloc" | "allocated" => num(alloc),
                        "free" => num(pool.size - alloc),
                        "frag" | "fragmentation" => if f.parsable { "0".into() } else { "0%".into() },
                        "cap" | "capacity" => {
                            let c = alloc * 100 / pool.size.max(1);
                            if f.parsable { c.to_string() } else { format!("{c}%") }
                        }
                        "dedup" | "dedupratio" => "1.00x".into(),
                        "health" => pool.health.clone(),
                        "guid" => pool.guid.to_string(),
                        other => pool.props.get(other).cloned().unwrap_or_else(|| "-".into()),
                    })
                    .collect();
                rows.push(row);
            }
            if f.scripted {
                for r in rows {
                    println!("{}", r.join("\t"));
                }
            } else {
                let header: Vec<String> = fields.iter().map(|x| x.to_ascii_uppercase()).collect();
                let h: Vec<&str> = header.iter().map(String::as_str).collect();
                let right: Vec<bool> = fields.iter().map(|x| !matches!(x.as_str(), "name" | "altroot")).collect();
                print!("{}", table(&h, &rows, &right));
            }
            Ok(0)
        }
        "status" => {
            if pools.is_empty() {
                println!("no pools available");
                return Ok(0);
            }
            for (i, p) in pools.iter().enumerate() {
                let pool = &st.pools[*p];
                if i > 0 {
                    println!();
                }
                let w = pool.vdev.len().max(p.len()) + 2;
                println!("  pool: {p}\n state: {}\nconfig:\n", pool.health);
                println!("\t{:<w$}  {:<8} {:>4} {:>5} {:>5}", "NAME", "STATE", "READ", "WRITE", "CKSUM");
                println!("\t{:<w$}  {:<8} {:>4} {:>5} {:>5}", p, pool.health, 0, 0, 0);
                println!("\t  {:<w2$}  {:<8} {:>4} {:>5} {:>5}", pool.vdev, pool.health, 0, 0, 0, w2 = w - 2);
                println!("\nerrors: No known data errors");
            }
            Ok(0)
        }
        "get" => {
            let mut rest = f.rest.clone();
            let props = if rest.is_empty() { "all".to_string() } else { rest.remove(0) };
            let mut rows = Vec::new();
            for p in st.pools.keys().filter(|p| rest.is_empty() || rest.contains(p)) {
                let pool = &st.pools[p];
                for prop in props.split(',') {
                    let v = match prop {
                        "size" => zfs_nicenum(pool.size),
                        "health" => pool.health.clone(),
                        other => pool.props.get(other).cloned().unwrap_or_else(|| "-".into()),
                    };
                    let src = if pool.props.contains_key(prop) { "local" } else { "-" };
                    rows.push(vec![p.clone(), prop.to_string(), v, src.to_string()]);
                }
            }
            if f.scripted {
                for r in rows {
                    println!("{}", r.join("\t"));
                }
            } else {
                print!("{}", table(&["NAME", "PROPERTY", "VALUE", "SOURCE"], &rows, &[]));
            }
            Ok(0)
        }
        "import" | "export" | "scrub" | "sync" => Ok(0),
        other => err(&format!("unrecognized command '{other}'"), 2),
    }
}
