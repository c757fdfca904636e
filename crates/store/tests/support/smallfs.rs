//! A size-limited file system for the disk-full tests: a tmpfs of a given size mounted on a
//! temporary directory, or, where tmpfs cannot be mounted, an ext4 image on a loop device. Both
//! need root (CI runs as root); without it the test fails and says so — it is never skipped.
//! Shared by `smb-store` and the CLI's end-to-end tests (`#[path]`).
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallFs {
    dir: tempfile::TempDir,
    /// The image file of the loop-device fallback.
    image: Option<PathBuf>,
}

impl SmallFs {
    /// Mounts a file system of `kib` KiB; panics (with the reason) when neither way works.
    pub fn mount(kib: u64) -> SmallFs {
        let dir = tempfile::tempdir().expect("temp dir");
        let tmpfs = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        if tmpfs.as_ref().is_ok_and(|o| o.status.success()) {
            return SmallFs { dir, image: None };
        }
        let image = std::env::temp_dir().join(format!(
            "smb-smallfs-{}-{}.img",
            std::process::id(),
            rand_suffix()
        ));
        let f = std::fs::File::create(&image).expect("image file");
        f.set_len(kib.max(1024) * 1024).expect("image size");
        drop(f);
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image)
            .output();
        let mounted = mkfs.as_ref().is_ok_and(|o| o.status.success())
            && Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_file(&image);
            panic!(
                "this test needs a size-limited file system: mounting a tmpfs failed ({:?}) and \
                 so did an ext4 loop device ({:?}); run it as root (CI does)",
                tmpfs.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()),
                mkfs.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()),
            );
        }
        SmallFs {
            dir,
            image: Some(image),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the free space with `filler` (written until the file system says it is full).
    pub fn fill(&self, filler: &str) -> u64 {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(filler))
            .expect("filler");
        let chunk = vec![0x5au8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // Smaller writes take the last partial block.
        loop {
            match f.write(&chunk[..64]) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        let _ = f.sync_all();
        written
    }

    /// Frees the space `fill` took.
    pub fn free(&self, filler: &str) {
        std::fs::remove_file(self.path().join(filler)).expect("remove the filler");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a daemon a failed test left behind must not keep the mount point busy.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
