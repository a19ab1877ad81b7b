//! Names the commit the binary is built from, for `--version`: the short hash, with
//! `-modified` when the work tree had changes, or `unknown` outside a git checkout
//! (a crate tarball). Rebuilt only when HEAD moves or the index changes.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).map(|hash| {
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        if dirty {
            format!("{hash}-modified")
        } else {
            hash
        }
    });
    println!(
        "cargo:rustc-env=CLOUDPC_PARTNERS_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
