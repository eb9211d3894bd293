//! A small tmpfs mounted for a test (the tests run as root): a filesystem
//! that fills up.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` at `dir`, unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0750"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }

    pub fn used(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.0).unwrap();
        (st.blocks() - st.blocks_free()) * st.fragment_size()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

impl Tmpfs {
    pub fn capacity(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.0).unwrap();
        st.blocks() * st.fragment_size()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}
