//! From a role, a tool and a decision to the plain `SandboxPlan` the
//! sandbox takes: binds, network, limits, environment.

pub use crate::sandbox::plan::{build, build_env};
