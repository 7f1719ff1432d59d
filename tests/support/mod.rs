//! Test helpers for the metric sources: a real Prometheus server holding a fixed, documented data set
//! ([`prometheus`]), a recording HTTP proxy to put in front of it ([`proxy`]), a double of Datadog's
//! query API ([`datadog`]), a real InfluxDB 1.x ([`influxdb`]), a real Graphite ([`graphite_web`]) and a double
//! of Graphite's render API that checks each request ([`graphite`]); and a throwaway PostgreSQL cluster for the
//! store ([`postgres`]).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod datadog;
pub mod graphite;
pub mod graphite_web;
pub mod influxdb;
pub mod postgres;
pub mod prometheus;
pub mod proxy;
