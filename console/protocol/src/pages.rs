//! The console's URLs: each wizard step is a page the server answers with the console's
//! `index.html` (the browser-side router then draws it), so a reload or a bookmark lands on
//! the same step. `{name}` is a path parameter. The console's router (`console/src/ui/app.rs`)
//! declares the same list; anything else stays a 404.

/// Every page of the console, in wizard order, then the others.
pub const PAGES: &[&str] = &[
    "/",
    "/login",
    "/bundle",
    "/hosts",
    "/roles",
    "/preflight",
    "/review",
    "/install",
    "/done",
    "/runs",
    "/runs/{id}",
    "/import",
];
