//! Every job the workers run, one file each.

pub mod ingest;
