//! Widgets several pages use: `load` (fetch on mount, show loading/error), `nav` (the wizard's
//! back/next links), `run_view` (a run live: progress, phases, matrix, host output), `checks`
//! (the pre-flight host × check matrix), `cluster_form` (name, installer address), `matrix` (the virtualised host × task matrix).

pub mod checks;
pub mod cluster_form;
pub mod load;
pub mod matrix;
pub mod nav;
pub mod run_view;
