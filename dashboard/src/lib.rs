//! Staff web UI: server-rendered pages in Turkish and English, light, dark or
//! following the system, over plain data structs.
//!
//! [`pages`] render plain structs and know nothing of the store; [`router`]
//! (the handlers in `routes/`) reads the store and the session through the
//! API's extractors, fills a page struct and returns it.
//!
//! - [`i18n`]: [`Lang`], [`Theme`], the [`Tr`] translator over the compiled-in
//!   catalogs (`locales/{tr,en}/main.ftl`), [`format_count`].
//! - [`assets`]: `app.css`, `app.js` and the favicon embedded with
//!   content-hashed names; [`assets::router`] serves them under `/static`.
//! - [`pages`]: [`Layout`] (what every page carries) and one struct per page.
//! - [`preview_router`]: every page with made-up data at `/preview/{page}`,
//!   for screenshots and the browser smoke test.

pub mod assets;
pub mod i18n;
pub mod pages;
mod preview;
mod routes;

pub use assets::Assets;
pub use i18n::{Lang, Msg, Theme, Tr, format_count};
pub use pages::{
    ChangePasswordPage, CustomerRow, ErrorKind, ErrorPage, FieldError, FieldErrors, HomePage,
    Layout, LoginError, LoginPage, Module, NavItem, PreferencesPage, RenderError, ResetPage,
    SearchPage, SetupPage, ShellUser, TIME_ZONES, TimeZoneChoice, Toast, ToastKind, html, render,
    respond,
};
pub use preview::{PREVIEW_PAGES, preview_router};
pub use routes::router;
