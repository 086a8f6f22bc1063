//! integrations/ansible/rolling.yml run by the real `ansible-playbook` over a 5-host local
//! inventory (`ansible_connection=local`), each host its own MOBIUS root and its own
//! mobius-demo: a good release reaches all five; a release that breaks host 3 leaves hosts
//! 1-2 on it, host 3 rolled back by its monitor and healthy, hosts 4-5 untouched, and the
//! play failed naming host 3 and the rule that fired; a host that breaks after its own
//! window is caught by the fleet gate (one probe over the hosts done, `mobius-judge --quorum`)
//! before the next batch; a release that fails its smoke tests is rolled back at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deploy scripts are bash, and Ansible's controller does not run on Windows.
#![cfg(unix)]

use mobius_core::records::{Decision, Record, Rule};
use mobius_tests::{
    bin_dir, ensure_bins, http_get, records, repo_dir, temp_root, tree_files, Demo,
};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENV: &str = "staging";
/// The version the shipped config/staging/app.json says.
const SHIPPED: &str = "1.4.2-rc1";
const HOSTS: usize = 5;

/// Whether ansible-playbook can run; a missing one fails under CI (.ci/run installs it).
fn have_ansible() -> bool {
    match Command::new("ansible-playbook").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        other => {
            mobius_tests::component_missing(&format!(
                "a usable ansible-playbook ({other:?}; scripts/dev-setup.sh installs it)"
            ));
            false
        }
    }
}

/// One host of the fleet: its root and its demo service.
struct Host {
    root: tempfile::TempDir,
    demo: Demo,
}

impl Host {
    fn start() -> Host {
        let root = temp_root();
        let demo = Demo::start(root.path(), ENV);
        demo.point_config_at_me(root.path(), ENV);
        Host { root, demo }
    }

    fn version(&self) -> String {
        let (status, body) = http_get(&format!("{}/api/version", self.demo.url)).unwrap();
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["version"].as_str().unwrap().to_owned()
    }

    fn health(&self) -> Option<u16> {
        http_get(&format!("{}/health", self.demo.url)).map(|(s, _)| s)
    }

    fn config(&self) -> Config {
        tree_files(&self.root.path().join("config"))
    }

    /// Every record of every monitoring log this host wrote.
    fn monitor_records(&self) -> Vec<Record> {
        let dir = self.root.path().join("monitor_logs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        // The logs only: each has its report (.html) beside it.
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .flat_map(|p| records(&std::fs::read(p).unwrap()))
            .collect()
    }
}

/// Runs rolling.yml over `hosts` with `release`; `broken` (1-based) gets a release that
/// answers 30 % of its requests with 500 (its smoke checks still pass: the first failure is
/// the 4th request). Gives the exit code and stdout+stderr.
fn run_playbook(hosts: &[Host], release: &str, broken: Option<usize>) -> (Option<i32>, String) {
    let deploy = repo_dir().join("integrations/ansible/examples/deploy_demo.yml");
    run_playbook_with(hosts, release, broken, &deploy, &[])
}

/// `run_playbook` with another deploy task file and extra (host number, name, value) vars.
fn run_playbook_with(
    hosts: &[Host],
    release: &str,
    broken: Option<usize>,
    deploy: &std::path::Path,
    extra: &[(usize, &str, Value)],
) -> (Option<i32>, String) {
    ensure_bins();
    let work = tempfile::tempdir().unwrap();
    let mut inv_hosts = serde_json::Map::new();
    for (i, host) in hosts.iter().enumerate() {
        let mut vars = json!({
            "ansible_connection": "local",
            "mobius_root": host.root.path(),
        });
        if broken == Some(i + 1) {
            vars["demo_behaviour"] = json!({"error_share": 0.3});
        }
        for (_, name, value) in extra.iter().filter(|(n, _, _)| *n == i + 1 && *n > 0) {
            vars[*name] = value.clone();
        }
        inv_hosts.insert(format!("host{}", i + 1), vars);
    }
    let mut group = json!({
        "mobius_env": ENV,
        "mobius_deploy_tasks": deploy,
        "mobius_bin_dir": bin_dir(),
        "mobius_monitor_duration": "4s",
        "mobius_monitor_interval": "500ms",
        "mobius_gate_interval": "200ms",
    });
    // Host number 0 means the group's vars, or a command-line "-e" when named so.
    let mut cli_vars = Vec::new();
    for (_, name, value) in extra.iter().filter(|(n, _, _)| *n == 0) {
        if *name == "-e" {
            cli_vars.extend([
                "-e".to_owned(),
                value.as_str().unwrap_or_default().to_owned(),
            ]);
        } else {
            group[*name] = value.clone();
        }
    }
    let inventory = json!({"fleet": {"hosts": inv_hosts, "vars": group}});
    let inv_path = work.path().join("inventory.json");
    std::fs::write(&inv_path, serde_json::to_vec_pretty(&inventory).unwrap()).unwrap();
    let out_path = work.path().join("out.log");
    let out = std::fs::File::create(&out_path).unwrap();
    let home = work.path().join("ansible");
    let mut child = Command::new("ansible-playbook")
        .arg("-i")
        .arg(&inv_path)
        .arg(repo_dir().join("integrations/ansible/rolling.yml"))
        .args(["-e", &format!("mobius_release={release}")])
        .args(&cli_vars)
        // Quiet, local and self-contained: no ansible.cfg of the caller, no ~/.ansible.
        .current_dir(work.path())
        .env("ANSIBLE_CONFIG", work.path().join("none.cfg"))
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", home.join("remote_tmp"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_PYTHON_INTERPRETER", "python3")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        // Its own process group, so the hang guard can stop the scripts it started too.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run ansible-playbook");
    // Hang guard, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "ansible-playbook hung; output so far:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status.code(), std::fs::read_to_string(&out_path).unwrap())
}

type Config = std::collections::BTreeMap<PathBuf, Vec<u8>>;

/// Five hosts and each one's config before the run, or None (skipped) without Ansible.
fn fleet() -> Option<(Vec<Host>, Vec<Config>)> {
    if !have_ansible() {
        return None;
    }
    let hosts: Vec<Host> = (0..HOSTS).map(|_| Host::start()).collect();
    let before = hosts.iter().map(Host::config).collect();
    Some((hosts, before))
}

#[test]
fn a_good_release_reaches_every_host() {
    let Some((hosts, _)) = fleet() else {
        return;
    };
    let (code, out) = run_playbook(&hosts, "2.0.0", None);
    assert_eq!(code, Some(0), "{out}");
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(host.version(), "2.0.0", "host{}: {out}", i + 1);
        assert_eq!(host.health(), Some(200), "host{}", i + 1);
        let verdicts: Vec<_> = host
            .monitor_records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Verdict(v) if v.target == "*" && v.decision != Decision::Continue => {
                    Some(v)
                }
                _ => None,
            })
            .collect();
        assert_eq!(verdicts.len(), 1, "host{}: {verdicts:?}", i + 1);
        assert_eq!(verdicts[0].decision, Decision::Pass, "host{}", i + 1);
    }
    assert!(
        out.contains("MOBIUS rollout of 2.0.0 done on host1, host2, host3, host4, host5"),
        "{out}"
    );
}

#[test]
fn batches_of_two_reach_every_host_with_a_gate_after_each_batch() {
    let Some((hosts, _)) = fleet() else {
        return;
    };
    let deploy = repo_dir().join("integrations/ansible/examples/deploy_demo.yml");
    // Set only in the inventory, serial cannot take effect: the play refuses, deploying nothing.
    let extra = [(0, "mobius_serial", json!(2))];
    let (code, out) = run_playbook_with(&hosts, "2.1.0", None, &deploy, &extra);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("-e mobius_serial=2"), "{out}");
    assert!(hosts.iter().all(|h| h.version() != "2.1.0"), "{out}");
    // On the command line it does.
    let extra = [(0, "-e", json!("mobius_serial=2"))];
    let (code, out) = run_playbook_with(&hosts, "2.1.0", None, &deploy, &extra);
    assert_eq!(code, Some(0), "{out}");
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(host.version(), "2.1.0", "host{}: {out}", i + 1);
    }
    // 5 hosts in batches of 2: three batches, so three runs of each per-batch task.
    let gates = out
        .matches("TASK [Fleet gate over every host done so far")
        .count();
    assert_eq!(gates, 3, "{out}");
    assert!(
        out.contains("MOBIUS rollout of 2.1.0 done on host1, host2, host3, host4, host5"),
        "{out}"
    );
}

#[test]
fn a_release_that_breaks_host_3_stops_the_rollout_there() {
    let Some((hosts, before)) = fleet() else {
        return;
    };
    let (code, out) = run_playbook(&hosts, "3.0.0", Some(3));
    assert_ne!(code, Some(0), "the play must fail: {out}");

    // Hosts 1-2 were done before host 3 and stay on the new release.
    for (i, host) in hosts[..2].iter().enumerate() {
        assert_eq!(host.version(), "3.0.0", "host{}: {out}", i + 1);
        assert_eq!(host.health(), Some(200));
    }

    // Host 3: its monitor called for rollback and restored the backup made before the deploy.
    let host3 = &hosts[2];
    let verdict = host3
        .monitor_records()
        .into_iter()
        .rev()
        .find_map(|r| match r {
            Record::Verdict(v) if v.target == "*" && v.decision == Decision::Rollback => Some(v),
            _ => None,
        })
        .unwrap_or_else(|| panic!("host3 has no rollback verdict: {out}"));
    let rule: Rule = verdict.rule.expect("a rollback names its rule");
    let rule_name = serde_json::to_value(rule).unwrap();
    let rule_name = rule_name.as_str().unwrap();
    assert_eq!(host3.version(), SHIPPED, "host3 is back on the old release");
    assert_eq!(host3.health(), Some(200), "host3 is healthy again");
    assert_eq!(
        host3.config(),
        before[2],
        "host3's config is the one before the deploy"
    );

    // Hosts 4-5 were never touched: no backup, no deploy, same config.
    for (i, host) in hosts.iter().enumerate().skip(3) {
        assert_eq!(host.version(), SHIPPED, "host{}", i + 1);
        assert_eq!(host.config(), before[i], "host{}", i + 1);
        assert!(!host.root.path().join("backups").exists(), "host{}", i + 1);
    }

    // The play's failure names host 3, the rule, and the hosts done.
    assert!(
        out.contains("stopped at host3: monitoring rolled release 3.0.0 back"),
        "{out}"
    );
    assert!(
        out.contains(&format!("rule {rule_name}: ")),
        "rule {rule_name} not named: {out}"
    );
    assert!(out.contains("Done (on 3.0.0): host1, host2."), "{out}");
    assert!(out.contains("Not reached: host4, host5."), "{out}");
    assert!(!out.contains("MOBIUS rollout of 3.0.0 done"), "{out}");
}

/// The deploy of host 3 also breaks host 1, which passed its own monitoring window already:
/// host 3's window passes, and the fleet gate after its batch, probing hosts 1-3 as one
/// fleet, stops the rollout before hosts 4-5.
#[test]
fn the_fleet_gate_stops_the_rollout_when_a_done_host_breaks() {
    let Some((hosts, before)) = fleet() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let deploy = work.path().join("deploy.yml");
    let example = repo_dir().join("integrations/ansible/examples/deploy_demo.yml");
    std::fs::write(
        &deploy,
        format!(
            r#"- ansible.builtin.include_tasks: "{}"
- name: Break a host that is done already
  ansible.builtin.replace:
    path: "{{{{ also_break }}}}"
    regexp: '"healthy": true'
    replace: '"healthy": false'
  when: also_break is defined
"#,
            example.display()
        ),
    )
    .unwrap();
    let host1_app = hosts[0]
        .root
        .path()
        .join("config")
        .join(ENV)
        .join("app.json");
    let (code, out) = run_playbook_with(
        &hosts,
        "3.0.0",
        None,
        &deploy,
        &[(3, "also_break", json!(host1_app))],
    );
    assert_ne!(code, Some(0), "the play must fail: {out}");
    assert_eq!(hosts[0].health(), Some(503), "host 1 is the broken one");
    for (i, host) in hosts[..3].iter().enumerate() {
        assert_eq!(host.version(), "3.0.0", "host{}: {out}", i + 1);
    }
    for (i, host) in hosts.iter().enumerate().skip(3) {
        assert_eq!(host.version(), SHIPPED, "host{}", i + 1);
        assert_eq!(host.config(), before[i], "host{}", i + 1);
    }
    assert!(
        out.contains(
            "stopped at host3: fleet gate failed after host3's batch (mobius-judge exit 1): "
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}/health", hosts[0].demo.url)),
        "the gate names host 1's URL: {out}"
    );
    assert!(
        out.contains("Done (on 3.0.0): host1, host2, host3."),
        "{out}"
    );
    assert!(out.contains("Not reached: host4, host5."), "{out}");
}

/// A release whose smoke tests fail (host 3 answers 503 on /health) is rolled back at once,
/// without waiting for a monitoring window, and stops the rollout the same way.
#[test]
fn a_release_that_fails_its_smoke_tests_is_rolled_back_and_stops_the_rollout() {
    let Some((hosts, before)) = fleet() else {
        return;
    };
    let deploy = repo_dir().join("integrations/ansible/examples/deploy_demo.yml");
    let (code, out) = run_playbook_with(
        &hosts,
        "3.0.0",
        None,
        &deploy,
        &[(3, "demo_behaviour", json!({"healthy": false}))],
    );
    assert_ne!(code, Some(0), "the play must fail: {out}");
    for (i, host) in hosts[..2].iter().enumerate() {
        assert_eq!(host.version(), "3.0.0", "host{}: {out}", i + 1);
    }
    let host3 = &hosts[2];
    assert_eq!(host3.version(), SHIPPED, "host3 is back on the old release");
    assert_eq!(host3.health(), Some(200), "host3 is healthy again");
    assert_eq!(host3.config(), before[2]);
    assert!(
        host3.monitor_records().is_empty(),
        "no monitoring after failed smoke tests"
    );
    for (i, host) in hosts.iter().enumerate().skip(3) {
        assert_eq!(host.config(), before[i], "host{}", i + 1);
    }
    assert!(
        out.contains(
            "stopped at host3: smoke tests failed (exit 1) for release 3.0.0; rolled back to "
        ),
        "{out}"
    );
    assert!(out.contains("Done (on 3.0.0): host1, host2."), "{out}");
    assert!(out.contains("Not reached: host4, host5."), "{out}");
}
