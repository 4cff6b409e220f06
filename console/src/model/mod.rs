//! What the console computes without a browser: unit-tested natively, used by the `ui` pages.
//! Must not: touch the DOM, the network or Leptos.

pub mod progress;
