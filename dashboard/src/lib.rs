//! Staff web UI: server-rendered pages over the same store and permissions as
//! the JSON API. Empty until the dashboard issue; the intake spine exposes what
//! it will build on (`/api/v1`, the `/api/v1/events` stream, `core::auth`).
