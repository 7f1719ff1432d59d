//! Datadog keys read from environment variables: by default `DD_API_KEY` and `DD_APP_KEY`, or the variables
//! an account names. A test binary of its own, because it sets environment variables, which is only sound
//! while no other thread of the process reads the environment.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use coalmine::metrics::{DatadogAccount, DatadogKeys, DatadogSource, MetricSource, Scope};
use support::datadog::{DatadogDouble, DoubleOptions};

#[tokio::test]
async fn keys_are_read_from_the_environment() {
    // SAFETY: this is the binary's only test and it sets the variables before starting anything else, so no
    // other thread reads or writes the environment meanwhile.
    unsafe {
        std::env::set_var("DD_API_KEY", "env-api-key-1");
        std::env::set_var("DD_APP_KEY", "env-app-key-1");
        std::env::set_var("CHECKOUT_DD_API", "env-api-key-2");
        std::env::set_var("CHECKOUT_DD_APP", "env-app-key-2");
    }
    let scope = Scope {
        scope: "service:checkout".into(),
        location: String::new(),
        extended_params: BTreeMap::new(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        end: "2024-01-01T01:00:00Z".parse().unwrap(),
        step: Duration::from_secs(60),
    };
    let named = DatadogKeys::Env {
        api_key_var: "CHECKOUT_DD_API".into(),
        app_key_var: "CHECKOUT_DD_APP".into(),
    };
    for (keys, api_key, app_key) in [
        (DatadogKeys::default(), "env-api-key-1", "env-app-key-1"),
        (named, "env-api-key-2", "env-app-key-2"),
    ] {
        let options = DoubleOptions {
            api_key: api_key.into(),
            app_key: app_key.into(),
            ..DoubleOptions::default()
        };
        let double = DatadogDouble::start(options).await;
        let source = DatadogSource::new(DatadogAccount {
            keys,
            ..DatadogAccount::new("datadog", &double.url)
        })
        .unwrap();
        let sets = source
            .fetch("latency", "avg:checkout.latency{service:checkout}", &scope)
            .await
            .unwrap();
        assert!(sets[0].values.is_empty(), "no series: a placeholder");
        let request = &double.requests()[0];
        assert_eq!(
            (
                request.headers["dd-api-key"].as_str(),
                request.headers["dd-application-key"].as_str()
            ),
            (api_key, app_key)
        );
        assert!(!request.uri.contains(api_key) && !request.uri.contains(app_key));
    }
}
