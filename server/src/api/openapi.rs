//! `GET /api/openapi.json`: the OpenAPI 3.1 document of `/api`, no login needed.
//!
//! The schemas are derived (utoipa) from the very types the handlers serialize
//! (`cairn_protocol::api`, under that crate's `openapi` feature, off for the wasm console); the
//! route table below is checked against the router by a test, so the document cannot drift from
//! what is served. Must not: describe a route the router does not have.

use axum::Json;
use cairn_protocol::api::*;
use utoipa::OpenApi as _;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Cairn console API",
        description = "See docs/api.md. Every route but login and this document needs the session cookie; every non-GET needs `X-Cairn-Csrf: 1`."
    ),
    components(schemas(
        ApiError,
        LoginRequest,
        Session,
        RunSummary,
        RunRecord,
        TaskRow,
        ResultCell,
        RunStarted,
        BundleInfo,
        BundleContents,
        Package,
        WizardState,
        ClusterSettings,
        AddHostsRequest,
        AuthInput,
        HostView,
        ScanResult,
        AcceptRequest,
        RolesRequest,
        RolesView,
        RoleProblem,
        ConfigImport,
        PreflightRequest,
        InstallRequest,
        cairn_protocol::Envelope,
        cairn_protocol::Stats,
        cairn_protocol::PreflightCheck,
        cairn_protocol::PreflightFix
    ))
)]
struct Doc;

/// (method, path, request schema, success status, response schema or content type, summary).
pub type Route = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

pub const ROUTES: &[Route] = &[
    (
        "POST",
        "/api/login",
        Some("LoginRequest"),
        "200",
        "Session",
        "log in with the admin token (sets the session cookie)",
    ),
    ("POST", "/api/logout", None, "204", "", "end the session"),
    (
        "GET",
        "/api/session",
        None,
        "200",
        "Session",
        "the session's expiry",
    ),
    (
        "GET",
        "/api/openapi.json",
        None,
        "200",
        "application/json",
        "this document",
    ),
    (
        "GET",
        "/api/runs",
        None,
        "200",
        "[RunSummary]",
        "runs, newest first (?limit=N)",
    ),
    (
        "GET",
        "/api/runs/{id}",
        None,
        "200",
        "RunRecord",
        "one run's full record",
    ),
    (
        "GET",
        "/api/runs/{id}/events",
        None,
        "200",
        "text/event-stream",
        "the run's events (Envelope per `event: envelope`, then `event: end` with a RunSummary); ?after=SEQ or Last-Event-ID",
    ),
    (
        "POST",
        "/api/runs/{id}/resume",
        None,
        "202",
        "RunStarted",
        "resume the newest install",
    ),
    (
        "POST",
        "/api/runs/{id}/retry-failed",
        None,
        "202",
        "RunStarted",
        "run the newest install's failed hosts again",
    ),
    (
        "GET",
        "/api/bundle",
        None,
        "200",
        "BundleInfo",
        "the served bundle",
    ),
    (
        "GET",
        "/api/wizard",
        None,
        "200",
        "WizardState",
        "the wizard's whole state",
    ),
    (
        "GET",
        "/api/cluster",
        None,
        "200",
        "ClusterSettings",
        "cluster name and installer address",
    ),
    (
        "PUT",
        "/api/cluster",
        Some("ClusterSettings"),
        "200",
        "ClusterSettings",
        "set them",
    ),
    (
        "GET",
        "/api/hosts",
        None,
        "200",
        "[HostView]",
        "hosts (never a secret)",
    ),
    (
        "POST",
        "/api/hosts",
        Some("AddHostsRequest"),
        "201",
        "[HostView]",
        "add a host or a range",
    ),
    (
        "DELETE",
        "/api/hosts/{id}",
        None,
        "204",
        "",
        "forget a host and its secrets",
    ),
    (
        "POST",
        "/api/hosts/{id}/scan",
        None,
        "200",
        "ScanResult",
        "read the host key's fingerprint (trusts nothing)",
    ),
    (
        "POST",
        "/api/hosts/{id}/accept",
        Some("AcceptRequest"),
        "200",
        "HostView",
        "trust exactly this fingerprint (known_hosts)",
    ),
    (
        "GET",
        "/api/roles",
        None,
        "200",
        "RolesView",
        "role assignment and its problems",
    ),
    (
        "PUT",
        "/api/roles",
        Some("RolesRequest"),
        "200",
        "RolesView",
        "assign roles",
    ),
    (
        "POST",
        "/api/preflight",
        Some("PreflightRequest"),
        "202",
        "RunStarted",
        "run pre-flight (answers when the checks are recorded)",
    ),
    (
        "GET",
        "/api/cluster.yaml",
        None,
        "200",
        "application/yaml",
        "the generated cluster.yaml",
    ),
    (
        "GET",
        "/api/pki/ca.crt",
        None,
        "200",
        "application/x-pem-file",
        "the cluster CA certificate (404 before the install made it)",
    ),
    (
        "GET",
        "/api/pki/kubeconfig",
        None,
        "200",
        "application/yaml",
        "the cluster's admin kubeconfig, with its private key (404 without kube masters installed)",
    ),
    (
        "POST",
        "/api/config",
        Some("ConfigImport"),
        "200",
        "WizardState",
        "import a cluster.yaml",
    ),
    (
        "POST",
        "/api/install",
        Some("InstallRequest"),
        "202",
        "RunStarted",
        "start the install (409 while one runs)",
    ),
];

fn schema_ref(name: &str) -> RefOr<Schema> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(item) => RefOr::T(Schema::Array(utoipa::openapi::schema::Array::new(
            Ref::from_schema_name(item),
        ))),
        None => RefOr::Ref(Ref::from_schema_name(name)),
    }
}

pub fn build() -> OpenApi {
    let mut doc = Doc::openapi();
    for (method, path, req, status, resp, summary) in ROUTES {
        let mut op = OperationBuilder::new().summary(Some(*summary));
        if path.contains("{id}") {
            op = op.parameter(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .build(),
            );
        }
        if let Some(r) = req {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(schema_ref(r))).build(),
                    )
                    .build(),
            ));
        }
        let ok = if resp.is_empty() {
            ResponseBuilder::new().description("done").build()
        } else if resp.contains('/') {
            ResponseBuilder::new()
                .description("ok")
                .content(*resp, ContentBuilder::new().build())
                .build()
        } else {
            ResponseBuilder::new()
                .description("ok")
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema_ref(resp))).build(),
                )
                .build()
        };
        let err = ResponseBuilder::new()
            .description("ApiError: 401 not logged in, 403 CSRF, 404, 409 conflict, 422 invalid")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(schema_ref("ApiError")))
                    .build(),
            )
            .build();
        let op = op.response(*status, ok).response("default", err).build();
        let m = match *method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            _ => HttpMethod::Delete,
        };
        doc.paths.add_path_operation(*path, vec![m], op);
    }
    doc
}

pub async fn document() -> Json<OpenApi> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_referenced_exists_and_every_route_is_described() {
        let doc = serde_json::to_value(build()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
        // The API contract's docs list the same routes.
        let md = include_str!("../../../docs/api.md");
        for (method, path, ..) in ROUTES {
            let both = *path == "/api/cluster" || *path == "/api/roles";
            let shown = if both && (*method == "GET" || *method == "PUT") {
                "GET/PUT".to_string()
            } else {
                method.to_string()
            };
            // The path, closed by its backtick or followed by its query (`?after=SEQ`).
            let row = format!("| {shown} | `{path}");
            assert!(
                md.contains(&format!("{row}`")) || md.contains(&format!("{row}?")),
                "{method} {path} missing from docs/api.md"
            );
        }
        // No secret-bearing field in a response schema.
        for s in [
            "Session",
            "HostView",
            "WizardState",
            "RunRecord",
            "BundleInfo",
        ] {
            let t = schemas[s].to_string();
            assert!(
                !t.contains("\"password\"") && !t.contains("private_key"),
                "{s}: {t}"
            );
        }
    }
}
