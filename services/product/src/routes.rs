//! The product API, read top to bottom: listing, detail, search, categories, price update.
//!
//! Reads go through the cache tiers (`read_path::get`) with a loader that calls the eager-loading
//! lever; the cached bytes are served as they are. The price update writes the database first, then
//! bumps the version keys of every page that showed the product, then answers — so no read that starts
//! after the answer can see the old price.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::FutureExt;
use kit::config::ExposeSecret;
use kit::db::traced;
use kit::extract::{Json, Path, Query};
use kit::{ApiError, ApiResult};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::levers::conditional_requests;
use crate::levers::eager_loading::{self, Filter, PageQuery};
use crate::levers::keyset_pagination;
use crate::levers::refresh_ahead::{LoadError, Loader};
use crate::levers::summary_fields;
use crate::levers::{hedged_requests, load_shedding};
use crate::model::{
    self, Category, Cursor, Limit, ListParams, NewPrice, Page, PriceChanged, ProductDetail, SearchParams, SearchText,
};
use crate::state::AppState;
use crate::{cache, read_path};

/// Every product route, with its OpenAPI description.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(crate::openapi::doc())
        .routes(routes!(list_products))
        .routes(routes!(product_detail))
        .routes(routes!(search))
        .routes(routes!(list_categories))
        .routes(routes!(update_price))
        .routes(routes!(availability))
        .with_state(state.clone())
        // only the API routes: health, metrics and admin are added outside and never shed
        .layer(axum::middleware::from_fn_with_state(state, load_shedding::layer))
}

/// A loader that serializes one page of `q`.
fn page_loader(state: &AppState, q: PageQuery) -> Loader {
    let state = state.clone();
    Arc::new(move || {
        let (state, q) = (state.clone(), q.clone());
        async move {
            let page = eager_loading::page(&state.db, &state.flags, &q).await?;
            Ok::<_, LoadError>(Some(Bytes::from(serde_json::to_vec(&page)?)))
        }
        .boxed()
    })
}

/// Products by popularity, optionally of one category, one page at a time (by position or by offset: the
/// keyset-pagination lever).
#[utoipa::path(get, path = "/products", tag = "products", params(ListParams),
    responses((status = 200, body = Page, description = "items in the summary shape, or the full shape (see `fields`)",
        headers(("ETag" = String, description = "with product.conditional_requests on"), ("Cache-Control" = String))),
        (status = 304, description = "If-None-Match names the current ETag (product.conditional_requests on)"),
        (status = 400, description = "bad category, limit, cursor or fields")))]
#[tracing::instrument(skip_all, fields(category = p.category, limit = p.limit))]
async fn list_products(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<ListParams>) -> ApiResult<Response> {
    let category = model::category_id(p.category)?;
    let (limit, cursor) = (Limit::parse(p.limit)?, Cursor::parse(p.cursor.as_deref())?);
    let full = summary_fields::full(&state.flags, p.fields);
    let slot = state.keys.listing(category, limit.0, &summary_fields::cache_part(&cursor.key(), full));
    if let Some(not_modified) = conditional_requests::revalidate(&state, &slot, &headers).await {
        return Ok(not_modified);
    }
    let filter = category.map_or(Filter::All, Filter::Category);
    let keyset = keyset_pagination::seek(&state.flags, &cursor);
    let loader = page_loader(&state, PageQuery { filter, cursor, limit, full, keyset });
    let body = read_path::get(&state, slot.clone(), loader).await?;
    Ok(conditional_requests::respond(&state, &slot, &headers, body.unwrap_or_default()))
}

/// One product: category path, current price, stock per warehouse.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "product id (1 is the most popular)")),
    responses((status = 200, body = ProductDetail,
        headers(("ETag" = String, description = "with product.conditional_requests on"), ("Cache-Control" = String))),
        (status = 304, description = "If-None-Match names the current ETag (product.conditional_requests on)"),
        (status = 400, description = "id is not a positive integer"), (status = 404)))]
#[tracing::instrument(skip_all, fields(product.id = id))]
async fn product_detail(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult<Response> {
    let id = model::product_id(id)?;
    let slot = state.keys.detail(id);
    if let Some(not_modified) = conditional_requests::revalidate(&state, &slot, &headers).await {
        return Ok(not_modified);
    }
    let loader: Loader = {
        let state = state.clone();
        Arc::new(move || {
            let state = state.clone();
            async move {
                let detail = eager_loading::details(&state.db, &state.flags, &[id]).await?.pop();
                Ok::<_, LoadError>(match detail {
                    Some(d) => Some(Bytes::from(serde_json::to_vec(&d)?)),
                    None => None,
                })
            }
            .boxed()
        })
    };
    match read_path::get(&state, slot.clone(), loader).await? {
        Some(body) => Ok(conditional_requests::respond(&state, &slot, &headers, body)),
        None => Err(ApiError::NotFound(format!("no product with id {id}"))),
    }
}

/// Full-text search over name, brand and description (Postgres `websearch_to_tsquery`), by popularity.
#[utoipa::path(get, path = "/search", tag = "products", params(SearchParams),
    responses((status = 200, body = Page, description = "items in the summary shape, or the full shape (see `fields`)",
        headers(("ETag" = String, description = "with product.conditional_requests on"), ("Cache-Control" = String))),
        (status = 304, description = "If-None-Match names the current ETag (product.conditional_requests on)"),
        (status = 400, description = "missing q, bad limit, cursor or fields")))]
#[tracing::instrument(skip_all, fields(q = p.q))]
async fn search(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<SearchParams>) -> ApiResult<Response> {
    let text = SearchText::parse(p.q.as_deref())?;
    let (limit, cursor) = (Limit::parse(p.limit)?, Cursor::parse(p.cursor.as_deref())?);
    let full = summary_fields::full(&state.flags, p.fields);
    let slot = state.keys.search(&text.0, limit.0, &summary_fields::cache_part(&cursor.key(), full));
    if let Some(not_modified) = conditional_requests::revalidate(&state, &slot, &headers).await {
        return Ok(not_modified);
    }
    let keyset = keyset_pagination::seek(&state.flags, &cursor);
    let loader = page_loader(&state, PageQuery { filter: Filter::Search(text.0), cursor, limit, full, keyset });
    let body = read_path::get(&state, slot.clone(), loader).await?;
    Ok(conditional_requests::respond(&state, &slot, &headers, body.unwrap_or_default()))
}

/// Every category (a two-level tree: `parent_id` is null at the top).
#[utoipa::path(get, path = "/categories", tag = "products", responses((status = 200, body = Vec<Category>)))]
#[tracing::instrument(skip_all)]
async fn list_categories(State(state): State<AppState>) -> ApiResult<Json<Vec<Category>>> {
    const SQL: &str = "select id, parent_id, name, slug from product.categories order by id";
    let mut conn = state.db.acquire().await?;
    let rows: Vec<Category> = traced(SQL, sqlx::query_as(SQL).fetch_all(&mut *conn)).await?;
    Ok(Json(rows))
}

/// Sets a product's price from now on (admin: `Authorization: Bearer $SHOPLAB_ADMIN_TOKEN`).
///
/// Appends to the price history, then invalidates the product's detail page, its category's listing
/// pages, the unfiltered listing and search results, before answering.
#[utoipa::path(put, path = "/products/{id}/price", tag = "products", request_body = NewPrice,
    params(("id" = i64, Path, minimum = 1, description = "product id")),
    responses((status = 200, body = PriceChanged), (status = 400, description = "malformed JSON or id"),
        (status = 401), (status = 403), (status = 404), (status = 422, description = "negative amount or bad currency")),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(product.id = tracing::field::Empty))]
async fn update_price(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<i64>, ApiError>,
    body: Result<Json<NewPrice>, ApiError>,
) -> ApiResult<(StatusCode, Json<PriceChanged>)> {
    // authentication before validation: the token is checked before the path or the body is looked at
    kit::http::admin::authorize_token(state.admin_token.as_ref().map(ExposeSecret::expose_secret), &headers)?;
    let (Path(id), Json(body)) = (id?, body?);
    let id = model::product_id(id)?;
    tracing::Span::current().record("product.id", id);
    let currency = body.validate()?;
    let mut tx = state.db.begin().await?;
    const CATEGORY: &str = "select category_id from product.products where id = $1 for update";
    let category: Option<i32> = traced(CATEGORY, sqlx::query_scalar(CATEGORY).bind(id).fetch_optional(&mut *tx)).await?;
    let category = category.ok_or_else(|| ApiError::NotFound(format!("no product with id {id}")))?;
    const INSERT: &str = "insert into product.prices (product_id, currency, amount_cents, valid_from) \
                          values ($1, $2, $3, clock_timestamp()) returning valid_from";
    let valid_from =
        traced(INSERT, sqlx::query_scalar(INSERT).bind(id).bind(&currency).bind(body.amount_cents).fetch_one(&mut *tx)).await?;
    tx.commit().await?;
    cache::invalidate(&state.redis, &state.keys, id, category).await.map_err(ApiError::Internal)?;
    state.local.invalidate_all(); // this instance reads its own write; the others hear the published id
    tracing::info!(event = "price_updated", product.id = id, amount_cents = body.amount_cents);
    let price = model::Price { amount_cents: body.amount_cents, currency };
    Ok((StatusCode::OK, Json(PriceChanged { product_id: id, price, valid_from })))
}

/// A product's stock as the inventory service reports it (a dependency with a slow tail; hedged when
/// `product.hedged_requests` is on).
#[utoipa::path(get, path = "/products/{id}/availability", tag = "products",
    params(("id" = i64, Path, minimum = 1, description = "product id")),
    responses((status = 200, description = "`{product_id, available}` from the inventory service"),
        (status = 400, description = "id is not a positive integer"), (status = 503, description = "the inventory service did not answer")))]
#[tracing::instrument(skip_all, fields(product.id = id))]
async fn availability(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<axum::Json<serde_json::Value>> {
    let id = model::product_id(id)?;
    Ok(axum::Json(hedged_requests::availability(&state, id).await?))
}
