//! Every auth route, merged in one place: read top to bottom to see the whole API.
//!
//! | route | work | pool with `auth.bulkheads` |
//! |---|---|---|
//! | `POST /signup` | create an account, send the verification email | non-critical |
//! | `POST /verify-email` | confirm the address | non-critical |
//! | `POST /login` | password -> access + refresh token | critical |
//! | `POST /refresh` | refresh token -> new tokens | critical |
//! | `GET /validate` | is this access token (and its session) valid? | critical |
//! | `POST /logout` | revoke the caller's session | critical |
//! | `GET, PUT /me/profile` | the caller's profile | non-critical |
//!
//! Every route passes the per-client rate limiter first (`auth.rate_limit`).

mod account;
mod profile;
mod session;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::levers::rate_limit;
use crate::state::AppState;

pub fn router(state: AppState) -> OpenApiRouter {
    let router = OpenApiRouter::with_openapi(crate::openapi::doc())
        .routes(routes!(account::signup))
        .routes(routes!(account::verify_email))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::validate))
        .routes(routes!(session::logout))
        .routes(routes!(profile::get_profile, profile::put_profile));
    for route in router.get_openapi().paths.paths.keys() {
        rate_limit::count_from_zero(&state.metrics, route);
    }
    router.route_layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::middleware)).with_state(state)
}
