//! Static checks of the deployment: `infra/*.tf` (parsed with `hcl-rs`) against itself and
//! against the functions' code. The assertions are in `tests/wiring.rs`; this crate only reads.
//!
//! - [`terraform`]: the Terraform, with locals, variable defaults and `for_each` evaluated.
//! - [`code`]: the function crates, the environment variables their `Config`s read, and the
//!   routes their routers serve.

pub mod code;
pub mod terraform;

use std::path::PathBuf;

/// The workspace root, or `INFRA_CHECK_ROOT` (a copy of it, e.g. to see the checks fail).
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("INFRA_CHECK_ROOT") {
        return PathBuf::from(root);
    }
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map_or(manifest_dir.clone(), PathBuf::from)
}
