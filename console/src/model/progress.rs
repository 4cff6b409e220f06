//! A run's progress as the install page shows it, built by applying the run's events
//! (`cairn_protocol::Envelope`s) in order.
