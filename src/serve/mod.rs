//! `agentjail serve`: the broker. A long-lived process, started by the
//! operator, that owns the policy, the state and the audit log, and serves
//! the call core to callers on a unix socket (see the README's *Broker*).
//!
//! Front-end layer, below `cli`: the CLI client imports `serve::protocol`;
//! this module never imports the CLI. The CLI's printing reaches the
//! worker as a [`server::Handler`] that `main` passes in.

mod accept;
mod access;
mod call;
pub mod config;
mod privilege;
pub mod protocol;
pub mod server;
mod systemd;
mod worker;

pub use server::{serve, Handler, Options, ServeError};
