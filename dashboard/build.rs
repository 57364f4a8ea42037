//! Embeds `static/` with memory-serve, in debug builds too, so the hashed
//! routes are `immutable` in tests as in production. This is
//! `memory_serve::load_directory_with_embed` without its per-file cargo
//! warnings, which would print on every workspace build.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let dir = std::fs::canonicalize("static")?;
    let label = dir.to_string_lossy().into_owned();
    let assets = memory_serve::assets_to_code(&label, &dir, &out_dir, true, |_| {});
    println!("cargo::rerun-if-changed={label}");
    std::fs::write(
        out_dir.join("memory_serve_assets.rs"),
        format!("&[(\"default\", {assets}),]"),
    )
}
