//! A reader or writer that checksums (CRC-32) the bytes passing through it:
//! in the large chunks a `BufReader` or `BufWriter` hands over, not record by
//! record (a CRC call per small record would cost more than the copying).

use std::io::{Read, Write};

/// `inner`, with a CRC-32 of the bytes read or written so far.
pub struct Checksummed<T> {
    inner: T,
    crc: crc32fast::Hasher,
    /// Bytes still to checksum when reading (a file's trailing CRC is not).
    left: u64,
}

impl<T> Checksummed<T> {
    /// Checksums everything written to `inner`.
    pub fn writing(inner: T) -> Checksummed<T> {
        Checksummed { inner, crc: crc32fast::Hasher::new(), left: u64::MAX }
    }

    /// Checksums the first `bytes` read from `inner`.
    pub fn reading(inner: T, bytes: u64) -> Checksummed<T> {
        Checksummed { inner, crc: crc32fast::Hasher::new(), left: bytes }
    }

    /// The CRC-32 of the bytes so far.
    pub fn crc32(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Bytes still to checksum when reading.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// The wrapped reader or writer.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let counted = n.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.crc.update(&buf[..counted]);
        self.left -= counted as u64;
        Ok(n)
    }
}
