//! Test helpers for the metric sources: a real Prometheus server holding a fixed, documented data set
//! ([`prometheus`]), a recording HTTP proxy to put in front of it ([`proxy`]), and a double of Datadog's
//! query API ([`datadog`]); and a throwaway PostgreSQL cluster for the store ([`postgres`]).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod datadog;
pub mod postgres;
pub mod prometheus;
pub mod proxy;
