//! Compiles `proto/*.proto` with the pure-Rust `protox` compiler, so building
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/errors.proto",
        "proto/forker.proto",
        "proto/session.proto",
        "proto/admin.proto",
        "proto/stager.proto",
        "proto/tlc.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto/"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
