//! One file per page (URL) of the console.

pub mod bundle;
pub mod done;
pub mod hosts;
pub mod import;
pub mod install;
pub mod login;
pub mod preflight;
pub mod review;
pub mod roles;
pub mod runs;
