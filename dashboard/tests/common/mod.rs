//! Helpers shared by the dashboard's integration tests.
#![allow(dead_code)]

pub mod browser;
