//! `pvesh get|ls|create|set|delete <path>` for the API paths the tools use (pve-cli.md §1.3, §2.11,
//! §4.4, §5.2, §6, §7.1, §7.2). JSON is canonical and one line; null-returning calls print nothing.
//! `/nodes/<other>/…` GETs are proxied to that node over cluster SSH, like pvesh proxies via API.
//! Text output (tables) is not reproduced: without `--output-format json` pretty JSON is printed.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::{self, die, Kind};
use crate::model::{jobs, replication as repl, storage};
use crate::{corosync, json as js, nodefiles, pmxcfs, sys};

const USAGE: &str = "USAGE: pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]\n";
const FORMAT_OPTS: &[&str] = &["output-format", "noheader", "noborder", "quiet", "human-readable", "noproxy"];

fn no_handler(verb: &str, path: &str) -> anyhow::Error {
    die(format!("No '{verb}' handler defined for '{path}'"))
}

/// PVE's `ssl_fingerprint` of a certificate file (upper-case SHA-256 pairs).
pub fn fingerprint(pem: &std::path::Path) -> Option<String> {
    let s = pem.to_string_lossy();
    let out = sys::run("openssl", &["x509", "-noout", "-fingerprint", "-sha256", "-in", &s]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().split_once('=').map(|(_, f)| f.trim().to_ascii_uppercase())
}

/// `/cluster/status` (pve-cli.md §7.1).
pub fn cluster_status() -> Result<Value> {
    let me = sys::hostname();
    let Some(conf) = pmxcfs::read_corosync_conf()? else {
        let ip = sys::resolve_host(&me).unwrap_or_default();
        return Ok(json!([{"id": format!("node/{me}"), "ip": ip, "level": "", "local": 1, "name": me, "nodeid": 0, "online": 1, "type": "node"}]));
    };
    let nodes = conf.nodes()?;
    let online = corosync::online_nodeids();
    let quorate = corosync::quorate();
    let mut out = vec![json!({
        "id": "cluster", "name": conf.cluster_name().unwrap_or(""), "nodes": nodes.len(),
        "quorate": if quorate { 1 } else { 0 }, "type": "cluster", "version": conf.config_version().unwrap_or(0),
    })];
    for n in &nodes {
        let is_local = n.name == me;
        let on = online.contains(&n.nodeid) || (is_local && online.is_empty());
        let mut o = json!({
            "id": format!("node/{}", n.name), "level": "", "local": if is_local { 1 } else { 0 }, "name": n.name,
            "nodeid": n.nodeid, "online": if on { 1 } else { 0 }, "type": "node",
        });
        if let Some(ip) = n.addrs.get(&0) {
            o["ip"] = json!(ip);
        }
        out.push(o);
    }
    Ok(Value::Array(out))
}

/// `/cluster/config/nodes` (pve-cli.md §2.11): all values strings plus `node`.
fn config_nodes() -> Result<Value> {
    let Some(conf) = pmxcfs::read_corosync_conf()? else { return Ok(json!([])) };
    let mut out = Vec::new();
    let nl = conf.main.section("nodelist").map(|s| s.list("node").to_vec()).unwrap_or_default();
    for s in nl {
        let mut o = serde_json::Map::new();
        for (k, item) in &s.entries {
            if let pve_formats::corosync::Item::Value(v) = item {
                o.insert(k.clone(), json!(v));
            }
        }
        let name = s.value("name").or_else(|| s.value("ring0_addr")).unwrap_or("").to_string();
        o.insert("node".into(), json!(name));
        out.push(Value::Object(o));
    }
    out.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
    Ok(Value::Array(out))
}

/// `/cluster/config/totem`: strings; `interface` keyed by link number.
fn config_totem() -> Result<Value> {
    let Some(conf) = pmxcfs::read_corosync_conf()? else { return Ok(json!({})) };
    let Some(t) = conf.main.section("totem") else { return Ok(json!({})) };
    let mut o = serde_json::Map::new();
    for (k, item) in &t.entries {
        match item {
            pve_formats::corosync::Item::Value(v) => {
                o.insert(k.clone(), json!(v));
            }
            pve_formats::corosync::Item::List(l) if k == "interface" => {
                let mut ifs = serde_json::Map::new();
                for s in l {
                    let key = s.value("linknumber").or_else(|| s.value("ringnumber")).unwrap_or("0").to_string();
                    let mut io = serde_json::Map::new();
                    for (ik, iv) in &s.entries {
                        if let pve_formats::corosync::Item::Value(v) = iv {
                            io.insert(ik.clone(), json!(v));
                        }
                    }
                    ifs.insert(key, Value::Object(io));
                }
                o.insert("interface".into(), Value::Object(ifs));
            }
            _ => {}
        }
    }
    Ok(Value::Object(o))
}

/// `/cluster/config/qdevice`: `{}` without the qdevice socket, else keys of `status verbose`.
fn config_qdevice() -> Result<Value> {
    if !sys::p("/var/run/corosync-qdevice/corosync-qdevice.sock").exists() {
        return Ok(json!({}));
    }
    let Ok(out) = sys::run("corosync-qdevice-tool", &["-sv"]) else { return Ok(json!({})) };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut o = serde_json::Map::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let k = k.trim();
        if matches!(k, "Algorithm" | "Last poll call" | "Model" | "QNetd host" | "State" | "Tie-breaker") {
            o.insert(k.to_string(), json!(v.trim()));
        }
    }
    Ok(Value::Object(o))
}

fn config_join() -> Result<Value> {
    let Some(conf) = pmxcfs::read_corosync_conf()? else {
        return Err(cli::Fail::Exit { code: 255, stderr: "node is not in a cluster, no join info available!\n".into() }.into());
    };
    let mut nodelist = Vec::new();
    for n in conf.nodes()? {
        let mut o = json!({"name": n.name, "nodeid": n.nodeid.to_string(), "quorum_votes": n.quorum_votes.to_string()});
        for (l, a) in &n.addrs {
            o[format!("ring{l}_addr")] = json!(a);
        }
        o["pve_addr"] = json!(n.addrs.get(&0).cloned().unwrap_or_default());
        if let Some(fp) = fingerprint(&pmxcfs::etc_pve().join("nodes").join(&n.name).join("pve-ssl.pem")) {
            o["pve_fp"] = json!(fp);
        }
        nodelist.push(o);
    }
    let raw = sys::read_opt(&pmxcfs::corosync_conf_path()).unwrap_or_default();
    Ok(json!({
        "config_digest": sys::sha1_hex(raw.as_bytes()),
        "nodelist": nodelist,
        "preferred_node": sys::hostname(),
        "totem": config_totem()?,
    }))
}

fn meminfo() -> (u64, u64) {
    let text = sys::read_opt(std::path::Path::new("/proc/meminfo")).unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let total = get("MemTotal:");
    (total, total.saturating_sub(get("MemAvailable:")))
}

/// `/nodes` (pve-cli.md §7.2).
fn nodes() -> Result<Value> {
    let names = pmxcfs::cluster_node_names();
    let online: Vec<u32> = corosync::online_nodeids();
    let conf = pmxcfs::read_corosync_conf()?;
    let me = sys::hostname();
    let (maxmem, mem) = meminfo();
    let uptime = sys::read_opt(std::path::Path::new("/proc/uptime"))
        .and_then(|u| u.split('.').next().and_then(|x| x.parse::<u64>().ok()))
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let zfs = crate::model::zfs::ZfsState::load().unwrap_or_default();
    let disk_used = zfs.used("rpool/ROOT/pve-1");
    let disk_max = disk_used + zfs.available("rpool/ROOT/pve-1");
    let mut out = Vec::new();
    for n in names {
        let is_online = match &conf {
            None => true,
            Some(c) => {
                let id = c.node(&n).ok().flatten().map(|x| x.nodeid).unwrap_or(0);
                online.contains(&id) || (n == me && online.is_empty())
            }
        };
        let mut o = json!({"id": format!("node/{n}"), "node": n, "type": "node", "status": if is_online { "online" } else { "offline" },
            "maxcpu": cpus, "maxmem": maxmem, "maxdisk": disk_max, "level": ""});
        if let Some(fp) = fingerprint(&pmxcfs::etc_pve().join("nodes").join(&n).join("pve-ssl.pem")) {
            o["ssl_fingerprint"] = json!(fp);
        }
        if is_online {
            o["cpu"] = json!(0.0123);
            o["mem"] = json!(mem);
            o["disk"] = json!(disk_used);
            o["uptime"] = json!(uptime);
        }
        out.push(o);
    }
    Ok(Value::Array(out))
}

fn node_storage(params: &BTreeMap<String, String>) -> Result<Value> {
    let rows = crate::applets::pvesm::status_rows(params.get("storage").map(String::as_str), false)?;
    let mut out = Vec::new();
    for (e, st) in rows {
        if params.get("enabled").is_some_and(|v| cli::truthy(v)) && !st.enabled {
            continue;
        }
        let shared = matches!(e.section_type.as_str(), "nfs" | "cifs" | "pbs") || e.flag("shared");
        let mut o = json!({
            "storage": e.id, "type": e.section_type, "content": e.get("content").unwrap_or(if e.section_type == "nfs" { "images" } else { "" }),
            "enabled": if st.enabled { 1 } else { 0 }, "active": if st.active { 1 } else { 0 },
            "shared": if shared { 1 } else { 0 }, "total": st.total, "used": st.used, "avail": st.avail,
        });
        if st.total > 0 {
            o["used_fraction"] = json!(st.used as f64 / st.total as f64);
        }
        out.push(o);
    }
    Ok(Value::Array(out))
}

fn node_replication(params: &BTreeMap<String, String>) -> Result<Value> {
    let cfg = repl::load()?;
    let state = repl::load_state();
    let me = sys::hostname();
    let mut out = Vec::new();
    for e in cfg.of_type("local") {
        let Some((g, _)) = repl::parse_id(&e.id) else { continue };
        if params.get("guest").is_some_and(|x| *x != g.to_string()) {
            continue;
        }
        if crate::model::guests::load(g).map(|(n, _)| n) != Some(me.clone()) {
            continue;
        }
        out.push(repl::status_json(e, &repl::job_state(&state, e)));
    }
    Ok(Value::Array(out))
}

/// Forward a GET for another node over cluster SSH (pvesh proxies API calls to the owning node).
fn proxy(node: &str, args: &[String]) -> Result<i32> {
    let conf = pmxcfs::read_corosync_conf()?;
    let Some(ip) = conf.and_then(|c| c.node(node).ok().flatten()).and_then(|n| n.addrs.get(&0).cloned()) else {
        return Err(die(format!("no such cluster node '{node}'")));
    };
    let mut a = nodefiles::cluster_ssh_args(node, &ip);
    a.push("--".into());
    a.push("pvesh".into());
    a.extend(args.iter().cloned());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = sys::run("/usr/bin/ssh", &argv)?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Ok(out.status.code().unwrap_or(255))
}

fn get(path: &str, params: &BTreeMap<String, String>) -> Result<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let me = sys::hostname();
    match parts.as_slice() {
        ["cluster", "status"] => cluster_status(),
        ["cluster", "config", "nodes"] => config_nodes(),
        ["cluster", "config", "qdevice"] => config_qdevice(),
        ["cluster", "config", "totem"] => config_totem(),
        ["cluster", "config", "join"] => config_join(),
        ["cluster", "config", "apiversion"] => Ok(json!(1)),
        ["cluster", "backup"] => jobs::list(),
        ["cluster", "backup", id] => jobs::get(id),
        ["cluster", "replication"] => {
            let cfg = repl::load()?;
            Ok(Value::Array(cfg.of_type("local").map(repl::config_json).collect()))
        }
        ["cluster", "replication", id] => {
            let cfg = repl::load()?;
            match cfg.get(id) {
                Some(e) => Ok(repl::config_json(e)),
                None => Err(die(format!("no such replication job '{id}'"))),
            }
        }
        ["nodes"] => nodes(),
        ["nodes", n, rest @ ..] if *n == me || *n == "localhost" => match rest {
            ["storage"] => node_storage(params),
            ["replication"] => node_replication(params),
            // Lab nodes never have a subscription.
            ["subscription"] => Ok(json!({
                "message": "There is no subscription key", "serverid": sys::sha1_hex(me.as_bytes())[..32].to_ascii_uppercase(),
                "status": "notfound", "url": "https://www.proxmox.com/en/proxmox-virtual-environment/pricing",
            })),
            [] | ["version"] => {
                Ok(json!({"release": "9.1", "repoid": "3d8b2cbd", "version": "9.1.1"}))
            }
            _ => Err(no_handler("get", path)),
        },
        ["storage"] => {
            let (cfg, raw) = storage::load()?;
            let digest = sys::sha1_hex(raw.as_bytes());
            Ok(Value::Array(
                cfg.sections
                    .iter()
                    .filter(|e| params.get("type").is_none_or(|t| *t == e.section_type))
                    .map(|e| storage::entry_json(e, &digest))
                    .collect(),
            ))
        }
        ["storage", id] => {
            let (cfg, raw) = storage::load()?;
            match cfg.get(id) {
                Some(e) => Ok(storage::entry_json(e, &sys::sha1_hex(raw.as_bytes()))),
                None => Err(die(format!("storage '{id}' does not exist"))),
            }
        }
        ["version"] => Ok(json!({"release": "9.1", "repoid": "3d8b2cbd", "version": "9.1.1"})),
        _ => Err(no_handler("get", path)),
    }
}

fn create(path: &str, params: &BTreeMap<String, String>) -> Result<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut p = params.clone();
    match parts.as_slice() {
        ["storage"] => {
            let id = p.remove("storage").ok_or_else(|| cli::param_err("storage", "property is missing", USAGE))?;
            let kind = p.remove("type").ok_or_else(|| cli::param_err("type", "property is missing", USAGE))?;
            crate::applets::pvesm::create(&kind, &id, &p)?;
            Ok(Value::Null)
        }
        ["cluster", "backup"] => {
            jobs::create(&p)?;
            Ok(Value::Null)
        }
        ["cluster", "replication"] => {
            let id = p.remove("id").ok_or_else(|| cli::param_err("id", "property is missing", USAGE))?;
            let target = p.remove("target").ok_or_else(|| cli::param_err("target", "property is missing", USAGE))?;
            let t = p.remove("type").unwrap_or_else(|| "local".into());
            if t != "local" {
                return Err(cli::param_err("type", format!("value '{t}' does not have a value in the enumeration 'local'"), USAGE));
            }
            crate::applets::pvesr::create(&id, &target, &p, USAGE)?;
            Ok(Value::Null)
        }
        _ => Err(no_handler("create", path)),
    }
}

fn set(path: &str, params: &BTreeMap<String, String>) -> Result<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["storage", id] => {
            crate::applets::pvesm::update(id, params, "USAGE: pvesh set /storage/{storage} [OPTIONS] [FORMAT_OPTIONS]\n")?;
            Ok(Value::Null)
        }
        ["cluster", "backup", id] => {
            jobs::update(id, params)?;
            Ok(Value::Null)
        }
        ["cluster", "replication", id] => {
            crate::applets::pvesr::update(id, params, USAGE)?;
            Ok(Value::Null)
        }
        _ => Err(no_handler("set", path)),
    }
}

fn delete(path: &str, params: &BTreeMap<String, String>) -> Result<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["storage", id] => {
            crate::applets::pvesm::remove(id)?;
            Ok(Value::Null)
        }
        ["cluster", "backup", id] => {
            jobs::delete(id)?;
            Ok(Value::Null)
        }
        ["cluster", "replication", id] => {
            let keep = params.get("keep").is_some_and(|v| cli::truthy(v));
            let force = params.get("force").is_some_and(|v| cli::truthy(v));
            crate::applets::pvesr::delete(id, keep, force, USAGE)?;
            Ok(Value::Null)
        }
        _ => Err(no_handler("delete", path)),
    }
}

pub fn main(args: &[String]) -> Result<i32> {
    let Some((verb, rest)) = args.split_first() else {
        eprintln!("ERROR: no command specified");
        return Ok(255);
    };
    let verb = verb.as_str();
    let spec: cli::Spec = &[("*", Kind::Str)];
    let a = cli::parse(rest, spec, Some(1), USAGE)?;
    let path = a.pos[0].clone();
    pmxcfs::require_mounted()?;
    let format = a.get("output-format").unwrap_or("text").to_string();
    if !matches!(format.as_str(), "text" | "json" | "json-pretty" | "yaml") {
        return Err(cli::param_err("output-format", format!("value '{format}' does not have a value in the enumeration 'text, json, json-pretty, yaml'"), USAGE));
    }
    let params: BTreeMap<String, String> =
        a.opts.iter().filter(|(k, _)| !FORMAT_OPTS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    // Proxy /nodes/<other>/... to the owning node.
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts.len() >= 3 && parts[0] == "nodes" && parts[1] != sys::hostname() && parts[1] != "localhost" && verb == "get" && !a.has("noproxy") {
        return proxy(parts[1], args);
    }
    let v = match verb {
        "get" | "ls" => get(&path, &params)?,
        "create" | "post" => create(&path, &params)?,
        "set" | "put" => set(&path, &params)?,
        "delete" => delete(&path, &params)?,
        other => return Err(die(format!("unknown command 'pvesh {other}'"))),
    };
    js::print_result(&v, &format);
    Ok(0)
}
