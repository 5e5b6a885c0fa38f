//! Stamps the build with the git commit so events carry `0.1.0+<sha>`
//! (`CFDEV_SHIM_GIT_SHA` names it instead when the source is not a checkout:
//! scripts/dist builds from an export of the commit), and sets the wrapper's
//! ELF entry point to the pre-libc exec path (src/forwarding/early.rs).
use std::process::Command;

fn main() {
    let sha = std::env::var("CFDEV_SHIM_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CFDEV_SHIM_GIT_SHA={sha}");
    // The exec path runs before the C runtime (src/forwarding/early.rs).
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ARCH") == "x86_64" {
        println!("cargo:rustc-link-arg-bin=cfdev-shim=-Wl,--entry=cfdev_shim_entry");
    }
    println!("cargo:rerun-if-env-changed=CFDEV_SHIM_GIT_SHA");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
