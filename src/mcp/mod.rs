//! The Model Context Protocol front-ends, on the JSON-RPC framing in
//! [`rpc`]: `agentjail mcp serve` offers a role's catalog tools to MCP
//! clients over stdio ([`serve`]); `agentjail mcp wrap` is a firewall in
//! front of a third-party stdio MCP server run in the role's sandbox
//! ([`wrap`]). Front-end layer: they use the call core (`crate::run`) and
//! the domain; nothing below imports them.

pub mod rpc;
pub mod serve;
pub mod wrap;
