//! Embedded static files (`dashboard/static/`) served under `/static` on
//! content-hashed routes (`/static/app.3f9a….css`) with
//! `cache-control: max-age=31536000, immutable`.

use std::sync::LazyLock;

use axum::Router;
use memory_serve::CacheControl;

/// Where the router is mounted; memory-serve's manifest knows only its own routes.
pub const PREFIX: &str = "/static";

/// Hashed URLs of the files the pages link to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assets {
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
}

struct Built {
    assets: Assets,
    router: Router,
}

// memory-serve leaks each asset once when it builds a router, so build one and
// hand out clones.
static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let serve = memory_serve::load!()
        .index_file(None)
        .enable_hashed_routes(true)
        // Debug builds turn compression off by default; serve as production does.
        .enable_brotli(true)
        .enable_gzip(true)
        // The plain routes are for humans and old links; pages use the hashed ones.
        .cache_control(CacheControl::Short);
    let manifest = serve.manifest();
    let url = |route: &str| -> &'static str {
        let served = manifest.get(route).unwrap_or(route);
        Box::leak(format!("{PREFIX}{served}").into_boxed_str())
    };
    let assets = Assets {
        css: url("/app.css"),
        js: url("/app.js"),
        icon: url("/favicon.svg"),
    };
    Built {
        assets,
        router: Router::new().nest(PREFIX, serve.into_router()),
    }
});

impl Assets {
    /// The hashed URLs of the embedded files.
    pub fn get() -> Assets {
        BUILT.assets
    }
}

/// The router that serves the embedded files under `/static`; merge it into the app.
pub fn router() -> Router {
    BUILT.router.clone()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(uri: &str, headers: &[(&str, &str)]) -> axum::response::Response {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        router()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn hashed_urls_are_immutable_with_the_right_type() {
        let a = Assets::get();
        for (url, ty) in [
            (a.css, "text/css"),
            (a.js, "text/javascript"),
            (a.icon, "image/svg+xml"),
        ] {
            assert!(url.starts_with("/static/"), "{url}");
            let plain = url.rsplit('/').next().unwrap();
            assert_eq!(plain.matches('.').count(), 2, "no hash in {url}");
            let res = get(url, &[]).await;
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            let h = res.headers();
            let cc = h.get(header::CACHE_CONTROL).unwrap().to_str().unwrap();
            assert!(cc.contains("immutable"), "{url}: {cc}");
            let ct = h.get(header::CONTENT_TYPE).unwrap().to_str().unwrap();
            assert!(ct.starts_with(ty), "{url}: {ct}");
            let etag = h.get(header::ETAG).unwrap().to_str().unwrap().to_owned();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(!body.is_empty());
            let again = get(url, &[("if-none-match", &etag)]).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
        }
    }

    #[tokio::test]
    async fn budgets_hold_and_unknown_files_are_404() {
        for (url, max) in [
            (Assets::get().css, 40 * 1024),
            (Assets::get().js, 40 * 1024),
        ] {
            let body = get(url, &[]).await.into_body().collect().await.unwrap();
            assert!(body.to_bytes().len() <= max, "{url} over budget");
        }
        assert_eq!(
            get("/static/nope.css", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn brotli_when_asked() {
        let res = get(Assets::get().css, &[("accept-encoding", "br")]).await;
        assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "br");
    }
}
