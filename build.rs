//! Builds the built-in judges (the crates under `judges/` that coalmine embeds) for `wasm32-wasip2` and puts
//! the components in `OUT_DIR`, where `src/judge_host/builtin.rs` includes them.
//!
//! The judges are built by nested `cargo build`s into `<target>/judges`, a target directory of their own so
//! that the nested builds never wait for the lock the outer build holds. Each judge gets a build of its own:
//! `coalmine-v1` links the Mann-Whitney judge as a library without its component export, and one build of
//! both packages would unify the Mann-Whitney crate's features and export both judges from one component.
//!
//! It also lists the judge SDK's sources and the WIT for `coalmine plugin new`, which writes them beside a new
//! judge crate (`OUT_DIR/sdk_files.rs`, included by `src/cli/plugin_sdk.rs`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "wasm-judge";
/// Each built-in judge: its package and the file name of its component.
const JUDGES: &[(&str, &str)] = &[
    ("coalmine-mann-whitney", "coalmine_mann_whitney.wasm"),
    ("coalmine-v1", "coalmine_v1.wasm"),
    ("coalmine-sequential", "coalmine_sequential.wasm"),
];

fn main() {
    for path in [
        "wit",
        "judges/sdk/src",
        "judges/sdk/Cargo.toml",
        "judges/mann-whitney/src",
        "judges/mann-whitney/Cargo.toml",
        "judges/coalmine-v1/src",
        "judges/coalmine-v1/Cargo.toml",
        "judges/coalmine-sequential/src",
        "judges/coalmine-sequential/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    // The judges' link flags (their initial memory).
    println!("cargo:rerun-if-changed=.cargo/config.toml");

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = judges_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    write_sdk_files(&manifest_dir, &out_dir);
    ensure_wasm_target();

    for (package, file) in JUDGES {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&manifest_dir)
            .args([
                "build",
                "--target",
                WASM_TARGET,
                "--profile",
                PROFILE,
                "-p",
                package,
                "--target-dir",
            ])
            .arg(&target_dir);
        clean_environment(&mut command);
        let status = command.status().unwrap_or_else(|error| {
            fail(&format!(
                "cannot run {}: {error}",
                Path::new(&cargo).display()
            ))
        });
        if !status.success() {
            fail(&format!(
                "building the built-in judge {package} for wasm32-wasip2 failed (see the output above)"
            ));
        }
        // Copied at once: a later judge's build rebuilds the Mann-Whitney crate as its dependency, with the
        // same artefact name and without the export.
        let built = target_dir.join(WASM_TARGET).join(PROFILE).join(file);
        std::fs::copy(&built, out_dir.join(file))
            .unwrap_or_else(|error| fail(&format!("cannot copy {}: {error}", built.display())));
    }
}

/// Writes `OUT_DIR/sdk_files.rs`: `SDK_FILES`, each file of the judge SDK's `src/` and of `wit/` as
/// `(path in the vendored SDK, contents)`, sorted by path.
fn write_sdk_files(manifest_dir: &Path, out_dir: &Path) {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|error| fail(&format!("cannot read {}: {error}", dir.display())));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|error| fail(&format!("cannot read {}: {error}", dir.display())))
                .path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut entries = Vec::new();
    for (root, prefix) in [
        (manifest_dir.join("judges/sdk/src"), "src"),
        (manifest_dir.join("wit"), "wit"),
    ] {
        let mut files = Vec::new();
        walk(&root, &mut files);
        for file in files {
            let relative = file.strip_prefix(&root).expect("walked under the root");
            let name = format!("{prefix}/{}", relative.display());
            entries.push(format!(
                "    ({name:?}, include_str!({:?})),\n",
                file.display().to_string()
            ));
        }
    }
    entries.sort();
    let code = format!(
        "/// The judge SDK's sources (`src/...`) and the WIT (`wit/...`): (path, contents).\n\
         pub const SDK_FILES: &[(&str, &str)] = &[\n{}];\n",
        entries.concat()
    );
    std::fs::write(out_dir.join("sdk_files.rs"), code)
        .unwrap_or_else(|error| fail(&format!("cannot write sdk_files.rs: {error}")));
}

/// `<target>/judges`, found from `OUT_DIR` = `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
fn judges_target_dir(out_dir: &Path) -> PathBuf {
    let profile_dir = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .unwrap_or_else(|| fail(&format!("unexpected OUT_DIR layout: {}", out_dir.display())));
    let mut target = profile_dir.parent().unwrap_or(profile_dir);
    if env::var("TARGET").ok() != env::var("HOST").ok() {
        // Cross builds put <triple>/ between the target directory and the profile.
        target = target.parent().unwrap_or(target);
    }
    target.join("judges")
}

/// Installs the wasm target with rustup when it is missing; fails with the command to run when that fails.
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let installed = |sysroot: &Path| sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir();
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    println!(
        "cargo:warning=installing the {WASM_TARGET} target with rustup to build the built-in judges"
    );
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|status| status.success());
    if !added {
        fail(&format!(
            "coalmine embeds its built-in judges as WebAssembly components and needs the {WASM_TARGET} target: \
             run `rustup target add {WASM_TARGET}`"
        ));
    }
}

/// Removes what the outer build sets for this build script, so the nested build is an ordinary one.
fn clean_environment(command: &mut Command) {
    let keep = |name: &str| {
        name == "CARGO_HOME"
            || [
                "CARGO_NET_",
                "CARGO_HTTP_",
                "CARGO_REGISTRIES_",
                "CARGO_REGISTRY_",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    };
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let build_script_var = [
            "TARGET",
            "HOST",
            "OUT_DIR",
            "PROFILE",
            "OPT_LEVEL",
            "DEBUG",
            "NUM_JOBS",
            "RUSTC_LINKER",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "MAKEFLAGS",
            "MFLAGS",
        ]
        .contains(&name);
        if build_script_var || (name.starts_with("CARGO_") && !keep(name)) {
            command.env_remove(name);
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
