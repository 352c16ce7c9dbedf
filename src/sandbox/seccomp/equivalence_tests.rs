//! The one program of `compile.rs` answers exactly as the two seccompiler
//! programs of `reference.rs` did, combined the kernel's way: checked on a
//! classic-BPF interpreter for every call number (and x32 and out-of-range
//! numbers), with the argument values each denial names, their near misses,
//! upper-half bits set, and pseudo-random mixes of them; and for a foreign
//! architecture. Also that the program is as short as the issue asked.

#![allow(clippy::unwrap_used)]

use super::arch::AUDIT_ARCH;
use super::compile::{build_filters_with, FilterOptions, Insn, RET_ALLOW};
use super::reference::two_programs;
use super::rules::{ArgOp, EntryAction};
use super::table::policy_table;

/// A call as the filter sees it (`struct seccomp_data`).
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr,
            4 => self.arch,
            8 | 12 => 0,
            16..=63 if off % 4 == 0 => {
                let a = self.args[((off - 16) / 8) as usize];
                if off % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => panic!("load from offset {off}"),
        }
    }
}

/// Runs a classic-BPF program (the subset seccomp filters use) to its RET.
fn run(prog: &[Insn], d: &Data) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let mut mem = [0u32; 16];
    loop {
        let i = prog[pc];
        pc += 1;
        let src = if i.code & 0x08 != 0 { x } else { i.k };
        match i.code {
            0x20 => a = d.word(i.k),
            0x00 => a = i.k,
            0x01 => x = i.k,
            0x02 => mem[i.k as usize] = a,
            0x03 => mem[i.k as usize] = x,
            0x60 => a = mem[i.k as usize],
            0x61 => x = mem[i.k as usize],
            0x07 => x = a,
            0x87 => a = x,
            0x06 => return i.k,
            0x16 => return a,
            0x05 => pc += i.k as usize,
            c if c & 0x07 == 0x04 => {
                a = match c & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x50 => a & src,
                    0x40 => a | src,
                    0xa0 => a ^ src,
                    0x60 => a.wrapping_shl(src),
                    0x70 => a.wrapping_shr(src),
                    _ => panic!("alu op {c:#x}"),
                }
            }
            c if c & 0x07 == 0x05 => {
                let taken = match c & 0xf0 {
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => panic!("jump op {c:#x}"),
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            c => panic!("opcode {c:#x}"),
        }
    }
}

/// The kernel's combination (`seccomp_run_filters`): newest first, a later
/// result kept only when its action is strictly more restrictive (lower).
fn combined(programs: &[Vec<Insn>], d: &Data) -> u32 {
    let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
    let mut ret = RET_ALLOW;
    for p in programs.iter().rev() {
        let cur = run(p, d);
        if action(cur) < action(ret) {
            ret = cur;
        }
    }
    ret
}

/// Interesting values for each argument: 0, all ones, and per condition its
/// value, the value with the mask's other bits flipped, and the value ± 1.
fn candidates() -> [Vec<u64>; 6] {
    let mut c: [Vec<u64>; 6] = Default::default();
    for v in &mut c {
        v.extend([0, u64::from(u32::MAX), u64::MAX, 1 << 32]);
    }
    for e in policy_table() {
        let EntryAction::AllowUnless(denials) = e.action else {
            continue;
        };
        let extra = [
            super::args::UNIX_SOCKET_DENIALS,
            super::args::UNIX_SOCKETPAIR_DENIALS,
        ];
        for d in denials.iter().chain(extra.iter().flat_map(|x| x.iter())) {
            for cond in d.all {
                let (v, mask) = match cond.op {
                    ArgOp::Eq(v) | ArgOp::Ne(v) => (v, u32::MAX),
                    ArgOp::MaskedEq { mask, value } => (value, mask),
                };
                let list = &mut c[cond.arg as usize];
                for x in [v, v ^ !mask, v.wrapping_add(1), v.wrapping_sub(1), v ^ mask] {
                    list.push(u64::from(x));
                    list.push(u64::from(x) | 0xdead_0000_0000_0000);
                }
            }
        }
    }
    for v in &mut c {
        v.sort_unstable();
        v.dedup();
    }
    c
}

fn numbers() -> Vec<u32> {
    let mut n: Vec<u32> = (0..1024).collect();
    n.extend((0..600).map(|x| 0x4000_0000 | x));
    n.extend([
        0x3fff_ffff,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
        u32::MAX - 1,
    ]);
    n
}

/// The first case where `new` answers otherwise than the two programs.
fn first_difference(new: &[Insn], options: FilterOptions) -> Option<String> {
    let old: Vec<Vec<Insn>> = two_programs(options)
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|i| Insn {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect()
        })
        .collect();
    let cand = candidates();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut checked = 0u64;
    for nr in numbers() {
        let conditional = policy_table()
            .iter()
            .any(|e| e.nr == i64::from(nr) && matches!(e.action, EntryAction::AllowUnless(_)))
            || i64::from(nr) == libc::SYS_socket
            || i64::from(nr) == libc::SYS_socketpair;
        let mut vectors: Vec<[u64; 6]> = vec![[0; 6]];
        if conditional {
            // Each argument through its candidates with the others 0, then mixes.
            for (i, list) in cand.iter().enumerate() {
                for v in list {
                    let mut a = [0u64; 6];
                    a[i] = *v;
                    vectors.push(a);
                }
            }
            for _ in 0..4000 {
                let mut a = [0u64; 6];
                for (i, list) in cand.iter().enumerate() {
                    a[i] = list[(rand() % list.len() as u64) as usize];
                }
                vectors.push(a);
            }
        }
        for args in vectors {
            for arch in [AUDIT_ARCH, 0x4000_0003 /* AUDIT_ARCH_I386 */] {
                let d = Data { nr, arch, args };
                let want = combined(&old, &d);
                let got = run(new, &d);
                if got != want {
                    return Some(format!(
                        "nr {nr:#x} arch {arch:#x} args {args:x?}: {got:#x}, the two gave {want:#x}"
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "only {checked} cases");
    None
}

fn compare(options: FilterOptions) {
    let new = build_filters_with(options).unwrap().program;
    if let Some(d) = first_difference(&new, options) {
        panic!("{d}");
    }
}

#[test]
fn one_program_answers_as_the_two_did() {
    compare(FilterOptions::default());
}

#[test]
fn one_program_answers_as_the_two_did_with_unix_sockets_allowed() {
    compare(FilterOptions {
        deny_unix_sockets: false,
    });
}

#[test]
fn the_program_is_short() {
    let len = build_filters_with(FilterOptions::default())
        .unwrap()
        .program
        .len();
    let old: usize = two_programs(FilterOptions::default())
        .iter()
        .map(Vec::len)
        .sum();
    assert!(
        len < 600 && len * 3 < old,
        "{len} instructions (the two were {old})"
    );
}

#[test]
fn a_changed_argument_check_is_caught() {
    // The comparison must notice a one-instruction change: TIOCSTI's value.
    let options = FilterOptions::default();
    let mut new = build_filters_with(options).unwrap().program;
    let at = new
        .iter()
        .position(|i| i.code == 0x15 && i.k == libc::TIOCSTI as u32)
        .unwrap();
    new[at].k ^= 1;
    assert!(first_difference(&new, options).is_some());
    // And a changed range boundary.
    let mut new = build_filters_with(options).unwrap().program;
    let at = new.iter().position(|i| i.code == 0x35).unwrap();
    new[at].k += 1;
    assert!(first_difference(&new, options).is_some());
}
