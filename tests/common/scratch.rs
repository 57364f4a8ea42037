//! What every test tree shares: whether outside services are required,
//! whether one is up, and a folder of one test's own, removed when the test
//! ends (passed or failed). Each tree includes this one file by `#[path]`
//! rather than keeping a copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether an outside service is required (CI) or may be skipped (laptop).
pub fn services_required() -> bool {
    std::env::var("CRM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Whether `addr` listens; a skip (false, with the reason printed) when it
/// does not, a panic instead when services are required.
#[allow(
    dead_code,
    reason = "only suites on the machine's shared services look for them"
)]
pub fn service_up(name: &str, addr: &str) -> bool {
    let ok = addr
        .parse()
        .is_ok_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if !ok {
        assert!(
            !services_required(),
            "{name} at {addr} is required (CRM_REQUIRE_SERVICES=1) but not reachable"
        );
        eprintln!("SKIP: {name} not reachable at {addr}");
    }
    ok
}

/// A folder for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new empty folder `crm-test-<name>-<ulid>` under the system's temp folder.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "crm-test-{name}-{}",
        crm_domain::util::new_id().to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    TempDir(dir)
}
