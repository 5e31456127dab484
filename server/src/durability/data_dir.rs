//! The ledger's data directory: its lock, its identity, and where each worker's log lives.
//!
//! ```text
//! data_dir/
//!   LOCK           flock'd by the running server for its whole life; holds its pid
//!   META           written once, when the directory is first used: format, dir_id, partitions
//!   wal/core-NN/   worker NN's write-ahead log segments
//! ```
//!
//! One server per data_dir: a second one fails at once, naming the holder's pid. The lock is
//! an `flock` on LOCK, released by the kernel when the process dies (also by `kill -9`), so a
//! restart never has to clean up after a crash.
//!
//! META pins what the log's meaning depends on: the partition count (a ledger's partition is
//! `hash(ledger) % partitions`, and each effects part names its partition) and a random
//! `dir_id` every log record carries, so a segment copied in from another data_dir is refused.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const META_FORMAT: u32 = 1;

pub struct DataDir {
    path: PathBuf,
    /// Held open for the process's life: the flock lives with it.
    _lock: File,
    pub dir_id: u64,
}

impl DataDir {
    /// Opens (creating when new) the data directory of a ledger with `partitions` partitions.
    pub fn open(path: &Path, partitions: usize) -> Result<DataDir, String> {
        let shown = path.display();
        fs::create_dir_all(path.join("wal"))
            .map_err(|e| format!("data_dir {shown}: cannot create it: {e}"))?;
        let lock = lock(path)?;
        let meta = path.join("META");
        let dir_id = if meta.exists() {
            read_meta(&meta, partitions)?
        } else {
            if has_segments(&path.join("wal")) {
                return Err(format!(
                    "data_dir {shown}: META is missing but wal/ holds log segments; refusing to \
                     guess the ledger's layout (restore META from a backup)"
                ));
            }
            write_meta(path, partitions)?
        };
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            dir_id,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Directory of worker `core`'s log.
    pub fn wal_dir(&self, core: usize) -> PathBuf {
        self.path.join("wal").join(format!("core-{core:02}"))
    }

    /// The worker numbers that have a log directory (a server that ran with more workers left
    /// logs that recovery must read too).
    pub fn wal_cores(&self) -> Result<Vec<usize>, String> {
        let wal = self.path.join("wal");
        let entries = fs::read_dir(&wal).map_err(|e| format!("{}: {e}", wal.display()))?;
        let mut cores = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", wal.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_prefix("core-").and_then(|n| n.parse().ok()) {
                cores.push(n);
            }
        }
        cores.sort_unstable();
        Ok(cores)
    }
}

fn lock(path: &Path) -> Result<File, String> {
    let lock_path = path.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    // SAFETY: flock on a file descriptor this function owns; no memory is involved.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_string()
            } else {
                format!("another ringledger-server (pid {holder})")
            };
            return Err(format!(
                "data_dir {} is in use by {who}; one server per data_dir",
                path.display()
            ));
        }
        return Err(format!("{}: cannot lock: {err}", lock_path.display()));
    }
    let pid = std::process::id().to_string();
    let write = file
        .set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(pid.as_bytes()));
    write.map_err(|e| format!("{}: {e}", lock_path.display()))?;
    Ok(file)
}

fn has_segments(wal: &Path) -> bool {
    let Ok(cores) = fs::read_dir(wal) else {
        return false;
    };
    cores
        .flatten()
        .any(|core| fs::read_dir(core.path()).is_ok_and(|mut files| files.next().is_some()))
}

fn meta_text(dir_id: u64, partitions: usize) -> String {
    let body = format!("format {META_FORMAT}\ndir_id {dir_id:016x}\npartitions {partitions}\n");
    let crc = crc32c::crc32c(body.as_bytes());
    format!("{body}crc32c {crc:08x}\n")
}

fn read_meta(meta: &Path, partitions: usize) -> Result<u64, String> {
    let shown = meta.display();
    let text = fs::read_to_string(meta).map_err(|e| format!("{shown}: {e}"))?;
    let (body, crc_line) = text
        .rsplit_once("crc32c ")
        .ok_or_else(|| format!("{shown}: damaged (no checksum line)"))?;
    let crc = u32::from_str_radix(crc_line.trim(), 16)
        .map_err(|_| format!("{shown}: damaged (bad checksum line)"))?;
    if crc32c::crc32c(body.as_bytes()) != crc {
        return Err(format!("{shown}: damaged (checksum mismatch)"));
    }
    let field = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .ok_or_else(|| format!("{shown}: no {name}"))
    };
    let format: u32 = field("format")?
        .parse()
        .map_err(|_| format!("{shown}: bad format"))?;
    if format != META_FORMAT {
        return Err(format!(
            "{shown}: format {format}, this server reads format {META_FORMAT}"
        ));
    }
    let dir_id =
        u64::from_str_radix(field("dir_id")?, 16).map_err(|_| format!("{shown}: bad dir_id"))?;
    let had: usize = field("partitions")?
        .parse()
        .map_err(|_| format!("{shown}: bad partitions"))?;
    if had != partitions {
        return Err(format!(
            "{shown}: this ledger was created with [ledger] partitions = {had}, the config says \
             {partitions}; a ledger's partition count cannot change (set partitions = {had})"
        ));
    }
    Ok(dir_id)
}

/// Writes META once: a temporary file, synced, renamed into place, the directory synced.
fn write_meta(dir: &Path, partitions: usize) -> Result<u64, String> {
    let dir_id = random_id();
    let tmp = dir.join("META.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(meta_text(dir_id, partitions).as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join("META"))?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| format!("{}: cannot write META: {e}", dir.display()))?;
    Ok(dir_id)
}

fn random_id() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Never 0 (records use 0 for "no directory"), and distinct even without /dev/urandom.
    (u64::from_le_bytes(b) ^ nanos ^ u64::from(std::process::id())) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("rl-datadir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn a_second_open_is_refused_naming_the_holder() {
        let p = temp("lock");
        let first = DataDir::open(&p, 2).unwrap();
        let err = DataDir::open(&p, 2).err().unwrap();
        assert!(err.contains("is in use by"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        let again = DataDir::open(&p, 2).unwrap();
        drop(again);
        fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn meta_pins_the_partition_count_and_the_dir_id() {
        let p = temp("meta");
        let id = DataDir::open(&p, 4).unwrap().dir_id;
        assert_eq!(DataDir::open(&p, 4).unwrap().dir_id, id);
        let err = DataDir::open(&p, 3).err().unwrap();
        assert!(err.contains("partitions = 4"), "{err}");
        // A flipped byte is caught by the checksum.
        let meta = p.join("META");
        let text = fs::read_to_string(&meta)
            .unwrap()
            .replace("partitions 4", "partitions 5");
        fs::write(&meta, text).unwrap();
        let err = DataDir::open(&p, 5).err().unwrap();
        assert!(err.contains("checksum"), "{err}");
        fs::remove_dir_all(&p).unwrap();
    }
}
