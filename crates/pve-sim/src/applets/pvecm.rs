//! `pvecm` (pve-cluster src/PVE/CLI/pvecm.pm, API2/ClusterConfig.pm, Cluster/Setup.pm;
//! pve-cli.md §2): create, add (SSH and API path), addnode, delnode, status, nodes, expected,
//! updatecerts, apiver, keygen, qdevice setup/remove — on top of real corosync, real
//! corosync-qnetd/qdevice and their certificate tools, and real SSH between the lab hosts.
//!
//! Worker commands (`create`, `add`) behave like PVE's synchronous CLI workers (pve-cli.md §1.2):
//! progress and warnings on stdout, the task error on stderr, **exit 0 even when the task fails**.
//!
//! Simplification of the API join (no `--use_ssh`): there is no pveproxy in the lab, so the "API"
//! is reached over root SSH (BatchMode, like the SSH join — root trust to the peer is required).
//! The password read from stdin is verified against the peer's root password hash (`crypt(3)` via
//! perl), the peer certificate's fingerprint against `--fingerprint` or a `yes` line on stdin, and
//! the join then continues like the SSH path.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, Result};
use pve_formats::corosync::{parse_link_spec, CorosyncConf, CreateParams, LinkSpec, NodeEntry, QuorumDevice};

use crate::cli::{self, die, param_err, Fail, Kind};
use crate::{corosync, nodefiles, pmxcfs, render, sys};

/// JOIN_API_VERSION (pve-cli.md §2.8).
const JOIN_API_VERSION: u32 = 1;
const NOT_CLUSTERED: &str = "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?";

fn usage(cmd: &str) -> String {
    match cmd {
        "create" => "USAGE: pvecm create <clustername> [OPTIONS]\n".into(),
        "add" => "USAGE: pvecm add <hostname> [OPTIONS]\n".into(),
        "addnode" => "USAGE: pvecm addnode <node> [OPTIONS]\n".into(),
        "delnode" => "USAGE: pvecm delnode <node>\n".into(),
        "qdevice setup" => "USAGE: pvecm qdevice setup <address> [OPTIONS]\n".into(),
        other => format!("USAGE: pvecm {other}\n"),
    }
}

fn link_spec_opts() -> Vec<(&'static str, Kind)> {
    vec![
        ("link0", Kind::Str), ("link1", Kind::Str), ("link2", Kind::Str), ("link3", Kind::Str),
        ("link4", Kind::Str), ("link5", Kind::Str), ("link6", Kind::Str), ("link7", Kind::Str),
    ]
}

fn parse_links(a: &cli::Args, cmd: &str) -> Result<Vec<LinkSpec>> {
    let mut links = Vec::new();
    for n in 0u8..8 {
        if let Some(v) = a.get(&format!("link{n}")) {
            links.push(parse_link_spec(n, v).map_err(|e| param_err(&format!("link{n}"), format!("invalid format - {e:#}"), &usage(cmd)))?);
        }
    }
    Ok(links)
}

/// `$prepare` of every pvecm command (pve-cli.md §2 pre-flight).
fn prepare() -> Result<(String, String)> {
    pmxcfs::require_mounted()?;
    let me = sys::hostname();
    let Some(ip) = sys::resolve_host(&me) else {
        return Err(die(format!(
            "hostname lookup '{me}' failed - failed to get address info for: {me}: Name or service not known"
        )));
    };
    Ok((me, ip))
}

/// A synchronous worker: run `task`, print its error on stderr, exit 0 regardless (§1.2).
fn worker(task: impl FnOnce() -> Result<()>) -> Result<i32> {
    let _lock = sys::lock(&sys::p("/var/lock/pvecm.lock"), Duration::from_secs(10)).map_err(|e| die(format!("{e:#}")))?;
    if let Err(e) = task() {
        let _ = std::io::stdout().flush();
        let msg = match e.downcast_ref::<Fail>() {
            Some(f) => f.to_string(),
            None => format!("{e:#}"),
        };
        eprintln!("{}", msg.trim_end());
    }
    let _ = std::io::stdout().flush();
    Ok(0)
}

/// `setup_sshd_config`: ensure `PermitRootLogin yes` in sshd_config, reload sshd if changed.
fn setup_sshd_config() -> Result<()> {
    let path = sys::p("/etc/ssh/sshd_config");
    let Some(text) = sys::read_opt(&path) else { return Ok(()) };
    let has = text.lines().any(|l| {
        let mut it = l.split_whitespace();
        it.next().is_some_and(|k| k.eq_ignore_ascii_case("PermitRootLogin")) && it.next() == Some("yes")
    });
    if has {
        return Ok(());
    }
    let mut out = String::new();
    let mut done = false;
    for l in text.lines() {
        if !done && l.trim_start().to_ascii_lowercase().starts_with("permitrootlogin") {
            out.push_str("PermitRootLogin yes\n");
            done = true;
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str("PermitRootLogin yes\n");
    }
    sys::write_str(&path, &out, 0o644)?;
    let _ = crate::applets::systemctl::reload("ssh");
    Ok(())
}

// ---------------------------------------------------------------- create

fn valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn create(args: &[String]) -> Result<i32> {
    let mut spec = link_spec_opts();
    spec.extend([("nodeid", Kind::Int), ("votes", Kind::Int), ("token-coefficient", Kind::Int)]);
    let a = cli::parse(args, &spec, Some(1), &usage("create"))?;
    let name = a.pos[0].clone();
    if name.len() > 15 {
        return Err(param_err("clustername", "value may only be 15 characters long", &usage("create")));
    }
    if !valid_node_name(&name) {
        return Err(param_err("clustername", "invalid format - value does not look like a valid node name", &usage("create")));
    }
    let mut links = parse_links(&a, "create")?;
    let (me, ip) = prepare()?;
    if pmxcfs::clustered() {
        return Err(die("cluster config '/etc/pve/corosync.conf' already exists"));
    }
    if links.is_empty() {
        links.push(LinkSpec { number: 0, address: ip.clone(), priority: None });
    }
    let nodeid: u32 = a.get("nodeid").and_then(|v| v.parse().ok()).unwrap_or(1);
    let votes: u32 = a.get("votes").and_then(|v| v.parse().ok()).unwrap_or(1);
    if nodeid < 1 {
        return Err(param_err("nodeid", "value must have a minimum value of 1", &usage("create")));
    }
    let tc: u32 = a.get("token-coefficient").and_then(|v| v.parse().ok()).unwrap_or(125);
    worker(|| {
        setup_sshd_config()?;
        nodefiles::setup_root_ssh_config()?;
        let authkey = sys::p("/etc/corosync/authkey");
        if !authkey.is_file() {
            sys::mkdir_p(&sys::p("/etc/corosync"), 0o755)?;
            let out = sys::run_checked("corosync-keygen", &["-lk", &authkey.to_string_lossy()])?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        let mut conf = CorosyncConf::create(&CreateParams {
            cluster_name: name.clone(),
            node_name: me.clone(),
            nodeid,
            votes,
            links: links.clone(),
            token_coefficient: Some(tc),
        });
        pmxcfs::create_cluster_store(&name)?;
        println!("Writing corosync config to /etc/pve/corosync.conf");
        conf.set_config_version(0);
        pmxcfs::write_corosync_conf(&mut conf)?;
        nodefiles::merge_ssh_keys()?;
        nodefiles::gen_node_files(&me, &ip, false)?;
        nodefiles::write_node_known_hosts(&me)?;
        println!("Restart corosync and cluster filesystem");
        // pmxcfs copies the config on (re)start (§2.1 step 3).
        pmxcfs::sync_corosync_conf()?;
        crate::applets::systemctl::restart("corosync").map_err(|e| anyhow!("command 'systemctl restart corosync pve-cluster' failed: exit code 1\n{e}"))?;
        crate::applets::systemctl::restart("pve-cluster")?;
        Ok(())
    })
}

// ---------------------------------------------------------------- add

/// `assert_joinable` (pve-cli.md §2.3 step 2). Prints the error list; fails unless forced.
fn assert_joinable(local_ip: &str, links: &[LinkSpec], force: bool) -> Result<()> {
    let mut errors = Vec::new();
    if sys::p("/etc/corosync/authkey").is_file() {
        errors.push("authentication key '/etc/corosync/authkey' already exists".to_string());
    }
    if pmxcfs::clustered() {
        errors.push("cluster config '/etc/pve/corosync.conf' already exists".to_string());
    }
    if !pmxcfs::guests().is_empty() {
        errors.push("this host already contains virtual guests".to_string());
    }
    if corosync::running() {
        errors.push("corosync is already running, is this node already in a cluster?!".to_string());
    }
    let ips = if sys::is_real_root() { sys::local_ips() } else { vec![local_ip.to_string()] };
    let mut check = |ip: &str, what: &str| {
        if !ips.iter().any(|x| x == ip) {
            errors.push(format!("{what}: cannot use IP '{ip}', not found on local node!"));
        }
    };
    check(local_ip, "local node address");
    for l in links {
        check(&l.address, &format!("link{}", l.number));
    }
    if !errors.is_empty() {
        println!("detected the following error(s):");
        for e in &errors {
            println!("* {e}");
        }
        if !force {
            return Err(anyhow!("Check if node may join a cluster failed!"));
        }
        println!("\nWARNING : detected error but forced to continue!\n");
    }
    Ok(())
}

fn ssh_root(host: &str) -> Vec<String> {
    vec![host.to_string(), "-o".into(), "BatchMode=yes".into()]
}

/// `ssh <host> -o BatchMode=yes <cmd…>` as root (the user's default keys and known_hosts).
fn ssh_run(host: &str, cmd: &[&str], input: Option<&[u8]>) -> Result<std::process::Output> {
    let mut args = ssh_root(&format!("root@{host}"));
    args.extend(cmd.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match input {
        Some(i) => sys::run_input("/usr/bin/ssh", &argv, i),
        None => sys::run("/usr/bin/ssh", &argv),
    }
}

/// Remote `pvecm addnode`, streaming its output like `system()` does.
fn remote_addnode(host: &str, me: &str, links: &[LinkSpec], nodeid: Option<&str>, votes: Option<&str>, new_node_ip: Option<&str>, force: bool) -> Result<()> {
    let mut cmd: Vec<String> = vec!["pvecm".into(), "addnode".into(), me.into()];
    if force {
        cmd.extend(["--force".into(), "1".into()]);
    }
    if let Some(n) = nodeid {
        cmd.extend(["--nodeid".into(), n.into()]);
    }
    if let Some(v) = votes {
        cmd.extend(["--votes".into(), v.into()]);
    }
    for l in links {
        cmd.extend([format!("--link{}", l.number), l.address.clone()]);
    }
    if let Some(ip) = new_node_ip {
        cmd.extend(["--new_node_ip".into(), ip.into()]);
    }
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = ssh_run(host, &refs, None)?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    print!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(anyhow!("unable to add node: command failed (ssh {host} -o BatchMode=yes {})", cmd.join(" ")));
    }
    Ok(())
}

/// `finish_join` (pve-cli.md §2.3 step 7).
fn finish_join(me: &str, corosync_conf: &str, authkey: &[u8]) -> Result<()> {
    let conf = CorosyncConf::parse(corosync_conf)?;
    let name = conf.cluster_name().unwrap_or("").to_string();
    sys::mkdir_p(&sys::p("/etc/corosync"), 0o755)?;
    sys::write_atomic(&sys::p("/etc/corosync/authkey"), authkey, 0o400)?;
    sys::write_str(&sys::p("/etc/corosync/corosync.conf"), corosync_conf, 0o644)?;
    println!("stopping pve-cluster service");
    crate::applets::systemctl::stop("pve-cluster")?;
    let backup = sys::p(&format!("/var/lib/pve-cluster/backup/config-{}.sql.gz", sys::now()));
    println!("backup old database to '/var/lib/pve-cluster/backup/{}'", backup.file_name().unwrap_or_default().to_string_lossy());
    // An empty gzip stream stands in for the sqlite dump.
    sys::write_atomic(&backup, &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0o600)?;
    pmxcfs::join_cluster_store(&name)?;
    pmxcfs::point_self_links(me)?;
    crate::applets::systemctl::start("corosync").map_err(|e| anyhow!("starting pve-cluster failed: {e}"))?;
    crate::applets::systemctl::start("pve-cluster")?;
    if !corosync::quorate() {
        print!("waiting for quorum...");
        let _ = std::io::stdout().flush();
        if !sys::wait_until(Duration::from_secs(120), Duration::from_millis(200), corosync::quorate) {
            println!();
            return Err(anyhow!("timeout waiting for quorum (lab simulator gives up after 120 s)"));
        }
        println!("OK");
    }
    nodefiles::updatecerts(true, false)?;
    println!("generated new node certificate, restart pveproxy and pvedaemon services");
    crate::applets::systemctl::restart("pvedaemon")?;
    crate::applets::systemctl::restart("pveproxy")?;
    println!("successfully added node '{me}' to cluster.");
    Ok(())
}

fn fetch_join_material(host: &str) -> Result<(String, Vec<u8>)> {
    println!("copy corosync auth key");
    let key = ssh_run(host, &["cat", "/etc/corosync/authkey"], None)?;
    let conf = ssh_run(host, &["cat", "/etc/pve/corosync.conf"], None)?;
    if !key.status.success() || !conf.status.success() {
        return Err(anyhow!("can't rsync data from host '{host}'"));
    }
    Ok((String::from_utf8_lossy(&conf.stdout).into_owned(), key.stdout))
}

/// Verify `password` against the peer's root hash (crypt(3) through perl; handles yescrypt).
fn verify_password(host: &str, password: &str) -> Result<bool> {
    let out = ssh_run(host, &["getent", "shadow", "root"], None)?;
    if !out.status.success() {
        return Err(anyhow!("unable to read root account of '{host}'"));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let hash = line.split(':').nth(1).unwrap_or("").to_string();
    if hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') {
        return Ok(false);
    }
    let script = "my $h = shift; my $p = <STDIN>; chomp $p; exit(crypt($p, $h) eq $h ? 0 : 1);";
    let res = sys::run_input("perl", &["-e", script, &hash], format!("{password}\n").as_bytes())?;
    Ok(res.status.success())
}

/// Fingerprint PVE would check on the API connection (pveproxy-ssl.pem, else pve-ssl.pem; §2.4).
fn peer_fingerprint(host: &str) -> Result<String> {
    let out = ssh_run(host, &["pvenode", "cert", "info", "--output-format", "json"], None)?;
    if !out.status.success() {
        return Err(anyhow!("unable to get certificate of '{host}': {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let certs = v.as_array().cloned().unwrap_or_default();
    let pick = certs
        .iter()
        .find(|c| c["filename"] == "pveproxy-ssl.pem")
        .or_else(|| certs.iter().find(|c| c["filename"] == "pve-ssl.pem"))
        .ok_or_else(|| anyhow!("no certificate on '{host}'"))?;
    Ok(pick["fingerprint"].as_str().unwrap_or("").to_string())
}

fn add(args: &[String]) -> Result<i32> {
    let mut spec = link_spec_opts();
    spec.extend([("nodeid", Kind::Int), ("votes", Kind::Int), ("force", Kind::Bool), ("fingerprint", Kind::Str), ("use_ssh", Kind::Bool)]);
    let a = cli::parse(args, &spec, Some(1), &usage("add"))?;
    let host = a.pos[0].clone();
    let links = parse_links(&a, "add")?;
    if let Some(fp) = a.get("fingerprint") {
        let ok = fp.len() == 95 && fp.split(':').all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(param_err("fingerprint", "value does not match the regex pattern", &usage("add")));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        let pve = pmxcfs::etc_pve();
        let real = std::fs::canonicalize(&pve).unwrap_or(pve.clone());
        if cwd.starts_with(&pve) || cwd.starts_with(&real) {
            return Err(die("Navigate out of /etc/pve before running 'pvecm add', for example by running 'cd'."));
        }
    }
    let (me, ip) = prepare()?;
    let force = a.flag("force");
    let nodeid = a.get("nodeid").map(str::to_string);
    let votes = a.get("votes").map(str::to_string);
    if a.flag("use_ssh") {
        return worker(|| {
            assert_joinable(&ip, &links, force)?;
            setup_sshd_config()?;
            nodefiles::setup_root_ssh_config()?;
            // ssh-copy-id: only works when key login already works (no TTY in automation).
            let probe = ssh_run(&host, &["true"], None)?;
            if !probe.status.success() {
                print!("{}", String::from_utf8_lossy(&probe.stderr));
                return Err(anyhow!("unable to copy ssh ID: command 'ssh-copy-id -i /root/.ssh/id_rsa root@{host}' failed: exit code 1"));
            }
            let apiver = ssh_run(&host, &["pvecm", "apiver"], None)?;
            let remote: u32 = String::from_utf8_lossy(&apiver.stdout).trim().parse().unwrap_or(0);
            if remote < JOIN_API_VERSION {
                return Err(anyhow!("error: incompatible join API version on cluster ({remote}, local has {JOIN_API_VERSION}). Make sure all nodes are up-to-date."));
            }
            let new_ip = if links.is_empty() {
                println!("No cluster network links passed explicitly, fallback to local node IP '{ip}'");
                Some(ip.as_str())
            } else {
                None
            };
            remote_addnode(&host, &me, &links, nodeid.as_deref(), votes.as_deref(), new_ip, true)?;
            let (conf, key) = fetch_join_material(&host)?;
            finish_join(&me, &conf, &key)
        });
    }
    // API path: password first (prompt on a TTY, else one line from stdin; pve-cli.md §2.3 step 1).
    let password = if sys::stdin_is_tty() {
        eprint!("Please enter superuser (root) password for '{host}': ");
        let p = sys::read_stdin_line();
        eprintln!();
        p
    } else {
        sys::read_stdin_line()
    };
    let Some(password) = password else { return Err(die("unable to read password")) };
    let fingerprint = a.get("fingerprint").map(|s| s.to_ascii_uppercase());
    worker(move || {
        assert_joinable(&ip, &links, force)?;
        setup_sshd_config()?;
        nodefiles::setup_root_ssh_config()?;
        println!("Establishing API connection with host '{host}'");
        let fp = peer_fingerprint(&host).map_err(|e| anyhow!("{e:#}\n(lab simulator: the API is reached over root SSH, which must work)"))?;
        match &fingerprint {
            Some(want) => {
                if *want != fp {
                    return Err(anyhow!("fingerprint '{fp}' not verified, abort!"));
                }
            }
            None => {
                println!("The authenticity of host '{host}' can't be established.");
                println!("X509 SHA256 key fingerprint is {fp}.");
                print!("Are you sure you want to continue connecting (yes/no)? ");
                let _ = std::io::stdout().flush();
                let answer = sys::read_stdin_line().unwrap_or_default();
                if answer.trim() != "yes" {
                    return Err(anyhow!("fingerprint '{fp}' not verified, abort!"));
                }
            }
        }
        if !verify_password(&host, &password)? {
            return Err(anyhow!("401 authentication failure"));
        }
        println!("Login succeeded.");
        println!("check cluster join API version");
        let new_ip = if links.is_empty() {
            println!("No cluster network links passed explicitly, fallback to local node IP '{ip}'");
            Some(ip.as_str())
        } else {
            None
        };
        println!("Request addition of this node");
        let mut cmd: Vec<String> = vec!["pvecm".into(), "addnode".into(), me.clone()];
        if let Some(n) = &nodeid {
            cmd.extend(["--nodeid".into(), n.clone()]);
        }
        if let Some(v) = &votes {
            cmd.extend(["--votes".into(), v.clone()]);
        }
        if force {
            cmd.extend(["--force".into(), "1".into()]);
        }
        for l in &links {
            cmd.extend([format!("--link{}", l.number), l.address.clone()]);
        }
        if let Some(x) = new_ip {
            cmd.extend(["--new_node_ip".into(), x.into()]);
        }
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = ssh_run(&host, &refs, None)?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            println!("An error occurred on the cluster node: {}", err.trim());
            return Err(anyhow!("Cluster join aborted!"));
        }
        println!("Join request OK, finishing setup locally");
        let key = ssh_run(&host, &["cat", "/etc/corosync/authkey"], None)?;
        let conf = ssh_run(&host, &["cat", "/etc/pve/corosync.conf"], None)?;
        if !key.status.success() || !conf.status.success() {
            return Err(anyhow!("unable to fetch join information from '{host}'"));
        }
        finish_join(&me, &String::from_utf8_lossy(&conf.stdout), &key.stdout)
    })
}

// ---------------------------------------------------------------- addnode / delnode

fn addnode(args: &[String]) -> Result<i32> {
    let mut spec = link_spec_opts();
    spec.extend([("nodeid", Kind::Int), ("votes", Kind::Int), ("force", Kind::Bool), ("new_node_ip", Kind::Str), ("apiversion", Kind::Int)]);
    let a = cli::parse(args, &spec, Some(1), &usage("addnode"))?;
    let name = a.pos[0].clone();
    let mut links = parse_links(&a, "addnode")?;
    prepare()?;
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("corosync.conf")?;
    let Some(mut conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
    let nodes = conf.nodes()?;
    let mut nodeid: Option<u32> = a.get("nodeid").and_then(|v| v.parse().ok());
    let mut votes: Option<u32> = a.get("votes").and_then(|v| v.parse().ok());
    if let Some(existing) = nodes.iter().find(|n| n.name == name) {
        let nid = *nodeid.get_or_insert(existing.nodeid);
        let v = *votes.get_or_insert(existing.quorum_votes);
        if existing.quorum_votes == v && existing.nodeid == nid && a.flag("force") {
            println!("forcing overwrite of configured node '{name}'");
        } else {
            return Err(die(format!("can't add existing node '{name}'")));
        }
    } else if let Some(nid) = nodeid {
        if let Some(other) = nodes.iter().find(|n| n.nodeid == nid) {
            return Err(die(format!("Nodeid {nid} already used by node '{}'", other.name)));
        }
    }
    let cluster_links: Vec<u8> = {
        let mut l: Vec<u8> = conf.interfaces().iter().map(|i| i.linknumber).collect();
        for n in &nodes {
            l.extend(n.addrs.keys());
        }
        l.sort_unstable();
        l.dedup();
        l
    };
    if links.is_empty() {
        let Some(ip) = a.get("new_node_ip") else {
            return Err(die("corosync: no links given and no new_node_ip fallback"));
        };
        if cluster_links.len() > 1 {
            return Err(die("no links given but multiple links found on other nodes, fallback only supported on single-link clusters"));
        }
        links.push(LinkSpec { number: 0, address: ip.to_string(), priority: None });
    }
    let mut errors = Vec::new();
    for l in &links {
        for n in nodes.iter().filter(|n| n.name != name) {
            for (ln, addr) in &n.addrs {
                if *addr == l.address {
                    errors.push(format!("corosync: address '{addr}' already used on link ring{ln}_addr by node '{}'", n.name));
                }
            }
        }
    }
    for cl in &cluster_links {
        if !links.iter().any(|l| l.number == *cl) {
            errors.push(format!("corosync: link {cl} exists in cluster config but wasn't specified for new node"));
        }
    }
    for l in &links {
        if !cluster_links.contains(&l.number) {
            errors.push(format!("corosync: link {} specified for new node doesn't exist in cluster config", l.number));
        }
    }
    if !errors.is_empty() {
        return Err(die(errors.join("\n")));
    }
    let nodeid = match nodeid {
        Some(n) => n,
        None => conf.next_free_nodeid()?,
    };
    conf.upsert_node(&NodeEntry {
        name: name.clone(),
        nodeid,
        quorum_votes: votes.unwrap_or(1),
        addrs: links.iter().map(|l| (l.number, l.address.clone())).collect(),
        extra: BTreeMap::new(),
    });
    let v = pmxcfs::write_corosync_conf(&mut conf)?;
    pmxcfs::ensure_node_dirs(&pmxcfs::etc_pve(), &name)?;
    pmxcfs::distribute_corosync_conf(&conf, v, true)?;
    Ok(0)
}

fn delnode(args: &[String]) -> Result<i32> {
    let a = cli::parse(args, &[], Some(1), &usage("delnode"))?;
    let target = a.pos[0].clone();
    let (me, _) = prepare()?;
    let Some(mut conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
    let nodes = conf.nodes()?;
    let Some(node) = nodes.iter().find(|n| n.name == target || n.addrs.values().any(|a| *a == target)).cloned() else {
        return Err(die(format!("Node/IP: {target} is not a known host of the cluster.")));
    };
    if node.name == me {
        return Err(die("Cannot delete myself from cluster!"));
    }
    pmxcfs::require_quorum()?;
    let _lock = pmxcfs::cfs_lock("corosync.conf")?;
    if sys::is_real_root() {
        let out = sys::run("corosync-cfgtool", &["-k", &node.nodeid.to_string()])?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        // "Could not kill node (error = CS_ERR_NOT_EXIST)" for an offline node is ignored (§2.6).
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    conf.remove_node(&node.name);
    let v = pmxcfs::write_corosync_conf(&mut conf)?;
    pmxcfs::distribute_corosync_conf(&conf, v, true)?;
    Ok(0)
}

// ---------------------------------------------------------------- status & co

fn exec_tool(header: Option<String>, args: &[&str]) -> Result<i32> {
    if let Some(h) = header {
        print!("{h}");
    }
    let _ = std::io::stdout().flush();
    if !sys::is_real_root() {
        return Err(die("corosync-quorumtool is only available inside lab hosts"));
    }
    let err = Command::new("corosync-quorumtool").args(args).exec();
    Err(die(format!("exec corosync-quorumtool failed: {err}")))
}

fn updatecerts(args: &[String]) -> Result<i32> {
    let a = cli::parse(args, &[("force", Kind::Bool), ("silent", Kind::Bool), ("unmerge-known-hosts", Kind::Bool)], Some(0), &usage("updatecerts"))?;
    prepare()?;
    if !pmxcfs::quorate() {
        println!("waiting for pmxcfs mount to appear and get quorate...");
        if !sys::wait_until(Duration::from_secs(80), Duration::from_millis(250), pmxcfs::quorate) {
            return Err(die("got timeout when trying to ensure cluster certificates and base file hierarchy is set up - no quorum (yet) or hung pmxcfs?"));
        }
    }
    nodefiles::updatecerts(a.flag("force"), a.flag("silent"))?;
    if a.flag("unmerge-known-hosts") && !a.flag("silent") {
        println!("unmerge SSH known hosts");
    }
    Ok(0)
}

// ---------------------------------------------------------------- qdevice

struct Member {
    name: String,
    ip: String,
}

fn members(conf: &CorosyncConf) -> Result<Vec<Member>> {
    Ok(conf
        .nodes()?
        .into_iter()
        .map(|n| Member { ip: n.addrs.get(&0).cloned().unwrap_or_default(), name: n.name })
        .collect())
}

/// Run a shell command on a member: locally for this node, over cluster SSH for the others.
fn on_member(m: &Member, cmd: &str) -> Result<std::process::Output> {
    if m.name == sys::hostname() {
        return sys::run("sh", &["-c", cmd]);
    }
    let mut a = nodefiles::cluster_ssh_args(&m.name, &m.ip);
    a.push("--".into());
    a.push(cmd.into());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    sys::run("/usr/bin/ssh", &argv)
}

fn print_prefixed(name: &str, out: &std::process::Output) {
    for l in String::from_utf8_lossy(&out.stdout).lines().chain(String::from_utf8_lossy(&out.stderr).lines()) {
        println!("node '{name}': {l}");
    }
}

fn require_all_online(conf: &CorosyncConf) -> Result<()> {
    let online = corosync::online_nodeids();
    for n in conf.nodes()? {
        if !online.contains(&n.nodeid) {
            return Err(die(format!("All nodes must be online! Node {} is offline, aborting.", n.name)));
        }
    }
    Ok(())
}

fn qnetd_ssh(addr: &str, cmd: &str) -> Result<std::process::Output> {
    sys::run("/usr/bin/ssh", &["-o", "BatchMode=yes", "-lroot", addr, cmd])
}

fn scp(from: &str, to: &str) -> Result<()> {
    let out = sys::run("/usr/bin/scp", &["-o", "BatchMode=yes", from, to])?;
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        return Err(die(format!("command 'scp {from} {to}' failed: exit code {}", out.status.code().unwrap_or(1))));
    }
    Ok(())
}

fn checked_local(cmd: &str, args: &[&str]) -> Result<()> {
    let out = sys::run(cmd, args)?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(die(format!("command '{}' failed: exit code {}", sys::shell_join(cmd, args), out.status.code().unwrap_or(1))));
    }
    Ok(())
}

fn qdevice_setup(args: &[String]) -> Result<i32> {
    let a = cli::parse(args, &[("force", Kind::Bool), ("network", Kind::Str)], Some(1), &usage("qdevice setup"))?;
    let addr = a.pos[0].clone();
    if addr.parse::<std::net::IpAddr>().is_err() {
        return Err(param_err("address", "invalid format - value does not look like a valid IP address", &usage("qdevice setup")));
    }
    let force = a.flag("force");
    prepare()?;
    let Some(conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
    require_all_online(&conf)?;
    if conf.has_quorum_device() && !force {
        return Err(die("QDevice already configured!"));
    }
    let mem = members(&conf)?;
    let algorithm = if mem.len() % 2 == 1 {
        if !force {
            return Err(die("Clusters with an odd node count are not officially supported!"));
        }
        "lms"
    } else {
        "ffsplit"
    };
    let cluster = conf.cluster_name().unwrap_or("").to_string();
    // Step 5: ssh-copy-id — only succeeds non-interactively when key login already works.
    let probe = qnetd_ssh(&addr, "true")?;
    if !probe.status.success() {
        eprint!("{}", String::from_utf8_lossy(&probe.stderr));
        return Err(die(format!("command 'ssh-copy-id -i /root/.ssh/id_rsa root@{addr}' failed: exit code 1")));
    }
    let nssdb = sys::p("/etc/corosync/qdevice/net/nssdb");
    if nssdb.exists() {
        if !force {
            return Err(die("QDevice certificate store already initialised, set force to delete!"));
        }
        for m in &mem {
            let _ = on_member(m, "rm -rf /etc/corosync/qdevice/net/nssdb");
        }
    }
    println!("\nINFO: initializing qnetd server");
    let out = qnetd_ssh(&addr, "corosync-qnetd-certutil -i")?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    print!("{}", String::from_utf8_lossy(&out.stderr));

    println!("\nINFO: copying CA cert and initializing on all nodes");
    let ca = pmxcfs::pve_path("qnetd-cacert.crt");
    scp(&format!("root@[{addr}]:/etc/corosync/qnetd/nssdb/qnetd-cacert.crt"), &ca.to_string_lossy())?;
    println!();
    for m in &mem {
        let out = on_member(m, "corosync-qdevice-net-certutil -i -c /etc/pve/qnetd-cacert.crt")?;
        print_prefixed(&m.name, &out);
    }
    let _ = std::fs::remove_file(&ca);

    println!("\nINFO: generating cert request");
    checked_local("corosync-qdevice-net-certutil", &["-r", "-n", &cluster])?;

    println!("\nINFO: copying exported cert request to qnetd server");
    scp("/etc/corosync/qdevice/net/nssdb/qdevice-net-node.crq", &format!("root@[{addr}]:/tmp"))?;

    println!("\nINFO: sign and export cluster cert");
    let out = qnetd_ssh(&addr, &format!("corosync-qnetd-certutil -s -c /tmp/qdevice-net-node.crq -n {cluster}"))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(die(format!(
            "command 'ssh -o BatchMode=yes -lroot {addr} corosync-qnetd-certutil -s -c /tmp/qdevice-net-node.crq -n {cluster}' failed: exit code {}",
            out.status.code().unwrap_or(1)
        )));
    }

    println!("\nINFO: copy exported CRT");
    scp(&format!("root@[{addr}]:/etc/corosync/qnetd/nssdb/cluster-{cluster}.crt"), "/etc/corosync/qdevice/net/nssdb/")?;

    println!("\nINFO: import certificate");
    checked_local("corosync-qdevice-net-certutil", &["-M", "-c", &format!("/etc/corosync/qdevice/net/nssdb/cluster-{cluster}.crt")])?;

    println!("\nINFO: copy and import pk12 cert to all nodes");
    let p12 = pmxcfs::pve_path("qdevice-net-node.p12");
    std::fs::copy("/etc/corosync/qdevice/net/nssdb/qdevice-net-node.p12", &p12)?;
    println!();
    for m in &mem {
        let out = on_member(m, "corosync-qdevice-net-certutil -m -c /etc/pve/qdevice-net-node.p12")?;
        print_prefixed(&m.name, &out);
    }
    let _ = std::fs::remove_file(&p12);

    println!("INFO: add QDevice to cluster configuration");
    {
        let _lock = pmxcfs::cfs_lock("corosync.conf")?;
        let Some(mut conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
        if conf.has_quorum_device() {
            return Err(die("Qdevice already configured, must be removed before setting up new one!"));
        }
        conf.set_quorum_device(Some(&QuorumDevice {
            model: "net".into(),
            votes: if algorithm == "ffsplit" { Some(1) } else { None },
            host: addr.clone(),
            algorithm: algorithm.into(),
            tls: "on".into(),
        }));
        let v = pmxcfs::write_corosync_conf(&mut conf)?;
        pmxcfs::distribute_corosync_conf(&conf, v, true)?;
    }
    for m in &mem {
        println!("\nINFO: start and enable corosync qdevice daemon on node '{}'...", m.name);
        let out = on_member(m, "systemctl start corosync-qdevice")?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err(die(format!("command 'systemctl start corosync-qdevice' failed on node '{}': exit code {}", m.name, out.status.code().unwrap_or(1))));
        }
        let out = on_member(m, "systemctl enable corosync-qdevice")?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        print!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let (code, out) = corosync::cfgtool_reload();
    print!("{out}");
    if code != 0 {
        return Err(die(format!("command 'corosync-cfgtool -R' failed: exit code {code}")));
    }
    Ok(0)
}

fn qdevice_remove(args: &[String]) -> Result<i32> {
    cli::parse(args, &[], Some(0), &usage("qdevice remove"))?;
    prepare()?;
    let Some(conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
    require_all_online(&conf)?;
    if !conf.has_quorum_device() {
        return Err(die("No QDevice configured!"));
    }
    let mem = members(&conf)?;
    {
        let _lock = pmxcfs::cfs_lock("corosync.conf")?;
        let Some(mut conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
        conf.set_quorum_device(None);
        let v = pmxcfs::write_corosync_conf(&mut conf)?;
        pmxcfs::distribute_corosync_conf(&conf, v, true)?;
    }
    for m in &mem {
        let _ = on_member(m, "rm -rf /etc/corosync/qdevice");
    }
    for m in &mem {
        let _ = on_member(m, "systemctl stop corosync-qdevice");
        let out = on_member(m, "systemctl disable corosync-qdevice")?;
        print!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let (_, out) = corosync::cfgtool_reload();
    print!("{out}");
    println!("\nRemoved Qdevice.");
    Ok(0)
}

pub fn main(args: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("ERROR: no command specified");
        return Ok(255);
    };
    match cmd.as_str() {
        "create" => create(rest),
        "add" => add(rest),
        "addnode" => addnode(rest),
        "delnode" => delnode(rest),
        "status" => {
            cli::parse(rest, &[], Some(0), &usage("status"))?;
            prepare()?;
            let Some(conf) = pmxcfs::read_corosync_conf()? else { return Err(die(NOT_CLUSTERED)) };
            // Header + exec `corosync-quorumtool -siH`; exit code is the tool's (pve-cli.md §2.5).
            exec_tool(Some(render::pvecm_status_header(&conf)), &["-siH"])
        }
        "nodes" => {
            cli::parse(rest, &[], Some(0), &usage("nodes"))?;
            prepare()?;
            if !pmxcfs::clustered() {
                return Err(die(NOT_CLUSTERED));
            }
            exec_tool(None, &["-l"])
        }
        "expected" => {
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvecm expected <expected>\n")?;
            let n: u32 = a.pos[0].parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                param_err("expected", "value must have a minimum value of 1", "USAGE: pvecm expected <expected>\n")
            })?;
            prepare()?;
            if !pmxcfs::clustered() {
                return Err(die(NOT_CLUSTERED));
            }
            exec_tool(None, &["-e", &n.to_string()])
        }
        "updatecerts" => updatecerts(rest),
        "apiver" => {
            println!("{JOIN_API_VERSION}");
            Ok(0)
        }
        "keygen" => {
            let a = cli::parse(rest, &[], Some(1), "USAGE: pvecm keygen <filename>\n")?;
            let out = sys::run_checked("corosync-keygen", &["-lk", &a.pos[0]])?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            Ok(0)
        }
        "qdevice" => match rest.split_first() {
            Some((s, r)) if s == "setup" => qdevice_setup(r),
            Some((s, r)) if s == "remove" => qdevice_remove(r),
            _ => Err(die("USAGE: pvecm qdevice <setup|remove> ...")),
        },
        other => Err(die(format!("unknown command 'pvecm {other}'"))),
    }
}
