//! The filter compiler: [`policy_table`] and the [`FilterOptions`] turned
//! into ONE classic-BPF program, and its installation on the calling thread.
//!
//! ```text
//! arch == x86_64 ? go on : KILL_PROCESS
//! A = nr
//! binary search over the ranges of numbers with one outcome (JGE)
//!   leaf: RET ALLOW | RET ERRNO(EPERM) | RET ERRNO(ENOSYS)
//!   leaf of a conditional call: its argument denials (RET EPERM on a match),
//!         then RET ALLOW
//! ```
//!
//! The outcome per call is what the policy says (see the module top comment):
//! `Deny`, or an `AllowUnless` denial that matches, fails with `EPERM`;
//! `Allow`/`AllowUnless` runs; everything else (absent, `Enosys`, x32,
//! numbers past the table) fails with `ENOSYS`. A binary search costs about
//! log2(ranges) comparisons per call and keeps the program short (the kernel
//! converts it and walks it for every call number to fill its action cache at
//! install time, so install cost grows with length): about 400 instructions,
//! where seccompiler's linear chains made two filters of 1,475 and 451.
//! `equivalence_tests.rs` runs both on a BPF interpreter for every call number
//! and the argument values the denials name.
//!
//! It may not change what the table says: every decision about a system
//! call is in `table.rs` and `args.rs`.

use std::collections::BTreeMap;

use super::arch::AUDIT_ARCH;
use super::rules::{ArgOp, DenyWhen, EntryAction};
use super::table::policy_table;
use super::{SeccompError, ABSENT_ERRNO, DENY_ERRNO};

/// Name of the program, as used in errors and the `-vv` line.
pub(super) const FILTER: &str = "allow-list";

/// One classic-BPF instruction.
pub(super) type Insn = libc::sock_filter;

/// The kernel's limit on a program's length (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

pub(super) const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub(super) const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
pub(super) const fn ret_errno(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// The low 32 bits of argument `i` (little-endian): `args[i]` at 16 + 8i.
const fn arg_offset(i: u8) -> u32 {
    16 + 8 * i as u32
}

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The compiled filter.
#[derive(Debug, Clone)]
pub struct SeccompFilters {
    pub(super) program: Vec<Insn>,
}

/// What a caller may vary about the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterOptions {
    /// Deny `socket(AF_UNIX, ...)` and datagram `socketpair`s
    /// ([`super::view::extra_denials`]: `UNIX_SOCKET_DENIALS`, `UNIX_SOCKETPAIR_DENIALS`).
    pub deny_unix_sockets: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            deny_unix_sockets: true,
        }
    }
}

/// What one call number leads to.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    /// Return this action.
    Ret(u32),
    /// EPERM when any denial matches, else this action.
    Cond(Vec<&'static DenyWhen>, u32),
}

/// Each table entry's outcome, with the options' denials added.
fn outcomes(options: FilterOptions) -> BTreeMap<u32, Leaf> {
    let allow = RET_ALLOW;
    let deny = ret_errno(DENY_ERRNO);
    let absent = ret_errno(ABSENT_ERRNO);
    let mut by_nr: BTreeMap<u32, (u32, bool, Vec<&'static DenyWhen>)> = BTreeMap::new();
    for entry in policy_table() {
        let Ok(nr) = u32::try_from(entry.nr) else {
            continue;
        };
        let slot = match entry.action {
            EntryAction::Allow => (allow, false, Vec::new()),
            EntryAction::AllowUnless(denials) => (allow, false, denials.iter().collect()),
            EntryAction::Deny => (deny, true, Vec::new()),
            EntryAction::Enosys => (absent, false, Vec::new()),
        };
        by_nr.insert(nr, slot);
    }
    // The options' denials, from the one list (`view.rs`).
    for extra in super::view::extra_denials(options) {
        let slot = by_nr
            .entry(extra.nr as u32)
            .or_insert((absent, false, Vec::new()));
        slot.2.extend(extra.denials.iter());
    }
    by_nr
        .into_iter()
        .map(|(nr, (ret, denied, denials))| {
            let leaf = if denied || denials.is_empty() {
                Leaf::Ret(ret)
            } else {
                Leaf::Cond(denials, ret)
            };
            (nr, leaf)
        })
        .collect()
}

/// The ranges of call numbers with one outcome: (first number, outcome),
/// sorted, covering 0..=u32::MAX; numbers absent from the table are ENOSYS.
fn ranges(outcomes: BTreeMap<u32, Leaf>) -> Vec<(u32, Leaf)> {
    let absent = Leaf::Ret(ret_errno(ABSENT_ERRNO));
    let mut out: Vec<(u32, Leaf)> = vec![(0, absent.clone())];
    let mut next = 0u64;
    for (nr, leaf) in outcomes {
        if u64::from(nr) > next {
            push_range(&mut out, next as u32, absent.clone());
        }
        push_range(&mut out, nr, leaf);
        next = u64::from(nr) + 1;
    }
    if next <= u64::from(u32::MAX) {
        push_range(&mut out, next as u32, absent);
    }
    out
}

/// Appends a range, or extends the last one when the outcome is the same
/// plain return (conditional calls always get a range of their own).
fn push_range(out: &mut Vec<(u32, Leaf)>, start: u32, leaf: Leaf) {
    match out.last_mut() {
        Some((first, last)) if *first == start => *last = leaf,
        Some((_, last)) if matches!(leaf, Leaf::Ret(_)) && *last == leaf => {}
        _ => out.push((start, leaf)),
    }
}

/// One denial: the argument checks, all of which must hold for the
/// `RET EPERM` at its end; the first that fails jumps past it.
fn denial(d: &DenyWhen, out: &mut Vec<Insn>) -> Result<(), SeccompError> {
    let mut block = Vec::new();
    for c in d.all {
        if c.arg > 5 {
            return Err(SeccompError::BadArgument { arg: c.arg });
        }
        block.push(stmt(LD_ABS, arg_offset(c.arg)));
        match c.op {
            ArgOp::Eq(v) => block.push(jump(JEQ_K, v, 0, 0)),
            ArgOp::Ne(v) => block.push(jump(JEQ_K, v, 0, 0)),
            ArgOp::MaskedEq { mask, value } => {
                block.push(stmt(AND_K, mask));
                block.push(jump(JEQ_K, value, 0, 0));
            }
        }
    }
    // Fix the jumps now that the block's length (checks + RET) is known.
    let len = block.len() + 1;
    let mut conds = d.all.iter();
    for (i, insn) in block.iter_mut().enumerate() {
        if insn.code != JEQ_K {
            continue;
        }
        let past = u8::try_from(len - (i + 1)).map_err(|_| SeccompError::TooLong { len })?;
        match conds.next().map(|c| c.op) {
            Some(ArgOp::Ne(_)) => insn.jt = past,
            _ => insn.jf = past,
        }
    }
    out.extend(block);
    out.push(stmt(RET_K, ret_errno(DENY_ERRNO)));
    Ok(())
}

fn leaf(l: &Leaf, out: &mut Vec<Insn>) -> Result<(), SeccompError> {
    match l {
        Leaf::Ret(a) => out.push(stmt(RET_K, *a)),
        Leaf::Cond(denials, otherwise) => {
            for d in denials {
                denial(d, out)?;
            }
            out.push(stmt(RET_K, *otherwise));
        }
    }
    Ok(())
}

/// The search over `ranges` (A holds the call number): the left half falls
/// through, the right half is reached by `A >= its first number`.
fn tree(ranges: &[(u32, Leaf)], out: &mut Vec<Insn>) -> Result<(), SeccompError> {
    let [(_, only)] = ranges else {
        let mid = ranges.len() / 2;
        let mut left = Vec::new();
        tree(&ranges[..mid], &mut left)?;
        let k = ranges[mid].0;
        match u8::try_from(left.len()) {
            Ok(jt) => out.push(jump(JGE_K, k, jt, 0)),
            Err(_) => {
                let over = u32::try_from(left.len())
                    .map_err(|_| SeccompError::TooLong { len: left.len() })?;
                out.push(jump(JGE_K, k, 0, 1));
                out.push(stmt(JA, over));
            }
        }
        out.extend(left);
        return tree(&ranges[mid..], out);
    };
    leaf(only, out)
}

/// Builds the program from [`policy_table`] with the default options
/// (unix sockets denied). Call before forking.
pub fn build_filters() -> Result<SeccompFilters, SeccompError> {
    build_filters_with(FilterOptions::default())
}

/// Builds the program from [`policy_table`] and `options`.
pub fn build_filters_with(options: FilterOptions) -> Result<SeccompFilters, SeccompError> {
    let mut program = vec![
        stmt(LD_ABS, ARCH_OFFSET),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_ABS, NR_OFFSET),
    ];
    tree(&ranges(outcomes(options)), &mut program)?;
    if program.len() > MAX_INSNS {
        return Err(SeccompError::TooLong { len: program.len() });
    }
    Ok(SeccompFilters { program })
}

impl SeccompFilters {
    /// Each program's name and length in BPF instructions, in install order.
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![(FILTER, self.program.len())]
    }

    /// Sets `no_new_privs` and installs the filter on the calling thread.
    ///
    /// Meant for the forked child right before `execve`: it does not allocate
    /// (it hands the prebuilt program to the kernel). After it returns, only
    /// table-allowed calls work (`execve`, `write`, `close`, `_exit` all are).
    pub fn apply(&self) -> Result<(), SeccompError> {
        let apply = |what| SeccompError::Apply {
            what,
            source: std::io::Error::last_os_error(),
        };
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(apply("setting no_new_privs"));
        }
        let prog = libc::sock_fprog {
            // build_filters_with kept the length under MAX_INSNS.
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut Insn,
        };
        // SAFETY: `prog` points at the program, alive for the call; the
        // kernel copies it and keeps no pointer.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(apply("installing the filter"));
        }
        Ok(())
    }
}
