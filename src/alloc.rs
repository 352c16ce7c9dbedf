//! The process's memory allocator: the system's (glibc's malloc) until a
//! forked child calls [`forked_child`], or a server that forks a process
//! per call calls [`for_forking`]; from then on that process allocates
//! from an arena of its own, and each process it forks from a fresh one,
//! leaving alone the pages it shares with its parent.
//!
//! Why: a forked child shares its parent's pages copy-on-write. glibc's
//! malloc writes chunk headers and free-list links across the whole heap,
//! so almost every small allocation or free in the child touches a page of
//! the parent's heap and makes the kernel copy it. A call's processes (the
//! forked call process of `mcp serve` and `serve`, the setup process, pid 1
//! and the tool's process) took about 330 such heap faults per call, half
//! of all their page faults (`perf record -e page-faults`, issue 15). Here
//! the child's blocks come from 64 KiB chunks mapped for it, packed by size
//! class, so its allocations touch a few fresh pages instead. The server
//! itself faults too: after each fork, the first write to each of its pages
//! is a fault, and glibc's allocations and frees in its event loop wrote to
//! about 60 pages per call; in its arena, blocks of one size are reused
//! last-freed first, from a few packed pages.
//!
//! What the child frees: a block of its own goes back to its size class's
//! free list (or, above [`MAX_SMALL`] bytes, its mapping is unmapped); a
//! block allocated before the fork (by the system allocator, in the parent)
//! is left as it is: writing to it would copy its page, and the child ends
//! soon (or execs), which returns it all. What cannot be served from the
//! arena (an alignment over a page, or the tables below full) goes to the
//! system allocator, and is left in the same way when freed.
//!
//! Base layer: memory only; it knows nothing of calls or sandboxes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The global allocator of the `agentjail` binary (`src/main.rs`).
pub struct ForkAware;

/// Set in a forked child by [`forked_child`]: allocate from the arena.
static CHILD: AtomicBool = AtomicBool::new(false);

/// The arena of a forked child (empty in the parent).
static ARENA: Mutex<Arena> = Mutex::new(Arena::new());

/// Called first thing in a forked child that goes on running Rust code (not
/// one that execs at once): its allocations leave the parent's heap alone.
/// Its descendants inherit the mode. Single-threaded at the call, as any
/// forked child is. A parent that was in arena mode itself ([`for_forking`])
/// leaves its arena to the child as the parent's heap: the child starts a
/// fresh one beside it.
pub fn forked_child() {
    if CHILD.swap(true, Ordering::Relaxed) {
        lock().inherit();
    }
}

/// For a long-lived process that forks a process per call (`mcp serve`,
/// `serve`): it allocates from an arena too, so that its allocations and
/// frees between two forks touch a few packed pages, not glibc's heap at
/// large (each page written after a fork is a page fault; a freed block
/// goes back to its size class, so the arena does not grow without bound).
/// What it allocated before the call stays with the system allocator.
/// Single-threaded at the call.
pub fn for_forking() {
    CHILD.store(true, Ordering::Relaxed);
}

/// Whether this process allocates from its own arena.
pub fn in_child_mode() -> bool {
    CHILD.load(Ordering::Relaxed)
}

// SAFETY: every pointer returned is either the system allocator's, for the
// layout given, or a block of the arena at least `layout.size()` bytes
// long, aligned to `layout.align()`, used by nothing else until it is
// freed; the arena is behind a mutex, so threads do not share a block.
unsafe impl GlobalAlloc for ForkAware {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if in_child_mode() {
            if let Some(p) = lock().alloc(layout) {
                return p;
            }
        }
        // SAFETY: the caller's contract for `layout` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_child_mode() {
            // The arena's own blocks go back to it; anything else (the
            // parent's, or the system allocator's fallback) is left alone.
            lock().free(ptr, layout);
            return;
        }
        // SAFETY: not in child mode, so every pointer came from System
        // (child mode, once set, is never unset).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if in_child_mode() {
            if let Some(p) = lock().alloc(layout) {
                // SAFETY: `p` is a block of at least `layout.size()` bytes
                // (a reused small block may hold old data).
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                return p;
            }
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_child_mode() {
            // SAFETY: as in `dealloc`, and the caller's contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller's contract: `new_size` with `layout.align()` is
        // a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if lock().fits(ptr, layout, new_size) {
            return ptr;
        }
        // SAFETY: `new` is valid (above); its size is not zero (the caller's contract).
        let p = unsafe { self.alloc(new) };
        if !p.is_null() {
            // SAFETY: both blocks are at least this long and do not overlap
            // (`p` was just allocated, `ptr` is still live).
            unsafe { std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated with `layout`, and is freed once.
            unsafe { self.dealloc(ptr, layout) };
        }
        p
    }
}

fn lock() -> std::sync::MutexGuard<'static, Arena> {
    // (Nothing panics while the arena is locked; a poisoned lock's arena is
    // still consistent.)
    ARENA.lock().unwrap_or_else(|e| e.into_inner())
}

/// Size of a chunk that small blocks are cut from.
const CHUNK: usize = 64 * 1024;
/// The smallest block, and the size classes: 16 bytes doubling to 32 KiB.
const MIN_SMALL: usize = 16;
const CLASSES: usize = 12;
/// The largest small block; larger ones get a mapping each.
pub const MAX_SMALL: usize = MIN_SMALL << (CLASSES - 1);
/// How many chunks and large mappings the tables hold.
/// (4,096 chunks are 256 MiB of small blocks, 4,096 large blocks at least
/// 128 MiB: the tables, untouched until used, cost no memory till then.)
const MAX_CHUNKS: usize = 4096;
const MAX_LARGE: usize = 4096;
const PAGE: usize = 4096;

/// A forked child's own memory: chunks cut into size-class blocks, each
/// class with a free list threaded through its free blocks, and one
/// mapping per large block.
pub struct Arena {
    chunks: [usize; MAX_CHUNKS],
    n_chunks: usize,
    /// The unused rest of the newest chunk.
    next: usize,
    end: usize,
    free: [usize; CLASSES],
    /// (address, mapped length) of each live large block; 0 is a free slot.
    large: [(usize, usize); MAX_LARGE],
    /// Slots at and above this were never used.
    large_hw: usize,
    /// Chunks below this index are the parent's (see [`Arena::inherit`]).
    inherited: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl Arena {
    pub const fn new() -> Arena {
        Arena {
            chunks: [0; MAX_CHUNKS],
            n_chunks: 0,
            next: 0,
            end: 0,
            free: [0; CLASSES],
            large: [(0, 0); MAX_LARGE],
            large_hw: 0,
            inherited: 0,
        }
    }

    /// In a forked child of a process that used this arena: the chunks so
    /// far are the parent's (its blocks are left alone when freed, and
    /// nothing new is cut from them); new blocks come from new chunks.
    /// Large blocks stay the child's to unmap (that touches no page).
    pub fn inherit(&mut self) {
        self.inherited = self.n_chunks;
        self.free = [0; CLASSES];
        self.next = 0;
        self.end = 0;
    }

    /// A block for `layout`, or None for the system allocator to serve.
    pub fn alloc(&mut self, layout: Layout) -> Option<*mut u8> {
        if layout.align() > PAGE {
            return None;
        }
        let want = layout.size().max(layout.align()).max(1);
        match class_of(want) {
            Some(c) => self.small(c),
            None => self.large_block(want),
        }
    }

    /// Gives a block back: the arena's own to its list (or unmapped);
    /// anything else is left alone.
    pub fn free(&mut self, ptr: *mut u8, layout: Layout) {
        let addr = ptr as usize;
        if let Some(i) = self.large_slot(addr) {
            let (a, len) = self.large[i];
            self.large[i] = (0, 0);
            // SAFETY: this mapping was made by `large_block` and its block
            // is being freed: nothing uses it any more.
            unsafe { libc::munmap(a as *mut libc::c_void, len) };
            return;
        }
        if !self.owns_small(addr) {
            return;
        }
        let want = layout.size().max(layout.align()).max(1);
        if let Some(c) = class_of(want) {
            // SAFETY: a block of ours, at least 16 bytes and aligned to 16:
            // its first word holds the link while it is free.
            unsafe { (addr as *mut usize).write(self.free[c]) };
            self.free[c] = addr;
        }
    }

    /// Whether the block at `ptr` (allocated with `layout`) is the arena's
    /// and already holds `new_size` bytes, so a realloc can keep it.
    pub fn fits(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> bool {
        let addr = ptr as usize;
        if let Some(i) = self.large_slot(addr) {
            return new_size <= self.large[i].1 && new_size > MAX_SMALL;
        }
        if !self.owns_small(addr) {
            return false;
        }
        let old = layout.size().max(layout.align()).max(1);
        let grown = new_size.max(layout.align()).max(1);
        class_of(old).is_some() && class_of(old) == class_of(grown)
    }

    fn large_slot(&self, addr: usize) -> Option<usize> {
        self.large[..self.large_hw]
            .iter()
            .position(|&(a, _)| a == addr && a != 0)
    }

    fn owns_small(&self, addr: usize) -> bool {
        self.chunks[self.inherited..self.n_chunks]
            .iter()
            .any(|&c| addr >= c && addr < c + CHUNK)
    }

    fn small(&mut self, c: usize) -> Option<*mut u8> {
        let head = self.free[c];
        if head != 0 {
            // SAFETY: a free block of ours: its first word is the link that
            // `free` wrote.
            self.free[c] = unsafe { (head as *const usize).read() };
            return Some(head as *mut u8);
        }
        let size = MIN_SMALL << c;
        let align = size.min(PAGE);
        let mut start = self.next.next_multiple_of(align);
        if self.end == 0 || start + size > self.end {
            if self.n_chunks == MAX_CHUNKS {
                return None;
            }
            let chunk = map(CHUNK)?;
            self.chunks[self.n_chunks] = chunk;
            self.n_chunks += 1;
            self.end = chunk + CHUNK;
            start = chunk;
        }
        self.next = start + size;
        Some(start as *mut u8)
    }

    fn large_block(&mut self, want: usize) -> Option<*mut u8> {
        let slot = match self.large[..self.large_hw]
            .iter()
            .position(|&(a, _)| a == 0)
        {
            Some(i) => i,
            None if self.large_hw < MAX_LARGE => self.large_hw,
            None => return None,
        };
        let len = want.checked_next_multiple_of(PAGE)?;
        let addr = map(len)?;
        self.large[slot] = (addr, len);
        self.large_hw = self.large_hw.max(slot + 1);
        Some(addr as *mut u8)
    }
}

/// The size class of a block of `want` bytes, None above [`MAX_SMALL`].
fn class_of(want: usize) -> Option<usize> {
    if want > MAX_SMALL {
        return None;
    }
    let size = want.max(MIN_SMALL).next_power_of_two();
    Some((size / MIN_SMALL).trailing_zeros() as usize)
}

/// Fresh private anonymous pages (page-aligned), or None. (Not populated:
/// a prepared sandbox's three waiting processes would hold 64 KiB each.)
fn map(len: usize) -> Option<usize> {
    // SAFETY: a new private anonymous mapping, at an address of the
    // kernel's choosing; nothing else is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_double_from_16_bytes_to_32_kib() {
        assert_eq!(class_of(1), Some(0));
        assert_eq!(class_of(16), Some(0));
        assert_eq!(class_of(17), Some(1));
        assert_eq!(class_of(4096), Some(8));
        assert_eq!(class_of(MAX_SMALL), Some(CLASSES - 1));
        assert_eq!(class_of(MAX_SMALL + 1), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_writable() {
        let mut a = Arena::new();
        let mut seen = Vec::new();
        for (size, align) in [
            (1, 1),
            (24, 8),
            (100, 64),
            (4000, 4096),
            (33, 16),
            (70_000, 8),
        ] {
            let l = layout(size, align);
            let p = a.alloc(l).unwrap();
            assert_eq!(p as usize % align, 0, "{size} bytes aligned to {align}");
            // SAFETY: the arena gave `size` bytes at `p`.
            unsafe { std::ptr::write_bytes(p, 0xa5, size) };
            seen.push((p as usize, size, l));
        }
        seen.sort_by_key(|s| s.0);
        for w in seen.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "blocks overlap: {w:?}");
        }
        for (p, _, l) in seen {
            a.free(p as *mut u8, l);
        }
        assert!(a.large.iter().all(|&(p, _)| p == 0), "large block unmapped");
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class() {
        let mut a = Arena::new();
        let l = layout(48, 8);
        let p = a.alloc(l).unwrap();
        a.free(p, l);
        assert_eq!(a.alloc(layout(64, 8)).unwrap(), p);
        assert_ne!(a.alloc(l).unwrap(), p);
    }

    #[test]
    fn a_pointer_that_is_not_the_arenas_is_left_alone() {
        let mut a = Arena::new();
        let mine = a.alloc(layout(32, 8)).unwrap();
        let mut outside = [7usize; 4];
        a.free(outside.as_mut_ptr().cast(), layout(32, 8));
        assert_eq!(outside, [7; 4]);
        assert!(!a.fits(outside.as_mut_ptr().cast(), layout(32, 8), 8));
        // The next block of that class is a new one, not the outsider.
        let next = a.alloc(layout(32, 8)).unwrap();
        assert_ne!(next as usize, outside.as_ptr() as usize);
        assert_ne!(next, mine);
    }

    #[test]
    fn realloc_keeps_a_block_within_its_class() {
        let mut a = Arena::new();
        let l = layout(20, 4);
        let p = a.alloc(l).unwrap();
        assert!(a.fits(p, l, 32));
        assert!(!a.fits(p, l, 33));
        let big = layout(100_000, 8);
        let q = a.alloc(big).unwrap();
        assert!(a.fits(q, big, 100_300));
        assert!(!a.fits(q, big, 200_000));
    }

    #[test]
    fn chunks_fill_and_new_ones_are_mapped() {
        let mut a = Arena::new();
        let l = layout(MAX_SMALL, 8);
        for _ in 0..(CHUNK / MAX_SMALL) * 3 {
            a.alloc(l).unwrap();
        }
        assert_eq!(a.n_chunks, 3);
    }

    #[test]
    fn an_inherited_arena_is_left_alone() {
        let mut a = Arena::new();
        let l = layout(64, 8);
        let parents = a.alloc(l).unwrap();
        let freed = a.alloc(l).unwrap();
        a.free(freed, l);
        a.inherit();
        // The parent's free block is not handed out, nor is its chunk cut.
        let p = a.alloc(l).unwrap();
        assert_ne!(p, freed);
        assert_eq!(a.n_chunks, 2);
        // SAFETY: both blocks are 64 bytes of the arena.
        unsafe { parents.write_bytes(9, 64) };
        a.free(parents, l);
        // SAFETY: as above; freeing left it as it was.
        assert_eq!(unsafe { parents.read() }, 9);
        a.free(p, l);
        assert_eq!(a.alloc(l).unwrap(), p);
    }

    #[test]
    fn over_a_page_of_alignment_goes_to_the_system() {
        let mut a = Arena::new();
        assert!(a.alloc(layout(64, 8192)).is_none());
    }

    #[test]
    fn the_global_allocator_serves_the_system_until_child_mode() {
        // (This test process never enters child mode: the flag is only set
        // in forked children.)
        assert!(!in_child_mode());
        let g = ForkAware;
        let l = layout(64, 8);
        // SAFETY: a valid layout; the block is freed with it.
        unsafe {
            let p = g.alloc(l);
            assert!(!p.is_null());
            let p = g.realloc(p, l, 4096);
            g.dealloc(p, layout(4096, 8));
        }
    }

    #[test]
    fn a_forked_child_allocates_from_its_own_pages() {
        // In a forked child (this test process is multi-threaded: the child
        // touches only the arena, which no other thread here ever locks):
        // after `forked_child`, blocks come from the arena, and a block the
        // parent allocated is left as it was when the child frees it.
        let g = ForkAware;
        let l = layout(40, 8);
        // SAFETY: a valid layout; freed in the child only.
        let before = unsafe { g.alloc(l) };
        // SAFETY: `before` holds 40 bytes.
        unsafe { std::ptr::write_bytes(before, 0x5a, 40) };
        // SAFETY: the child uses only the arena and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            forked_child();
            // SAFETY: valid layouts; each block is freed once.
            let ok = unsafe {
                let p = g.alloc(l);
                let mine = ARENA
                    .lock()
                    .map(|a| a.owns_small(p as usize))
                    .unwrap_or(false);
                g.dealloc(before, l);
                let kept = std::slice::from_raw_parts(before, 40)
                    .iter()
                    .all(|&b| b == 0x5a);
                let big = g.alloc(layout(MAX_SMALL * 3, 8));
                let big_mine = ARENA
                    .lock()
                    .map(|a| a.large_slot(big as usize).is_some())
                    .unwrap_or(false);
                g.dealloc(big, layout(MAX_SMALL * 3, 8));
                mine && kept && big_mine
            };
            // SAFETY: end the child without unwinding.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
        // SAFETY: allocated above with `l`, not yet freed here.
        unsafe { g.dealloc(before, l) };
    }
}
