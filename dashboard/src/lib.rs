//! Staff web UI: server-rendered pages over the same store and permissions as
//! the JSON API.

mod routes;

pub use routes::router;
