//! The judge SDK that the coalmine binary carries: `coalmine plugin new` outside a coalmine checkout writes it
//! into the new crate (`vendor/coalmine-judge-sdk`, with the WIT), so that the crate builds anywhere with
//! nothing but this binary and crates.io. The SDK is not published on a registry.

use std::path::Path;

use anyhow::{Context, bail};

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The SDK's manifest, the workspace's inherited settings written out (checked against them by a test).
const MANIFEST: &str = include_str!("plugin_template/sdk_Cargo.toml");

/// Where the SDK goes inside a new judge crate, and the dependency line that points at it.
pub const VENDORED_PATH: &str = "vendor/coalmine-judge-sdk";

/// In the checkout the bindings find the WIT two levels up; in the vendored copy it is beside the manifest.
const CHECKOUT_WIT_PATH: &str = "path: \"../../wit\"";
const VENDORED_WIT_PATH: &str = "path: \"wit\"";

/// Writes the SDK into `dir` (created if missing).
pub fn write(dir: &Path) -> anyhow::Result<()> {
    let mut files = vec![("Cargo.toml", MANIFEST.to_string())];
    for (path, contents) in SDK_FILES {
        let contents = if *path == "src/lib.rs" {
            if !contents.contains(CHECKOUT_WIT_PATH) {
                bail!(
                    "the SDK carried by this coalmine does not name its WIT as expected: please report this"
                );
            }
            contents.replace(CHECKOUT_WIT_PATH, VENDORED_WIT_PATH)
        } else {
            contents.to_string()
        };
        files.push((path, contents));
    }
    for (path, contents) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_file(path: &str) -> toml::Table {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::read_to_string(&path).unwrap().parse().unwrap()
    }

    #[test]
    fn the_carried_sdk_has_its_sources_and_the_wit() {
        let paths: Vec<&str> = SDK_FILES.iter().map(|(path, _)| *path).collect();
        for expected in ["src/lib.rs", "src/scoring/mod.rs", "wit/judge.wit"] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
    }

    #[test]
    fn the_vendored_manifest_matches_the_workspace() {
        let vendored: toml::Table = MANIFEST.parse().unwrap();
        let root = toml_file("Cargo.toml");
        let sdk = toml_file("judges/sdk/Cargo.toml");
        let workspace = &root["workspace"];
        let package = &vendored["package"];
        assert_eq!(package["name"], sdk["package"]["name"]);
        assert_eq!(package["version"], sdk["package"]["version"]);
        assert_eq!(package["description"], sdk["package"]["description"]);
        for field in ["edition", "rust-version", "license"] {
            assert_eq!(package[field], workspace["package"][field], "{field}");
        }
        let dependencies = vendored["dependencies"].as_table().unwrap();
        let sdk_dependencies = sdk["dependencies"].as_table().unwrap();
        assert_eq!(
            dependencies.keys().collect::<Vec<_>>(),
            sdk_dependencies.keys().collect::<Vec<_>>()
        );
        for name in dependencies.keys() {
            assert_eq!(
                dependencies[name], workspace["dependencies"][name],
                "the vendored SDK's {name} differs from the workspace's"
            );
        }
    }

    #[test]
    fn the_vendored_sdk_finds_its_wit_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path()).unwrap();
        let lib = std::fs::read_to_string(dir.path().join("src/lib.rs")).unwrap();
        assert!(lib.contains(VENDORED_WIT_PATH) && !lib.contains(CHECKOUT_WIT_PATH));
        assert!(dir.path().join("wit/judge.wit").is_file());
        assert!(dir.path().join("Cargo.toml").is_file());
    }
}
