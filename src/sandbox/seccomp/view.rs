//! A plain-data view of the whole policy for readers outside the sandbox
//! (the Kubernetes renderer writes it out as an OCI seccomp profile): the
//! table, the optional argument denials [`FilterOptions`] adds, and the
//! errnos and architecture the filters use. Data only: what the filters do
//! is decided in `table.rs` and `args.rs` and compiled in `compile.rs`;
//! this file only hands the same data out. [`extra_denials`] is the one
//! list of the options' denials: `compile.rs` compiles it.

use super::args::{UNIX_SOCKETPAIR_DENIALS, UNIX_SOCKET_DENIALS};
use super::compile::FilterOptions;
use super::rules::{DenyWhen, SyscallEntry};
use super::table::policy_table;
use super::{ABSENT_ERRNO, DENY_ERRNO};

/// The architecture the filters admit, in the kernel's spelling.
pub const ARCH: &str = "x86_64";

/// Denials added to a system call's own, whatever its table entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraDenial {
    /// The system call's name, as in the table.
    pub name: &'static str,
    /// Its number on [`ARCH`].
    pub nr: i64,
    /// The denials, each failing the call with [`DENY_ERRNO`].
    pub denials: &'static [DenyWhen],
}

/// Everything the two filters are built from, for one set of options.
#[derive(Debug, Clone)]
pub struct PolicyView {
    /// One entry per system call the policy names.
    pub table: &'static [SyscallEntry],
    /// Denials the options add (unix sockets, datagram socketpairs).
    pub extra: Vec<ExtraDenial>,
    /// The errno of a denied call.
    pub deny_errno: i32,
    /// The errno of a call absent from the table.
    pub absent_errno: i32,
}

/// The denials `options` add, which `compile.rs` compiles.
pub fn extra_denials(options: FilterOptions) -> Vec<ExtraDenial> {
    if !options.deny_unix_sockets {
        return Vec::new();
    }
    vec![
        ExtraDenial {
            name: "socket",
            nr: libc::SYS_socket,
            denials: UNIX_SOCKET_DENIALS,
        },
        ExtraDenial {
            name: "socketpair",
            nr: libc::SYS_socketpair,
            denials: UNIX_SOCKETPAIR_DENIALS,
        },
    ]
}

/// The policy `build_filters_with(options)` compiles, as data.
pub fn policy_view(options: FilterOptions) -> PolicyView {
    PolicyView {
        table: policy_table(),
        extra: extra_denials(options),
        deny_errno: DENY_ERRNO,
        absent_errno: ABSENT_ERRNO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_has_the_optional_denials_the_options_ask_for() {
        let on = policy_view(FilterOptions::default());
        let names: Vec<&str> = on.extra.iter().map(|e| e.name).collect();
        assert_eq!(names, ["socket", "socketpair"]);
        assert!(on.extra.iter().all(|e| !e.denials.is_empty()));
        let off = policy_view(FilterOptions {
            deny_unix_sockets: false,
        });
        assert!(off.extra.is_empty());
        assert_eq!(off.table.len(), policy_table().len());
        assert_eq!(
            (on.deny_errno, on.absent_errno),
            (libc::EPERM, libc::ENOSYS)
        );
    }
}
