//! The auth API's OpenAPI identity, tags and its access-token scheme: `info` from this crate's `Cargo.toml`
//! (through `kit::api_identity!`), one tag per group of operations naming the book chapters and levers
//! behind it, and the `bearer` scheme (an access token from `POST /login`) that `/validate` and `/me/*`
//! name. The kit adds the base routes, the admin token's scheme, the error shape and the body limit
//! (see docs/api.md).

use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    tags(
        (name = "auth", description = "Case study 3, accounts and sessions: chapters Traffic Management \
            (`auth.rate_limit`, `auth.email_circuit_breaker`, `auth.bulkheads`: login, refresh and validate run on \
            the critical pool), Asynchronous Processing (`auth.async_email`: the verification email through the \
            outbox, relay and worker) and Authentication Performance (token validation)."),
        (name = "profile", description = "Case study 3's non-critical work (`auth.bulkheads` puts it on its own \
            pool): the caller's profile, with an access token from `POST /login`."),
        (name = "admin", description = "The lab's flags: this process's view (open) and writes for every process \
            (Bearer admin token)."),
    ),
    modifiers(&AccessToken)
)]
struct ApiDoc;

/// Declares `bearer`: the access token `POST /login` returns, sent as `Authorization: Bearer <token>`.
struct AccessToken;

impl utoipa::Modify for AccessToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some("The access token from `POST /login` or `POST /refresh`.".to_owned());
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document the auth routes are added to.
pub fn doc() -> utoipa::openapi::OpenApi {
    kit::api_identity!().apply(ApiDoc::openapi())
}
