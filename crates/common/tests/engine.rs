//! The engine against a real sshd: converge, idempotency (second run = 0 changes, 1 round
//! trip), check mode on drift, handlers, failures and verification.

mod support;

use common::engine::resources::{Absent, Command, Directory, File, Packages, Symlink, User};
use common::engine::{converge, HostReport, Mode, Outcome, Resource, RunReport};
use common::ssh::Session;
use std::path::Path;
use support::{require_root, TestSshd};

fn resources(root: &Path) -> Vec<Box<dyn Resource>> {
    let app = root.join("app");
    let p = |name: &str| app.join(name).to_string_lossy().into_owned();
    let a_conf = p("a.conf");
    let marker = p("marker");
    let handler_log = root.join("handler.log").to_string_lossy().into_owned();
    vec![
        Box::new(Directory::new(&p(""), 0o750)),
        Box::new(File::new(&a_conf, "alpha = 1\nbeta = 2\ngamma = 3\n", 0o644).validated_by("grep -q alpha {}")),
        Box::new(File::new(&p("secret.conf"), "password = hunter2-test\n", 0o600).secret()),
        Box::new(Symlink::new(&p("current"), &a_conf)),
        Box::new(Unbatched { path: p("unbatched") }),
        Box::new(Absent::new(&p("old.txt"))),
        Box::new(Packages::new(&["dpkg"])), // installed here: exercises the real dpkg probe
        Box::new(root_user()),               // in state: exercises the real getent/id probe
        Box::new(Command::new(
            "marker",
            &format!("test -e '{marker}'"),
            |o| o.status == 0,
            "create the marker",
            &format!("touch '{marker}'"),
        )),
        Box::new(
            Command::new("reload app", "true", |_| true, "", &format!("echo reloaded >> '{handler_log}'"))
                .notified_by(&[&format!("file {a_conf}")]),
        ),
    ]
}

/// A resource without an apply script: the engine must send the batch before it, run it
/// alone, then batch what follows.
struct Unbatched {
    path: String,
}

impl Resource for Unbatched {
    fn id(&self) -> String {
        format!("unbatched {}", self.path)
    }
    fn probe(&self) -> String {
        format!("test -e '{}'", self.path)
    }
    fn evaluate(&self, observed: &common::engine::Observed) -> anyhow::Result<common::engine::Status> {
        Ok(if observed.status == 0 { common::engine::Status::InState } else { common::engine::Status::change("create") })
    }
    fn apply(&self, session: &Session) -> anyhow::Result<()> {
        // Only runs if the batch before it has: the symlink must exist already.
        let out = session.exec_root(&format!("test -L \"$(dirname '{0}')/current\" && touch '{0}'", self.path), None)?;
        session.check("unbatched", out).map(drop)
    }
}

/// root as it is on this machine (the test must not change real accounts).
fn root_user() -> User {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let f: Vec<&str> = passwd.lines().find(|l| l.starts_with("root:")).unwrap().split(':').collect();
    User { shell: f[6].to_string(), home: f[5].to_string(), groups: vec!["root".into()], ..User::new("root") }
}

fn outcome<'a>(r: &'a HostReport, id_prefix: &str) -> &'a common::engine::ResourceResult {
    r.results.iter().find(|x| x.id.starts_with(id_prefix)).unwrap_or_else(|| panic!("no result {id_prefix}: {r:?}"))
}

#[test]
fn converges_then_second_run_is_one_round_trip_then_check_reports_drift() {
    if !require_root("converges_then_second_run_is_one_round_trip_then_check_reports_drift") {
        return;
    }
    let sshd = TestSshd::start();
    let root = sshd.dir.path().join("engine");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/old.txt"), "stale").unwrap();
    let want = resources(&root);
    let s = Session::connect(&sshd.target()).unwrap();

    // 1. First run: everything but the package changes; handler runs once.
    let first = converge(&s, &want, Mode::Apply);
    let text = RunReport::new("test", vec![first.clone()]).render_human(1);
    assert!(first.error.is_none() && !first.has_failures(), "{text}");
    assert_eq!(first.changed_count(), 8, "{text}");
    assert_eq!(outcome(&first, "packages").outcome, Outcome::Ok);
    assert_eq!(outcome(&first, "user root").outcome, Outcome::Ok);
    assert_eq!(outcome(&first, "reload app").summary, format!("ran (notified by file {})", root.join("app/a.conf").display()));
    // observe + one batch (directory, 2 files, symlink) + the unbatched one alone + one batch
    // (absent, marker, handler) + verify
    assert_eq!(first.round_trips, 5, "{text}");
    assert!(root.join("app/unbatched").exists());
    assert_eq!(std::fs::read_to_string(root.join("app/a.conf")).unwrap(), "alpha = 1\nbeta = 2\ngamma = 3\n");
    assert_eq!(std::fs::read_link(root.join("app/current")).unwrap(), root.join("app/a.conf"));
    assert!(!root.join("app/old.txt").exists());
    assert!(root.join("app/marker").exists());
    assert_eq!(std::fs::read_to_string(root.join("handler.log")).unwrap(), "reloaded\n");
    assert!(!text.contains("hunter2-test"), "secret content leaked:\n{text}");

    // 2. Second run: zero changes, exactly one round trip, handler not run.
    let second = converge(&s, &want, Mode::Apply);
    assert_eq!(second.changes(), 0, "{}", second.render(1));
    assert_eq!(second.ok_count(), want.len());
    assert_eq!(second.round_trips, 1);
    assert_eq!(std::fs::read_to_string(root.join("handler.log")).unwrap(), "reloaded\n");

    // 3. Drift, then --check: would change with a diff, nothing touched, exit code 2.
    std::fs::write(root.join("app/a.conf"), "alpha = 1\nbeta = 20\ngamma = 3\n").unwrap();
    std::fs::write(root.join("app/secret.conf"), "password = drifted-secret\n").unwrap();
    let check = converge(&s, &want, Mode::Check);
    assert_eq!(check.round_trips, 1);
    let a = outcome(&check, "file ");
    assert_eq!(a.outcome, Outcome::WouldChange);
    let diff = a.diff.as_deref().unwrap();
    assert!(diff.contains("-beta = 20\n+beta = 2\n"), "{diff}");
    let sec = outcome(&check, &format!("file {}", root.join("app/secret.conf").display()));
    assert_eq!(sec.outcome, Outcome::WouldChange);
    assert!(sec.diff.is_none() && sec.summary.starts_with("content differs ("), "{sec:?}");
    assert_eq!(outcome(&check, "reload app").outcome, Outcome::WouldChange);
    let run = RunReport::new("test", vec![check]);
    assert_eq!(run.exit_code(Mode::Check), 2);
    let human = run.render_human(0);
    assert!(!human.contains("drifted-secret") && !human.contains("hunter2-test"), "{human}");
    assert!(human.contains("      -beta = 20"), "{human}");
    assert!(human.contains("sshd-test: 7 ok, 0 changed, 3 would change, 0 failed"), "{human}");
    let json = run.to_json();
    assert_eq!(json["changes"], 3);
    assert_eq!(json["hosts"][0]["round_trips"], 1);
    assert_eq!(std::fs::read_to_string(root.join("app/a.conf")).unwrap(), "alpha = 1\nbeta = 20\ngamma = 3\n");
    assert_eq!(std::fs::read_to_string(root.join("handler.log")).unwrap(), "reloaded\n");
}

#[test]
fn failures_stop_the_host_and_unconverged_changes_are_caught() {
    if !require_root("failures_stop_the_host_and_unconverged_changes_are_caught") {
        return;
    }
    let sshd = TestSshd::start();
    let root = sshd.dir.path().join("fail");
    std::fs::create_dir_all(root.join("is-a-dir")).unwrap();
    let s = Session::connect(&sshd.target()).unwrap();

    // A validator that rejects: the apply fails, later resources are skipped.
    let rejected = root.join("rejected.conf").to_string_lossy().into_owned();
    let want: Vec<Box<dyn Resource>> = vec![
        Box::new(File::new(&rejected, "no\n", 0o644).validated_by("grep -q yes {}")),
        Box::new(Directory::new(&root.join("after").to_string_lossy(), 0o755)),
    ];
    let r = converge(&s, &want, Mode::Apply);
    assert!(matches!(&r.results[0].outcome, Outcome::Failed(why) if why.contains("was not changed")), "{r:?}");
    assert_eq!(r.results[1].outcome, Outcome::Skipped);
    assert!(!Path::new(&rejected).exists() && !root.join("after").exists());
    assert_eq!(RunReport::new("t", vec![r]).exit_code(Mode::Apply), 1);

    // A file where a directory is: evaluate refuses with a clear message.
    let dir_path = root.join("is-a-dir").to_string_lossy().into_owned();
    let want: Vec<Box<dyn Resource>> = vec![Box::new(File::new(&dir_path, "x", 0o644))];
    let r = converge(&s, &want, Mode::Check);
    assert!(matches!(&r.results[0].outcome, Outcome::Failed(why) if why.contains("is a directory")), "{r:?}");

    // An apply that does not achieve the state is reported as not converged.
    let want: Vec<Box<dyn Resource>> =
        vec![Box::new(Command::new("never", "false", |o| o.status == 0, "make it true", "true"))];
    let r = converge(&s, &want, Mode::Apply);
    assert!(matches!(&r.results[0].outcome, Outcome::Failed(why) if why.starts_with("did not converge")), "{r:?}");
    assert_eq!(r.round_trips, 3);
}

/// An edit computed from the observation must not overwrite what an earlier change of the
/// same batch put there (a package's postinst creating the file it edits): the edit's script
/// finds the file changed, reports itself stale, and the engine applies it on its own, so the
/// edit lands on the new content and the changes after it still run.
#[test]
fn an_edit_made_stale_by_an_earlier_change_applies_to_the_new_content() {
    if !require_root("an_edit_made_stale_by_an_earlier_change_applies_to_the_new_content") {
        return;
    }
    use common::baseline::resources::EditedFile;
    let sshd = TestSshd::start();
    let root = sshd.dir.path().join("stale");
    std::fs::create_dir_all(&root).unwrap();
    let conf = root.join("daemon.conf").to_string_lossy().into_owned();
    let after = root.join("after").to_string_lossy().into_owned();
    let want: Vec<Box<dyn Resource>> = vec![
        // Like a package install: creates the file with its own default content.
        Box::new(Command::new("install daemon", &format!("test -e '{conf}'"), |o| o.status == 0, "install", &format!(
            "printf 'shipped = yes\\n' > '{conf}'"
        ))),
        Box::new(EditedFile::new(&conf, "set ours", |cur| {
            let cur = cur.unwrap_or("");
            Some(if cur.contains("ours = 1\n") { cur.to_string() } else { format!("{cur}ours = 1\n") })
        })),
        Box::new(Directory::new(&after, 0o755)),
    ];
    let s = Session::connect(&sshd.target()).unwrap();
    let r = converge(&s, &want, Mode::Apply);
    let text = RunReport::new("t", vec![r.clone()]).render_human(1);
    assert!(r.error.is_none() && !r.has_failures(), "{text}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "shipped = yes\nours = 1\n", "the edit lost the new content");
    assert!(Path::new(&after).is_dir(), "the change after the stale one did not run");
    // observe, batch (cut at the stale edit), read + upload of the edit, batch (the rest), verify
    assert_eq!(r.round_trips, 6, "{text}");
    let again = converge(&s, &want, Mode::Apply);
    assert_eq!((again.changes(), again.round_trips), (0, 1), "{}", again.render(1));
}
