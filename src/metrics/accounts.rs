//! The metrics accounts of a server, by name: what an analysis's `account` (Kayenta's `metricsAccountName`)
//! selects.

use std::sync::Arc;

use super::MetricSource;

/// The metrics accounts analyses fetch from, by name.
#[derive(Default)]
pub struct Accounts {
    /// In configuration order; the first is the default.
    accounts: Vec<(String, Arc<dyn MetricSource>)>,
}

impl Accounts {
    /// Adds an account; the first added is the default.
    pub fn add(&mut self, name: impl Into<String>, source: Arc<dyn MetricSource>) {
        self.accounts.push((name.into(), source));
    }

    /// The account named `name`, or the first one when `name` is `None` (as Kayenta picks it).
    pub fn get(&self, name: Option<&str>) -> Result<(&str, &Arc<dyn MetricSource>), String> {
        let found = match name {
            Some(name) => self.accounts.iter().find(|(account, _)| account == name),
            None => self.accounts.first(),
        };
        found.map(|(name, source)| (name.as_str(), source)).ok_or_else(|| match name {
            Some(name) => format!("Unable to resolve account {name}."),
            None => "no metrics account is configured: start coalmine serve with --prometheus-url or --datadog-url"
                .to_string(),
        })
    }

    /// Every account: name and kind (`prometheus`, `datadog`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.accounts
            .iter()
            .map(|(name, source)| (name.as_str(), source.kind()))
    }
}
