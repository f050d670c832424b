//! Generates Rust for every proto under `proto/` and a descriptor set for reflection.
//!
//! The Involve protos are found, not listed: every `proto/involve/{package}/v1/*.proto`
//! is compiled, and `involve_packages.rs` (included by `lib.rs`) declares a module
//! `involve::{package}::v1` for each, so a new service's proto needs no edit here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Google's vendored definitions the Involve protos import.
const GOOGLE_PROTOS: &[&str] =
    &["google/api/field_behavior.proto", "google/api/resource.proto", "google/type/date.proto"];

/// Messages written by hand, not generated: (proto name, Rust path). A page of
/// customers (`customer_page.rs`) is the same message on the wire, but a server may
/// send customers it keeps already encoded.
const HAND_WRITTEN: &[(&str, &str)] =
    &[(".involve.profiles.v1.ListCustomersResponse", "crate::customer_page::ListCustomersResponse")];

/// Every `involve/{package}/v1/*.proto` under `root`, as (package, file), sorted.
fn involve_protos(root: &Path) -> Result<Vec<(String, PathBuf)>, Box<dyn std::error::Error>> {
    let mut found = Vec::new();
    for package in std::fs::read_dir(root.join("involve"))? {
        let package = package?;
        let Some(name) = package.file_name().to_str().map(str::to_owned) else { continue };
        let version = package.path().join("v1");
        if !version.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&version)? {
            let path = file?.path();
            if path.extension().is_some_and(|extension| extension == "proto") {
                found.push((name.clone(), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The module tree for the packages found.
fn package_modules(packages: &[String]) -> String {
    let mut modules = String::from(
        "/// Involve's own packages, one module per `proto/involve/{package}/v1`.\npub mod involve {\n",
    );
    for package in packages {
        // Messages written by hand are still found where the generated ones are.
        let extra = HAND_WRITTEN
            .iter()
            .filter(|(proto, _)| proto.starts_with(&format!(".involve.{package}.v1.")))
            .map(|(_, rust)| format!(",\n            pub use {rust};"))
            .collect::<String>();
        let _ = writeln!(
            modules,
            "    /// `involve.{package}`.\n    pub mod {package} {{\n        generated!(\n            /// `involve.{package}.v1`.\n            v1,\n            \"involve.{package}.v1\"{extra}\n        );\n    }}"
        );
    }
    modules.push_str("}\n");
    modules
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: a build directory shared
    // by several checkouts reuses one compiled script for all of them.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    // tonic-prost-build does not tell cargo what to watch.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-env-changed=PROTOC");

    let mut includes = vec![proto_root.clone()];
    let mut prost_config = prost_build::Config::new();
    // A protoc from the environment wins (Debian's protobuf-compiler works); otherwise
    // the vendored one, so a fresh machine needs nothing but Rust.
    if std::env::var_os("PROTOC").is_none() {
        prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        includes.push(protoc_bin_vendored::include_path()?);
    }

    let descriptor_path = PathBuf::from(std::env::var("OUT_DIR")?).join("involve_descriptor.bin");
    let involve = involve_protos(&proto_root)?;
    let mut packages: Vec<String> = involve.iter().map(|(package, _)| package.clone()).collect();
    packages.dedup();
    std::fs::write(
        PathBuf::from(std::env::var("OUT_DIR")?).join("involve_packages.rs"),
        package_modules(&packages),
    )?;
    let protos: Vec<PathBuf> = GOOGLE_PROTOS
        .iter()
        .map(|file| proto_root.join(file))
        .chain(involve.into_iter().map(|(_, file)| file))
        .collect();
    for (proto, rust) in HAND_WRITTEN {
        prost_config.extern_path(*proto, *rust);
    }
    tonic_prost_build::configure().file_descriptor_set_path(&descriptor_path).compile_with_config(
        prost_config,
        &protos,
        &includes,
    )?;
    Ok(())
}
