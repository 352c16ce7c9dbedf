//! The Model Context Protocol front-end: `agentjail mcp serve` offers a
//! role's catalog tools to MCP clients over stdio ([`serve`]), on the
//! JSON-RPC framing in [`rpc`]. Front-end layer: it uses the call core
//! (`crate::run`) and the domain; nothing below imports it.

pub mod rpc;
pub mod serve;
