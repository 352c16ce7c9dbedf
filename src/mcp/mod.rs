//! MCP front-ends: `agentjail mcp wrap` (a firewall in front of a
//! third-party stdio MCP server). `mcp serve` joins it on merge.

pub mod wrap;
