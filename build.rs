//! Names the commit the binary is built from, for `--version`: the short hash, or
//! `unknown` outside a git checkout (a crate tarball). It reruns only when HEAD
//! moves. It asks git nothing that writes (no `git status`, which refreshes the
//! index), so a build never makes the next one stale.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=CLOUDPC_PARTNERS_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
