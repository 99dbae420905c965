//! Executable memory for compiled programs, mapped W^X: the pages are
//! written while read-write, then switched to read+execute with `mprotect`
//! before any code runs, and are never writable and executable at once.
//! Freed (`munmap`) when the owner is dropped, which for a filter is when the
//! last `Arc` of its program goes, i.e. after no worker can still run it.

use core::ptr::NonNull;

/// One mapping of read+execute pages holding a program's machine code.
pub(super) struct ExecMem {
    ptr: NonNull<u8>,
    /// Mapped length (whole pages).
    len: usize,
    /// Bytes of code at the start.
    code_len: usize,
}

// SAFETY: the mapping is immutable (read+execute) from construction until
// drop, so sharing or moving it between threads is sound.
unsafe impl Send for ExecMem {}
// SAFETY: as above: nothing writes the pages after `new` returns.
unsafe impl Sync for ExecMem {}

impl core::fmt::Debug for ExecMem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExecMem")
            .field("len", &self.len)
            .field("code_len", &self.code_len)
            .finish()
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl ExecMem {
    /// Maps `code` read+execute. The rest of the last page is filled with
    /// `int3`, so a stray jump past the code traps instead of running
    /// leftovers.
    ///
    /// # Errors
    /// The `errno` of a failed `mmap` or `mprotect`.
    pub(super) fn new(code: &[u8]) -> Result<Self, i32> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page)
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(4096);
        let len = code
            .len()
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or(libc::ENOMEM)?;
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        let Some(ptr) = NonNull::new(p.cast::<u8>()) else {
            return Err(libc::ENOMEM);
        };
        let mem = Self {
            ptr,
            len,
            code_len: code.len(),
        };
        // SAFETY: the mapping is `len >= code.len()` bytes, read-write, and
        // owned by `mem` alone.
        unsafe {
            core::ptr::copy_nonoverlapping(code.as_ptr(), ptr.as_ptr(), code.len());
            core::ptr::write_bytes(ptr.as_ptr().add(code.len()), 0xcc, len - code.len());
        }
        // SAFETY: the range is exactly the mapping made above. After this no
        // page of it is writable. (x86 keeps instruction fetch coherent
        // with these stores; the mprotect's TLB shootdown serialises other
        // cores before they can see the new permissions.)
        let rc = unsafe { libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) };
        if rc != 0 {
            // `mem` is dropped here, unmapping the pages.
            return Err(errno());
        }
        Ok(mem)
    }

    /// The first byte of code (the entry point).
    pub(super) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The machine code (readable: the pages are read+execute).
    pub(super) fn code(&self) -> &[u8] {
        // SAFETY: the first code_len bytes of the mapping were written in
        // `new` and never change; the pages stay mapped while `self` lives.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.code_len) }
    }
}

impl Drop for ExecMem {
    fn drop(&mut self) {
        // SAFETY: the exact mapping made in `new`; whoever could still run
        // the code holds the owner, so nobody does once it is dropped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
