//! agentjail: run AI agents' tool calls under a policy, inside a sandbox,
//! with an audit trail.

pub mod alert;
pub mod approval;
pub mod audit;
pub mod audit_cmd;
pub mod budget;
pub mod cli;
pub mod commands;
pub mod egress;
pub mod error;
pub mod exit;
pub mod manual;
pub mod params;
pub mod policy;
pub mod profile;
pub mod run;
pub mod sandbox;
pub mod sandbox_plan;
pub mod screening;
pub mod state;
pub mod units;
