//! Generates Rust for every proto under `proto/` and a descriptor set for reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "google/api/field_behavior.proto",
    "google/api/resource.proto",
    "google/type/date.proto",
    "involve/common/v1/common.proto",
    "involve/profiles/v1/profiles_service.proto",
    "involve/gateway/v1/gateway_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
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
    let protos: Vec<PathBuf> = PROTOS.iter().map(|file| proto_root.join(file)).collect();
    tonic_prost_build::configure().file_descriptor_set_path(&descriptor_path).compile_with_config(
        prost_config,
        &protos,
        &includes,
    )?;
    Ok(())
}
