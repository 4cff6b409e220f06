//! The yum repository end to end with real tools: RPMs built here with `rpmbuild`, bundled by
//! `cairn bundle build` (repodata generated in Rust), checked by `cairn bundle verify`, served by
//! `cairn serve` on loopback, and used by real `dnf` (Debian's dnf 4, `--installroot`) as its
//! only repository: `makecache`, then `install` of a package whose dependencies are versioned,
//! virtual (`Provides:`), on a file outside the primary paths, and with an epoch. A requirement
//! no package satisfies must make dnf refuse. Then the `dnf` module runs against the same
//! repository (local connection: real dnf on the controller, in an installroot).
//!
//! Needs rpm (rpmbuild) and dnf on the controller, and root (dnf's installroot); no lab host.
//! Behind the `lab` feature because CI runs that set as root. Paths: a scratch dir under /tmp.

use cairn_tests::{Served, cairn_bin, scratch};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

/// Spec files for the test's packages: name, then the lines after the common preamble, then
/// the files each ships (created by %install).
const PACKAGES: &[(&str, &str, &str)] = &[
    ("libfoo", "Version: 1.1\n", "/usr/share/libfoo/v"),
    ("libfoo", "Version: 1.3\n", "/usr/share/libfoo/v"),
    (
        "httpd-lite",
        "Version: 1.0\nEpoch: 2\nProvides: webserver\n",
        "/usr/share/httpd-lite/index.html",
    ),
    (
        "cairn-data",
        "Version: 0.5\n",
        "/usr/share/cairn-data/data.txt",
    ),
    (
        "cairn-tool",
        "Version: 3.0\nRequires: libfoo >= 1.2\nRequires: webserver\n\
         Requires: httpd-lite >= 2:1.0\nRequires: /usr/share/cairn-data/data.txt\n",
        "/usr/bin/cairn-tool",
    ),
    (
        "needs-new",
        "Version: 1.0\nRequires: libfoo >= 2.0\n",
        "/usr/share/needs-new/x",
    ),
];

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Builds every package of [`PACKAGES`] into `dir/rpms/`.
fn build_rpms(dir: &Path) {
    let top = dir.join("rpmbuild");
    for (i, (name, extra, file)) in PACKAGES.iter().enumerate() {
        let spec = dir.join(format!("{i}-{name}.spec"));
        let parent = Path::new(file).parent().unwrap().display().to_string();
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\n{extra}Release: 1\nSummary: cairn yum test package {name}\n\
                 License: MIT\nBuildArch: noarch\nAutoReqProv: no\n\
                 %description\nTest package.\n%prep\n%build\n%install\n\
                 mkdir -p %{{buildroot}}{parent}\necho {name} > %{{buildroot}}{file}\n\
                 %files\n{file}\n"
            ),
        )
        .unwrap();
        ok(Command::new("rpmbuild")
            .args(["--quiet", "-bb", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_build_id_links none"])
            .arg(&spec));
    }
    std::fs::create_dir_all(dir.join("rpms")).unwrap();
    for e in std::fs::read_dir(top.join("RPMS/noarch")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join("rpms").join(p.file_name().unwrap())).unwrap();
    }
}

/// dnf with the served repository as its only one, everything inside `root`.
fn dnf(root: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new("dnf");
    c.arg("-y")
        .arg(format!("--installroot={}", root.display()))
        .args([
            "--releasever=9",
            "--setopt=reposdir=/dev/null",
            "--nogpgcheck",
            // Debian's dnf.conf skips broken repositories silently: a bad repo must fail here.
            "--setopt=skip_if_unavailable=False",
            "--setopt=cairn.metadata_expire=0",
            "--repo=cairn",
        ])
        .arg(format!("--repofrompath=cairn,{url}"))
        .args(args);
    c
}

/// The test packages built into a bundle under `dir`, verified, and served on a free loopback
/// port: the server and its address.
fn serve_test_bundle(dir: &Path) -> (Served, SocketAddr) {
    build_rpms(dir);
    std::fs::write(
        dir.join("yum.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: yum\nversion: 0.0.1\nrpms:\n  dirs: [rpms]\n",
    )
    .unwrap();
    ok(Command::new(cairn_bin())
        .args(["bundle", "build", "yum.yaml", "--out", "."])
        .current_dir(dir));
    let bundle = dir.join("yum-0.0.1.cairn");
    ok(Command::new(cairn_bin())
        .args(["bundle", "verify"])
        .arg(&bundle));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    (Served::start(&bundle, addr, &[]), addr)
}

#[test]
fn dnf_installs_with_dependencies_from_the_served_bundle() {
    let dir = scratch("yum");
    let (server, addr) = serve_test_bundle(&dir);
    let url = format!("http://{addr}/repo/rpm/");
    let root = dir.join("installroot");

    ok(&mut dnf(&root, &url, &["makecache"]));
    // File lists come from filelists.xml (the path is not a primary one).
    let listed = ok(&mut dnf(
        &root,
        &url,
        &["-q", "repoquery", "-l", "cairn-data"],
    ));
    assert!(
        listed.contains("/usr/share/cairn-data/data.txt"),
        "{listed}"
    );

    ok(&mut dnf(&root, &url, &["install", "cairn-tool"]));
    let installed = ok(Command::new("rpm").arg("--root").arg(&root).args([
        "-qa",
        "--qf",
        "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n",
    ]));
    let mut got: Vec<&str> = installed.lines().collect();
    got.sort();
    assert_eq!(
        got,
        [
            "cairn-data 0:0.5-1",
            "cairn-tool 0:3.0-1",
            "httpd-lite 2:1.0-1",
            "libfoo 0:1.3-1"
        ],
        "what dnf installed"
    );

    // A versioned requirement nothing in the repository satisfies is refused.
    let o = run(&mut dnf(&root, &url, &["install", "needs-new"]));
    let err = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "needs-new installed: {err}");
    assert!(err.contains("nothing provides libfoo >= 2.0"), "{err}");

    let (_, log) = server.stop();
    for want in [
        "0 packages under /repo/deb/, 6 packages under /repo/rpm/",
        "GET /repo/rpm/repodata/repomd.xml 200",
        "-primary.xml.gz 200",
        "-filelists.xml.gz 200",
        "GET /repo/rpm/Packages/libfoo-1.3-1.noarch.rpm 200",
    ] {
        assert!(log.contains(want), "{want} in the access log:\n{log}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `dnf` module itself (local connection, so real dnf on the controller), against the
/// served repository through a `.repo` file inside an installroot — the way the `repo` role
/// points an EL host at the installer: install a pinned old version, `latest` in check mode
/// (would change, changes nothing), `latest` (upgrades), a package with dependencies, the
/// same again (`changed=false`), a package nothing can satisfy (failed, with dnf's reason),
/// and `absent` twice. Every step is asserted in the playbook and on the rpm database.
#[test]
fn the_dnf_module_installs_upgrades_and_removes_from_the_served_bundle() {
    let dir = scratch("yum-module");
    let (server, addr) = serve_test_bundle(&dir);

    let root = dir.join("installroot");
    let repos = root.join("etc/yum.repos.d");
    std::fs::create_dir_all(&repos).unwrap();
    std::fs::write(
        repos.join("cairn.repo"),
        format!(
            "[cairn]\nname=Cairn installer\nbaseurl=http://{addr}/repo/rpm/\nenabled=1\n\
             gpgcheck=0\nskip_if_unavailable=False\nmetadata_expire=0\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("inventory"),
        "controller ansible_connection=local\n",
    )
    .unwrap();
    let root_s = root.display().to_string();
    let playbook = format!(
        r#"- hosts: controller
  gather_facts: false
  vars:
    r: {root_s}
  tasks:
    - name: an old version, pinned
      dnf: {{name: libfoo-1.1, installroot: "{{{{ r }}}}", releasever: "9", disablerepo: "*", enablerepo: cairn}}
      register: old
    - assert: {{that: [old is changed, "old.results | select('search', 'libfoo-1.1-1') | list | length == 1"]}}
    - name: latest, in check mode
      dnf: {{name: libfoo, state: latest, installroot: "{{{{ r }}}}", releasever: "9"}}
      check_mode: true
      register: would
    - command: rpm --root {{{{ r }}}} -q --qf '%{{VERSION}}' libfoo
      register: v1
      changed_when: false
    - assert: {{that: [would is changed, "v1.stdout == '1.1'"]}}
    - name: latest
      dnf: {{name: libfoo, state: latest, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: up
    - command: rpm --root {{{{ r }}}} -q --qf '%{{VERSION}}' libfoo
      register: v2
      changed_when: false
    - assert: {{that: [up is changed, "v2.stdout == '1.3'"]}}
    - name: latest again
      dnf: {{name: libfoo, state: latest, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: up2
    - assert: {{that: [up2 is not changed]}}
    - name: a package with dependencies (versioned, virtual, on a file, with an epoch)
      dnf: {{name: cairn-tool, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: tool
    - assert: {{that: [tool is changed, "tool.results | select('search', 'httpd-lite') | list | length == 1"]}}
    - name: the same again
      dnf: {{name: [cairn-tool, webserver], installroot: "{{{{ r }}}}", releasever: "9"}}
      register: tool2
    - assert: {{that: [tool2 is not changed, "tool2.msg == 'Nothing to do'"]}}
    - name: nothing satisfies its requirement
      dnf: {{name: needs-new, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: bad
      ignore_errors: true
    - assert: {{that: [bad is failed, "'nothing provides libfoo >= 2.0' in bad.msg"]}}
    - name: removed
      dnf: {{name: cairn-tool, state: absent, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: gone
    - name: removed again
      dnf: {{name: cairn-tool, state: absent, installroot: "{{{{ r }}}}", releasever: "9"}}
      register: gone2
    - assert: {{that: [gone is changed, gone2 is not changed]}}
"#
    );
    std::fs::write(dir.join("dnf.yml"), playbook).unwrap();
    let o = run(Command::new(cairn_bin())
        .args(["play", "dnf.yml", "-i", "inventory", "--state-dir", "state"])
        .current_dir(&dir));
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "cairn play failed:\n{text}");
    assert!(
        text.contains("controller") && text.contains("failed=0") && text.contains("ignored=1"),
        "{text}"
    );
    let installed = ok(Command::new("rpm").arg("--root").arg(&root).args([
        "-qa",
        "--qf",
        "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n",
    ]));
    let mut got: Vec<&str> = installed.lines().collect();
    got.sort();
    // libfoo was asked for by name; cairn-tool's dependencies left with it (dnf's
    // clean_requirements_on_remove, as with Ansible's dnf module).
    assert_eq!(got, ["libfoo 0:1.3-1"], "what the module left installed");
    let (_, log) = server.stop();
    assert!(
        log.contains("GET /repo/rpm/Packages/cairn-tool-3.0-1.noarch.rpm 200"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
