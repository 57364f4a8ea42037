//! Tools around the product, not roles of it. The `crm` binary exposes them as
//! `crm bench`, `crm bench-baseline` and `crm simulate`; the black-box tests
//! start their `crm` processes through [`process`] as the bench does.
//!
//! Whoever calls in passes the `crm` executable to drive: the binary its own
//! `std::env::current_exe()`, the tests `env!("CARGO_BIN_EXE_crm")`.

pub mod bench;
mod bench_pages;
mod bench_wrk;
pub mod process;
pub mod simulate;
