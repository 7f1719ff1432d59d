//! Test helpers for the metric sources: a real Prometheus server holding a fixed, documented data set
//! ([`prometheus`]), a recording HTTP proxy to put in front of it ([`proxy`]), doubles of Datadog's query API
//! ([`datadog`]), New Relic ([`newrelic`]), SignalFx ([`signalfx`]), Google Cloud Monitoring with its token
//! endpoint ([`stackdriver`]) and Wavefront ([`wavefront`]), and driving a canary through a server's two APIs
//! ([`canary_runs`]).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod canary_runs;
pub mod datadog;
pub mod newrelic;
pub mod prometheus;
pub mod proxy;
pub mod signalfx;
pub mod stackdriver;
pub mod wavefront;
