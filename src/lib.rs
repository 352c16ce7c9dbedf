//! agentjail: run AI agents' tool calls under a policy, inside a sandbox,
//! with an audit trail.

pub mod alloc;
pub mod approval;
pub mod audit;
pub mod budget;
pub mod cli;
pub mod egress;

pub mod exit;
pub mod k8s;
pub mod mcp;
pub mod policy;
pub mod profile;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod state;
pub mod text;
pub mod units;
