//! Records the git commit the binary is built from (`VENDOR_MATCH_COMMIT`),
//! for `--version` and the warehouse's loads table; `unknown` outside git.

use std::path::PathBuf;
use std::process::Command;

/// The trimmed output of `git ARGS`, if git ran and said something.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=VENDOR_MATCH_COMMIT={commit}");
    // A new commit changes HEAD or the branch it points at. In a linked
    // worktree `.git` is a file: HEAD is in its own git dir, the branches in
    // the common one.
    let git_dir = git(&["rev-parse", "--git-dir"]).map(PathBuf::from);
    let common_dir = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from);
    let watched = [
        git_dir.map(|dir| dir.join("HEAD")),
        common_dir.as_ref().map(|dir| dir.join("refs").join("heads")),
        common_dir.map(|dir| dir.join("packed-refs")),
    ];
    for path in watched.into_iter().flatten().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
