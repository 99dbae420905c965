//! Packet buffers and the per-worker pool they come from.
//!
//! A port's receive path copies each frame into a [`PacketBuf`] taken from
//! the worker's [`BufPool`] (as a NIC DMA-s into a pool buffer); the frame
//! then moves through the pipeline by value and its buffer returns to the
//! pool after transmit or drop. Nothing on that path allocates once the pool
//! is warm.
//!
//! Each buffer keeps [`HEADROOM`] bytes in front of the frame so that
//! PUSH_VLAN / PUSH_MPLS / PUSH_PBB grow the frame at its start without
//! moving the payload.

/// Bytes reserved in front of a received frame for pushed headers.
pub const HEADROOM: usize = 128;
/// Largest frame a buffer holds (jumbo frames included).
pub const MAX_FRAME: usize = 9216;
/// Total buffer size.
pub const BUF_CAP: usize = HEADROOM + MAX_FRAME;

/// One frame and its headroom.
pub struct PacketBuf {
    mem: Box<[u8; BUF_CAP]>,
    start: usize,
    len: usize,
}

impl core::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketBuf")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for PacketBuf {
    fn clone(&self) -> Self {
        let mut b = Self::new();
        b.start = self.start;
        b.len = self.len;
        b.mem[self.start..self.start + self.len].copy_from_slice(self.data());
        b
    }
}

impl PacketBuf {
    /// An empty buffer (allocates; take buffers from a [`BufPool`] on the
    /// fast path).
    pub fn new() -> Self {
        Self {
            mem: Box::new([0; BUF_CAP]),
            start: HEADROOM,
            len: 0,
        }
    }

    /// Replaces the contents with `frame`; false (and unchanged) when it is
    /// longer than [`MAX_FRAME`].
    #[inline]
    pub fn fill(&mut self, frame: &[u8]) -> bool {
        if frame.len() > MAX_FRAME {
            return false;
        }
        self.start = HEADROOM;
        self.len = frame.len();
        copy_frame(&mut self.mem[HEADROOM..], frame);
        true
    }

    /// The frame.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    /// The frame, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + self.len]
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty frame.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes available in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Grows the frame by `n` bytes at its start (for pushed headers) and
    /// returns the whole new frame; `None` when the headroom is too small.
    #[inline]
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.start.checked_sub(n)?;
        self.start = start;
        self.len += n;
        Some(self.data_mut())
    }

    /// Removes `n` bytes from the start of the frame; false when the frame is
    /// shorter.
    #[inline]
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }

    /// Truncates the frame to `len` bytes (no-op when already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Sets the frame length to `len` bytes after the current start; false
    /// (and unchanged) when that would exceed the buffer. New bytes keep
    /// whatever the buffer held (receive paths write them right after).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> bool {
        if self.start + len > BUF_CAP {
            return false;
        }
        self.len = len;
        true
    }

    /// The writable room from the frame start to the end of the buffer (a
    /// receive path copies into this, then calls [`PacketBuf::set_len`]).
    #[inline]
    pub fn room_mut(&mut self) -> &mut [u8] {
        self.start = HEADROOM;
        &mut self.mem[HEADROOM..]
    }
}

/// Copies `src` to the start of `dst` (which is at least as long).
///
/// Small frames — the common case, 64-byte ones in a packet-rate test — are
/// copied with a few fixed-size moves (the last one overlapping) rather than
/// a call to `memcpy`, whose call and size dispatch cost as much as the copy
/// itself at that size.
#[inline(always)]
fn copy_frame(dst: &mut [u8], src: &[u8]) {
    /// Copies `src` (`N..=2N` bytes) as its first and its last `N` bytes.
    #[inline(always)]
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        dst[..N].copy_from_slice(&src[..N]);
        dst[n - N..n].copy_from_slice(&src[n - N..]);
    }
    let n = src.len();
    if dst.len() < n || !(16..=128).contains(&n) {
        dst[..n].copy_from_slice(src);
    } else if n > 64 {
        two::<64>(dst, src);
    } else if n > 32 {
        two::<32>(dst, src);
    } else {
        two::<16>(dst, src);
    }
}

/// Hints the CPU to start loading the cache line holding `*p` (a no-op
/// where there is no such instruction). Used to overlap the cache misses of
/// a batch's packets: trace frames, flow-cache slots.
#[inline(always)]
pub(crate) fn prefetch<T>(p: &T) {
    prefetch_ptr((p as *const T).cast::<u8>());
}

/// [`prefetch`] of an address, which need not be valid: a prefetch never
/// faults.
#[inline(always)]
pub(crate) fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is only a hint; it never faults, not even on
        // an invalid address, and reads nothing architecturally.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A worker's free list of buffers. Not shared: each worker owns one.
#[derive(Debug, Default)]
pub struct BufPool {
    free: Vec<PacketBuf>,
    allocated: usize,
}

impl BufPool {
    /// A pool with `n` buffers ready.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            free: (0..n).map(|_| PacketBuf::new()).collect(),
            allocated: n,
        }
    }

    /// A buffer from the free list, or a new one when it is empty (the pool
    /// grows to its working-set size and then stops allocating).
    #[inline]
    pub fn get(&mut self) -> PacketBuf {
        self.free.pop().unwrap_or_else(|| {
            self.allocated += 1;
            PacketBuf::new()
        })
    }

    /// Returns a buffer.
    #[inline]
    pub fn put(&mut self, mut b: PacketBuf) {
        b.start = HEADROOM;
        b.len = 0;
        self.free.push(b);
    }

    /// Buffers this pool ever created.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// Buffers currently free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pull_and_fill() {
        let mut b = PacketBuf::new();
        assert!(b.fill(&[1, 2, 3, 4]));
        let f = b.push_front(2).unwrap();
        f[0] = 9;
        f[1] = 8;
        assert_eq!(b.data(), &[9, 8, 1, 2, 3, 4]);
        assert!(b.pull_front(2));
        assert_eq!(b.data(), &[1, 2, 3, 4]);
        assert!(!b.pull_front(5));
        assert!(b.push_front(HEADROOM + 1).is_none());
        assert!(!b.fill(&vec![0; MAX_FRAME + 1]));
        assert!(b.fill(&vec![7; MAX_FRAME]));
        assert_eq!(b.len(), MAX_FRAME);
        b.truncate(10);
        assert_eq!(b.len(), 10);
    }

    #[test]
    fn fill_copies_every_length_exactly() {
        let src: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut b = PacketBuf::new();
        for n in 0..=src.len() {
            // A dirty buffer: nothing of an earlier, longer frame shows.
            assert!(b.fill(&[0xee; 400]));
            assert!(b.fill(&src[..n]));
            assert_eq!(b.data(), &src[..n], "length {n}");
        }
    }

    #[test]
    fn pool_reuses_buffers() {
        let mut p = BufPool::with_capacity(2);
        let a = p.get();
        let b = p.get();
        let c = p.get();
        assert_eq!(p.allocated(), 3);
        p.put(a);
        p.put(b);
        p.put(c);
        let _ = p.get();
        assert_eq!(p.allocated(), 3);
        assert_eq!(p.available(), 2);
    }
}
