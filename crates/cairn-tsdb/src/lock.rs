//! The directory lock: one open [`crate::Tsdb`] per directory.
//!
//! Within a process an in-memory registry of locked directories decides. Across
//! processes a `LOCK` file holds the owner's pid; a lock file whose pid is no longer
//! running (checked through `/proc/<pid>` where that exists) is stale and taken over,
//! so a crashed process never leaves the store unopenable. A lock file holding this
//! process's own pid but missing from the registry was left by an instance that was
//! dropped without closing (see [`crate::Tsdb::crash`]) and is taken over too.

use crate::error::IoContext;
use crate::Error;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static REGISTRY: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Held while a [`crate::Tsdb`] is open; releases the directory when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    dir: PathBuf,
    file: PathBuf,
    /// Whether dropping removes the lock file (false after a simulated crash).
    remove_file: bool,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, Error> {
        let dir = fs::canonicalize(dir).at(dir)?;
        {
            let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            let set = reg.get_or_insert_with(HashSet::new);
            if !set.insert(dir.clone()) {
                return Err(Error::Locked(dir));
            }
        }
        let file = dir.join("LOCK");
        match take_file(&file) {
            Ok(()) => Ok(DirLock {
                dir,
                file,
                remove_file: true,
            }),
            Err(e) => {
                unregister(&dir);
                Err(match e {
                    TakeError::Held => Error::Locked(dir),
                    TakeError::Io(e) => Error::io(&file, e),
                })
            }
        }
    }

    /// Releases the in-process registration but leaves the lock file behind, as a
    /// crashed process would.
    pub(crate) fn abandon(mut self) {
        self.remove_file = false;
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if self.remove_file {
            let _ = fs::remove_file(&self.file);
        }
        unregister(&self.dir);
    }
}

fn unregister(dir: &Path) {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set) = reg.as_mut() {
        set.remove(dir);
    }
}

enum TakeError {
    Held,
    Io(std::io::Error),
}

fn take_file(file: &Path) -> Result<(), TakeError> {
    let me = std::process::id();
    for _ in 0..3 {
        match OpenOptions::new().write(true).create_new(true).open(file) {
            Ok(mut f) => {
                f.write_all(format!("{me}\n").as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(TakeError::Io)?;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let holder = fs::read_to_string(file)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                match holder {
                    Some(pid) if pid != me && pid_alive(pid) => return Err(TakeError::Held),
                    _ => {
                        tracing::warn!(lock = %file.display(), holder = ?holder, "taking over a stale lock file");
                        match fs::remove_file(file) {
                            Ok(()) => {}
                            Err(e) if e.kind() == ErrorKind::NotFound => {}
                            Err(e) => return Err(TakeError::Io(e)),
                        }
                    }
                }
            }
            Err(e) => return Err(TakeError::Io(e)),
        }
    }
    Err(TakeError::Held)
}

fn pid_alive(pid: u32) -> bool {
    let proc_dir = Path::new("/proc");
    if proc_dir.join("self").exists() {
        proc_dir.join(pid.to_string()).exists()
    } else {
        // Without /proc there is no portable liveness check; assume the owner lives.
        true
    }
}
