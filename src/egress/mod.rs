//! Egress for sandboxed tools: a role's allow-list ([`rules`]) and the proxy
//! that enforces it ([`proxy`]).
//!
//! A sandbox's network namespace has only loopback. For a role with an
//! egress list, the sandbox's pid 1 listens on its own `127.0.0.1:3128` and
//! hands the listening socket to the launcher, which runs [`Proxy`] on it:
//! the tool's connections to `127.0.0.1:3128` reach the proxy, which checks
//! each destination by name and by address and connects out from the host's
//! network namespace. The proxy speaks HTTP CONNECT, plain HTTP forwarding
//! and SOCKS5 (no authentication, remote DNS) on the same port.

pub mod http;
pub mod proxy;
pub mod rules;
pub mod socks;

pub use proxy::{NetworkEvent, Proxy, ProxyConfig};
pub use rules::{EgressRules, RuleError, Verdict};
