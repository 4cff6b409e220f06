//! What the console computes without a browser: unit-tested natively, used by the `ui` pages.
//! `progress` (a run's events → phases, host × task matrix, logs, progress and ETA), `matrix`
//! (the virtual window over 500 host rows and their HTML), `html` (escaping), `checks` (the
//! pre-flight matrix's summary line and what Fix did, in words), `hosts` (how a host's
//! authentication reads: key path, pasted key's fingerprint, secret lost at restart).
//! Must not: touch the DOM, the network or Leptos.

pub mod checks;
pub mod hosts;
pub mod html;
pub mod matrix;
pub mod progress;
