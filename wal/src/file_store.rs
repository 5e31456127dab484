//! Segments as real files: `data_dir/wal/core-NN/NNNNNNNN.seg`.
//!
//! A segment is created as `NNNNNNNN.seg.tmp`, zero-filled with writes (so later overwrites need
//! no metadata update: measured 1.45-1.9x faster syncs than fallocated or growing files on this
//! VM), synced, renamed to its name, and the directory synced: a crash leaves either no segment or
//! a whole zeroed one. Leftover `.tmp` files are ignored and overwritten.
//!
//! Plain buffered I/O (`pwrite`, `pread`, `fdatasync`): the epoll path and tests. The io_uring
//! path writes group bytes itself (`O_DIRECT|O_DSYNC`) and uses this store for recovery and
//! segment preparation.

use crate::store::{SegmentInfo, SegmentStore, StoreError, StoreOp};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Zero-filling writes go in pieces of this size.
const ZERO_CHUNK: usize = 1 << 20;
const SUFFIX: &str = ".seg";
const TMP_SUFFIX: &str = ".seg.tmp";

/// One core's segment files.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    /// Open segments and their lengths.
    files: BTreeMap<u64, (File, u64)>,
}

impl FileStore {
    /// Opens (creating if needed, durably) `data_dir/wal/core-{core:02}`.
    pub fn open(data_dir: &Path, core: u16) -> Result<FileStore, StoreError> {
        let wal = data_dir.join("wal");
        let dir = wal.join(format!("core-{core:02}"));
        let fail =
            |e: io::Error| StoreError::new(StoreOp::Create, dir.display().to_string(), 0, 0, e);
        fs::create_dir_all(&dir).map_err(fail)?;
        // Make the new directory entries durable, from the leaf up.
        for d in [&dir, &wal, data_dir] {
            sync_dir(d)
                .map_err(|e| StoreError::new(StoreOp::Sync, d.display().to_string(), 0, 0, e))?;
        }
        Ok(FileStore {
            dir,
            files: BTreeMap::new(),
        })
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `segment`.
    pub fn segment_path(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{segment:08}{SUFFIX}"))
    }

    /// Opens `segment` if it is not open yet, and returns it with its length.
    fn file(&mut self, op: StoreOp, segment: u64) -> Result<(&File, u64), StoreError> {
        if !self.files.contains_key(&segment) {
            let path = self.segment_path(segment);
            let fail = |e| StoreError::new(op, path.display().to_string(), 0, 0, e);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(fail)?;
            let len = file.metadata().map_err(fail)?.len();
            self.files.insert(segment, (file, len));
        }
        let this: &FileStore = self;
        match this.files.get(&segment) {
            Some((file, len)) => Ok((file, *len)),
            None => Err(StoreError::new(
                op,
                this.segment_name(segment),
                0,
                0,
                io::Error::other("not open"),
            )),
        }
    }

    fn range_error(
        &self,
        op: StoreOp,
        segment: u64,
        offset: u64,
        len: usize,
        seg_len: u64,
    ) -> StoreError {
        let e = io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("past the segment end ({seg_len} bytes)"),
        );
        StoreError::new(op, self.segment_name(segment), offset, len as u64, e)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SegmentStore for FileStore {
    fn list_segments(&mut self) -> Result<Vec<SegmentInfo>, StoreError> {
        let fail = |e| StoreError::new(StoreOp::List, self.dir.display().to_string(), 0, 0, e);
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(fail)? {
            let entry = entry.map_err(fail)?;
            let name = entry.file_name();
            let Some(segment) = name.to_str().and_then(parse_name) else {
                continue;
            };
            let len = entry.metadata().map_err(fail)?.len();
            out.push(SegmentInfo { segment, len });
        }
        out.sort_unstable_by_key(|s| s.segment);
        Ok(out)
    }

    fn create_segment(&mut self, segment: u64, len: u64) -> Result<(), StoreError> {
        let path = self.segment_path(segment);
        let tmp = self.dir.join(format!("{segment:08}{TMP_SUFFIX}"));
        let fail =
            |p: &Path, e| StoreError::new(StoreOp::Create, p.display().to_string(), 0, len, e);
        if path.exists() {
            return Err(fail(
                &path,
                io::Error::new(io::ErrorKind::AlreadyExists, "segment exists"),
            ));
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| fail(&tmp, e))?;
        let zeros = vec![0u8; ZERO_CHUNK.min(len as usize)];
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], at)
                .map_err(|e| fail(&tmp, e))?;
            at += n as u64;
        }
        file.sync_all().map_err(|e| fail(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| fail(&path, e))?;
        sync_dir(&self.dir).map_err(|e| fail(&self.dir, e))?;
        Ok(())
    }

    fn read(&mut self, segment: u64, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        let (file, seg_len) = self.file(StoreOp::Read, segment)?;
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > seg_len)
        {
            return Err(self.range_error(StoreOp::Read, segment, offset, buf.len(), seg_len));
        }
        let r = file.read_exact_at(buf, offset);
        r.map_err(|e| {
            StoreError::new(
                StoreOp::Read,
                self.segment_name(segment),
                offset,
                buf.len() as u64,
                e,
            )
        })
    }

    fn write(&mut self, segment: u64, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let (file, seg_len) = self.file(StoreOp::Write, segment)?;
        if offset
            .checked_add(bytes.len() as u64)
            .is_none_or(|end| end > seg_len)
        {
            return Err(self.range_error(StoreOp::Write, segment, offset, bytes.len(), seg_len));
        }
        let r = file.write_all_at(bytes, offset);
        r.map_err(|e| {
            StoreError::new(
                StoreOp::Write,
                self.segment_name(segment),
                offset,
                bytes.len() as u64,
                e,
            )
        })
    }

    fn sync(&mut self, segment: u64) -> Result<(), StoreError> {
        let (file, _) = self.file(StoreOp::Sync, segment)?;
        let r = file.sync_data();
        r.map_err(|e| StoreError::new(StoreOp::Sync, self.segment_name(segment), 0, 0, e))
    }

    fn segment_name(&self, segment: u64) -> String {
        self.segment_path(segment).display().to_string()
    }
}

/// `00000012.seg` → 12; anything else (temporary files, strays) → None.
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn names() {
        assert_eq!(parse_name("00000012.seg"), Some(12));
        assert_eq!(parse_name("123456789.seg"), Some(123_456_789));
        assert_eq!(parse_name("00000012.seg.tmp"), None);
        assert_eq!(parse_name("12.seg"), None);
        assert_eq!(parse_name("0000001x.seg"), None);
        assert_eq!(parse_name("LOCK"), None);
    }
}
