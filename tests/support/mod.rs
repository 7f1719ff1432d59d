//! Test helpers for the metric sources: a real Prometheus server holding a fixed, documented data set
//! ([`prometheus`]), a recording HTTP proxy to put in front of it ([`proxy`]), doubles of Datadog's query API
//! ([`datadog`]), New Relic ([`newrelic`]), SignalFx ([`signalfx`]), Google Cloud Monitoring with its token
//! endpoint ([`stackdriver`]), Wavefront ([`wavefront`]) and Graphite's render API ([`graphite`]), a real
//! InfluxDB 1.x ([`influxdb`]) and a real Graphite ([`graphite_web`]), driving a canary through a server's two
//! APIs ([`canary_runs`]), and a throwaway PostgreSQL cluster for the store ([`postgres`]).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod canary_runs;
pub mod datadog;
pub mod graphite;
pub mod graphite_web;
pub mod influxdb;
pub mod newrelic;
pub mod postgres;
pub mod prometheus;
pub mod proxy;
pub mod signalfx;
pub mod stackdriver;
pub mod wavefront;
