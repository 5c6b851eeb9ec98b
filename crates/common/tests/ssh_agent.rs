//! Agent authentication against the test sshd, with a real ssh-agent holding the key.
//! Its own test binary: it sets SSH_AUTH_SOCK for the whole process.

mod support;

use common::ssh::{Auth, Session};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{require_root, TestSshd};

#[test]
fn agent_auth_uses_the_agents_identities() {
    if !require_root("agent_auth_uses_the_agents_identities") {
        return;
    }
    let sshd = TestSshd::start();
    let sock = sshd.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("starting ssh-agent");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not create {}", sock.display());
        std::thread::sleep(Duration::from_millis(20)); // poll interval
    }
    let added = Command::new("ssh-add").arg(&sshd.client_key).env("SSH_AUTH_SOCK", &sock).output().unwrap();
    assert!(added.status.success(), "ssh-add: {}", String::from_utf8_lossy(&added.stderr));
    std::env::set_var("SSH_AUTH_SOCK", &sock);

    let mut t = sshd.target();
    t.auth = Auth::Agent;
    let result = Session::connect(&t).map(|s| s.exec("echo via-agent", None).map(|o| o.stdout));
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(result.unwrap_or_else(|e| panic!("{e}\n{}", sshd.log())).unwrap(), "via-agent\n");
}
