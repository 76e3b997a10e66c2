//! Block reads through io_uring, for the `SegmentIo::Uring` backend (Linux).
//!
//! Each reading thread makes one small ring on first use. Where the kernel
//! refuses io_uring (an old kernel, a seccomp filter, `io_uring_disabled`),
//! the thread reads with `pread` instead, for good: callers see the same
//! bytes either way.
//!
//! The kernel writes into a buffer owned by the ring's thread-local state,
//! not into the caller's buffer, and the bytes are copied out once the
//! completion is in. If the ring itself fails while an operation may still
//! be in flight, that buffer is leaked rather than freed, so the kernel can
//! never write into memory that has been reused.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use io_uring::{opcode, types, IoUring};

/// Submission queue entries per ring: one read is in flight at a time.
const RING_ENTRIES: u32 = 4;

/// Bytes of each thread's ring buffer; longer reads go in several steps.
const RING_BUFFER_BYTES: usize = super::io::BLOCK_BYTES as usize;

/// Reads completed through io_uring, process-wide (tests and stats use it to
/// tell whether the ring path ran).
pub(crate) static URING_READS: AtomicU64 = AtomicU64::new(0);

struct Ring {
    ring: IoUring,
    buffer: Box<[u8]>,
}

enum State {
    Untried,
    Ready(Box<Ring>),
    Unavailable,
}

/// Why a ring read failed.
enum Failure {
    /// The read completed with an error: the ring is fine.
    Read(io::Error),
    /// The ring failed; an operation may still be in flight.
    Ring,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State::Untried) };
}

/// True if this thread can read through io_uring (makes its ring if needed).
pub(crate) fn available() -> bool {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        ensure_ring(&mut s);
        matches!(*s, State::Ready(_))
    })
}

fn ensure_ring(s: &mut State) {
    if let State::Untried = s {
        *s = match IoUring::new(RING_ENTRIES) {
            Ok(ring) => State::Ready(Box::new(Ring { ring, buffer: vec![0u8; RING_BUFFER_BYTES].into_boxed_slice() })),
            Err(_) => State::Unavailable,
        };
    }
}

/// Fills `buf` from `file` at `offset`, through io_uring where the kernel
/// allows it and `pread` otherwise.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        ensure_ring(&mut s);
        let State::Ready(ring) = &mut *s else { return file.read_exact_at(buf, offset) };
        match ring.read_exact_at(file, buf, offset) {
            Ok(()) => Ok(()),
            Err(Failure::Read(e)) => Err(e),
            Err(Failure::Ring) => {
                if let State::Ready(ring) = std::mem::replace(&mut *s, State::Unavailable) {
                    // The kernel may still write into the ring's buffer.
                    std::mem::forget(ring);
                }
                file.read_exact_at(buf, offset)
            }
        }
    })
}

impl Ring {
    fn read_exact_at(&mut self, file: &File, buf: &mut [u8], offset: u64) -> Result<(), Failure> {
        let mut done = 0usize;
        while done < buf.len() {
            let want = (buf.len() - done).min(self.buffer.len());
            let got = self.read_once(file, want, offset + done as u64)?;
            if got == 0 {
                return Err(Failure::Read(io::Error::new(io::ErrorKind::UnexpectedEof, "segment file ended early")));
            }
            buf[done..done + got].copy_from_slice(&self.buffer[..got]);
            done += got;
        }
        URING_READS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One read of up to `len` bytes into the ring buffer; the byte count.
    fn read_once(&mut self, file: &File, len: usize, offset: u64) -> Result<usize, Failure> {
        debug_assert!(len <= self.buffer.len());
        let entry =
            opcode::Read::new(types::Fd(file.as_raw_fd()), self.buffer.as_mut_ptr(), len as u32).offset(offset).build();
        // SAFETY: the entry points into `self.buffer`, which lives as long as
        // the ring (and is leaked with it if the ring fails, see
        // `read_exact_at`); the file descriptor is valid until we return, and
        // we return only after the completion has arrived. The ring is
        // thread-local, so no other submission shares the queue.
        unsafe { self.ring.submission().push(&entry) }.map_err(|_| Failure::Ring)?;
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Failure::Ring),
            }
            let completed = self.ring.completion().next().map(|cqe| cqe.result());
            if let Some(res) = completed {
                return match res {
                    n if n >= 0 => Ok(n as usize),
                    n if -n == libc::EINTR || -n == libc::EAGAIN => self.read_once(file, len, offset),
                    n => Err(Failure::Read(io::Error::from_raw_os_error(-n))),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn ring_reads_equal_pread_at_every_alignment_and_length() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        f.write_all(&data).unwrap();
        let before = URING_READS.load(Ordering::Relaxed);
        for (offset, len) in [(0usize, 1usize), (3, 4096), (65_535, 65_537), (1, 200_000), (299_999, 1)] {
            let mut buf = vec![0u8; len];
            read_exact_at(&f, &mut buf, offset as u64).unwrap();
            assert_eq!(buf, data[offset..offset + len], "offset {offset} len {len}");
        }
        if available() {
            assert!(URING_READS.load(Ordering::Relaxed) >= before + 5, "reads went through the ring");
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error_not_short_data() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        let mut buf = [0u8; 8];
        let err = read_exact_at(&f, &mut buf, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
