//! Logging to coalmine's log.
//!
//! Inside the component, [`log()`] calls the host's `log` import, which writes the line to
//! coalmine's log under the plugin's name (the host truncates lines at 1,000 bytes and keeps at
//! most 100 lines per call). Compiled natively — in tests and benchmarks — logging does nothing, so
//! judge code runs unchanged outside a component. The [`trace!`](crate::trace),
//! [`debug!`](crate::debug), [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error) macros take `format!` arguments and format only inside the component.

use core::fmt;

use crate::Level;

/// Writes `message` to coalmine's log at `level`; does nothing when not compiled for `wasm32`.
pub fn log(level: Level, message: &str) {
    // Natively the generated import is a stub that panics; the branch is compiled out.
    if cfg!(target_arch = "wasm32") {
        crate::bindings::coalmine::judge::host::log(level, message);
    }
}

/// Writes pre-formatted arguments to coalmine's log at `level`, formatting them only when the
/// line is actually sent (inside the component). The logging macros expand to this.
pub fn log_args(level: Level, args: fmt::Arguments<'_>) {
    if cfg!(target_arch = "wasm32") {
        match args.as_str() {
            Some(message) => log(level, message),
            None => log(level, &args.to_string()),
        }
    }
}

/// Logs a `format!`-style message at [`Level::Trace`](crate::Level::Trace).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log_args($crate::Level::Trace, ::core::format_args!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Debug`](crate::Level::Debug).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log_args($crate::Level::Debug, ::core::format_args!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Info`](crate::Level::Info).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log_args($crate::Level::Info, ::core::format_args!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Warn`](crate::Level::Warn).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log_args($crate::Level::Warn, ::core::format_args!($($arg)+))
    };
}

/// Logs a `format!`-style message at [`Level::Error`](crate::Level::Error).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log_args($crate::Level::Error, ::core::format_args!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use crate::Level;

    #[test]
    fn logging_is_a_no_op_natively() {
        crate::log(Level::Info, "plain");
        let pair = "p1";
        crate::trace!("{pair}: trace");
        crate::debug!("{pair}: {}", 1);
        crate::info!("{pair}: info");
        crate::warn!("{pair}: warn");
        crate::error!("{pair}: error");
    }
}
