//! Jackson's scalar coercion, as Kayenta's `ObjectMapper` applies it to what its routes read: a JSON value is
//! rewritten to the type Kayenta's Java class declares for its field before coalmine's strict types read it.
//!
//! Kayenta's mapper (`KayentaConfiguration.kayentaObjectMapper`) is Jackson's default one, whose coercions
//! (jackson-databind 2.12 and later, `CoercionConfigs`, `StdDeserializer`, JSR-310's `InstantDeserializer`)
//! are:
//!
//! - to a `Long`: a string that `Long.parseLong` reads (surrounding blanks trimmed): `"10"` is 10, `"10.5"`
//!   is refused; a number with a fraction is truncated (`ACCEPT_FLOAT_AS_INT`): 10.9 is 10;
//! - to a `Double`: a string that `Double.parseDouble` reads: `"95"`, `"87.5"`, `"1e2"`;
//! - to a `String`: a number or a boolean, as written: `0` is `"0"`, `true` is `"true"`;
//! - to an `Instant`: an ISO-8601 string, or epoch seconds as a number or a string of digits
//!   (`READ_DATE_TIMESTAMPS_AS_NANOSECONDS`): `1700000000` is `2023-11-14T22:13:20Z`;
//! - to a `Long`, a `Double` or an `Instant`, an empty or blank string is null, i.e. absent.
//!
//! Nothing else is coerced: a boolean is no number, an object or an array no scalar, and values whose Java
//! type is `Object` (a metric's `analysisConfigurations`, `siteLocal`) are kept as they are. That is why a
//! string `"true"` for `critical` still gets coalmine's refusal: Kayenta keeps it a string too, and its judge
//! then misreads it. A value that cannot be coerced is left unchanged, so the strict types refuse it with a
//! message naming the field.
//!
//! Only Kayenta's routes coerce ([`coerce`] with the shapes below); coalmine's native API stays strict.

use jiff::Timestamp;
use serde_json::{Number, Value};

/// The type a Kayenta class declares for a value, as far as Jackson's coercion is concerned.
#[derive(Debug)]
pub enum Shape {
    /// `Long` (or `long`).
    Long,
    /// `Double`.
    Double,
    /// `String`.
    Text,
    /// `java.time.Instant`.
    Instant,
    /// `List<T>`.
    List(&'static Shape),
    /// `Map<String, T>`.
    Map(&'static Shape),
    /// A class: its fields, by JSON name. Fields not listed are not coerced.
    Object(&'static [(&'static str, Shape)]),
}

/// `CanaryClassifierThresholdsConfig`: `{Double pass, Double marginal}`.
pub const THRESHOLDS: Shape =
    Shape::Object(&[("pass", Shape::Double), ("marginal", Shape::Double)]);

/// `CanaryScope` (coalmine also reads Argo Rollouts' `region`, a string).
pub const CANARY_SCOPE: Shape = Shape::Object(&[
    ("scope", Shape::Text),
    ("location", Shape::Text),
    ("region", Shape::Text),
    ("start", Shape::Instant),
    ("end", Shape::Instant),
    ("step", Shape::Long),
    ("extendedScopeParams", Shape::Map(&Shape::Text)),
]);

/// `CanaryExecutionRequest`, the body of `POST /canary/{canaryConfigId}`.
pub const CANARY_EXECUTION_REQUEST: Shape = Shape::Object(&[
    (
        "scopes",
        Shape::Map(&Shape::Object(&[
            ("controlScope", CANARY_SCOPE),
            ("experimentScope", CANARY_SCOPE),
        ])),
    ),
    ("thresholds", THRESHOLDS),
]);

/// `CanaryAnalysisExecutionRequest`, the body of `POST /standalone_canary_analysis/{canaryConfigId}`. Its
/// scopes' `startTimeIso` and `endTimeIso` are `String`s in Kayenta, parsed later.
pub const CANARY_ANALYSIS_EXECUTION_REQUEST: Shape = Shape::Object(&[
    (
        "scopes",
        Shape::List(&Shape::Object(&[
            ("scopeName", Shape::Text),
            ("controlScope", Shape::Text),
            ("controlLocation", Shape::Text),
            ("controlOffsetInMinutes", Shape::Long),
            ("experimentScope", Shape::Text),
            ("experimentLocation", Shape::Text),
            ("startTimeIso", Shape::Text),
            ("endTimeIso", Shape::Text),
            ("step", Shape::Long),
            ("extendedScopeParams", Shape::Map(&Shape::Text)),
        ])),
    ),
    ("thresholds", THRESHOLDS),
    ("lifetimeDurationMins", Shape::Long),
    ("beginAfterMins", Shape::Long),
    ("lookbackMins", Shape::Long),
    ("analysisIntervalMins", Shape::Long),
]);

/// `CanaryMetricSetQueryConfig` of the providers coalmine serves (Prometheus's fields include Datadog's).
const QUERY: Shape = Shape::Object(&[
    ("type", Shape::Text),
    ("resourceType", Shape::Text),
    ("metricName", Shape::Text),
    ("labelBindings", Shape::List(&Shape::Text)),
    ("groupByFields", Shape::List(&Shape::Text)),
    ("customFilter", Shape::Text),
    ("customInlineTemplate", Shape::Text),
    ("customFilterTemplate", Shape::Text),
]);

/// `CanaryConfig`, the body of `POST /canaryConfig`. A metric's `analysisConfigurations` is a
/// `Map<String, Object>` in Kayenta and is not coerced.
pub const CANARY_CONFIG: Shape = Shape::Object(&[
    ("createdTimestamp", Shape::Long),
    ("updatedTimestamp", Shape::Long),
    ("createdTimestampIso", Shape::Text),
    ("updatedTimestampIso", Shape::Text),
    ("id", Shape::Text),
    ("name", Shape::Text),
    ("description", Shape::Text),
    ("configVersion", Shape::Text),
    ("applications", Shape::List(&Shape::Text)),
    ("judge", Shape::Object(&[("name", Shape::Text)])),
    (
        "metrics",
        Shape::List(&Shape::Object(&[
            ("name", Shape::Text),
            ("query", QUERY),
            ("groups", Shape::List(&Shape::Text)),
            ("scopeName", Shape::Text),
        ])),
    ),
    ("templates", Shape::Map(&Shape::Text)),
    (
        "classifier",
        Shape::Object(&[
            ("groupWeights", Shape::Map(&Shape::Double)),
            ("scoreThresholds", THRESHOLDS),
        ]),
    ),
]);

/// `RemoteJudgeRequest`, the body of RemoteJudge's `POST /judge`, with its `MetricSetPair`s.
pub const REMOTE_JUDGE_REQUEST: Shape = Shape::Object(&[
    ("canaryConfig", CANARY_CONFIG),
    ("scoreThresholds", THRESHOLDS),
    (
        "metricSetPairList",
        Shape::List(&Shape::Object(&[
            ("name", Shape::Text),
            ("id", Shape::Text),
            ("tags", Shape::Map(&Shape::Text)),
            ("values", Shape::Map(&Shape::List(&Shape::Double))),
            (
                "scopes",
                Shape::Map(&Shape::Object(&[
                    ("startTimeIso", Shape::Text),
                    ("startTimeMillis", Shape::Long),
                    ("stepMillis", Shape::Long),
                ])),
            ),
            ("attributes", Shape::Map(&Shape::Map(&Shape::Text))),
        ])),
    ),
]);

/// Rewrites `value` in place as Jackson would read it into `shape` (see the module's documentation).
pub fn coerce(value: &mut Value, shape: &Shape) {
    if coerced(value, shape) == Read::Null {
        *value = Value::Null;
    }
}

/// What Jackson makes of a value: the value (rewritten in place if coerced), or null.
#[derive(PartialEq)]
enum Read {
    Value,
    Null,
}

fn coerced(value: &mut Value, shape: &Shape) -> Read {
    match (shape, &mut *value) {
        (Shape::Object(fields), Value::Object(object)) => {
            for (name, shape) in *fields {
                if let Some(field) = object.get_mut(*name)
                    && coerced(field, shape) == Read::Null
                {
                    // Null is what Kayenta leaves out, and what coalmine's types read as absent.
                    object.remove(*name);
                }
            }
        }
        (Shape::List(item), Value::Array(items)) => {
            for value in items {
                coerce(value, item);
            }
        }
        (Shape::Map(item), Value::Object(entries)) => {
            for value in entries.values_mut() {
                coerce(value, item);
            }
        }
        (Shape::Text, Value::Number(number)) => *value = Value::String(number.to_string()),
        (Shape::Text, Value::Bool(flag)) => *value = Value::String(flag.to_string()),
        (Shape::Long | Shape::Double | Shape::Instant, Value::String(text))
            if text.trim().is_empty() =>
        {
            return Read::Null;
        }
        (Shape::Long, Value::String(text)) => {
            if let Some(number) = java_long(text.trim()) {
                *value = Value::from(number);
            }
        }
        (Shape::Long, Value::Number(number)) if !(number.is_i64() || number.is_u64()) => {
            // A fraction is truncated, if the whole part is a `long`.
            if let Some(whole) = number.as_f64().map(f64::trunc)
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&whole)
            {
                *value = Value::from(whole as i64);
            }
        }
        (Shape::Double, Value::String(text)) => {
            if let Some(number) = java_double(text.trim()).and_then(Number::from_f64) {
                *value = Value::Number(number);
            }
        }
        (Shape::Instant, Value::String(text)) => {
            // Surrounding blanks are trimmed before the instant is parsed.
            let trimmed = text.trim();
            let read = match epoch_seconds_text(trimmed) {
                Some(time) => Some(time.to_string()),
                None => (trimmed.len() != text.len()).then(|| trimmed.to_string()),
            };
            if let Some(read) = read {
                *value = Value::String(read);
            }
        }
        (Shape::Instant, Value::Number(number)) => {
            if let Some(time) = number.as_f64().and_then(epoch_seconds) {
                *value = Value::String(time.to_string());
            }
        }
        _ => {}
    }
    Read::Value
}

/// `Long.parseLong(text)`: an optional sign and decimal digits that fit a `long`.
fn java_long(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `Double.parseDouble(text)` for the decimal forms (`95`, `-87.5`, `.5`, `1e2`), finite ones only: Java's
/// `"NaN"` and `"Infinity"` stay strings (coalmine's metric values read them; thresholds refuse them).
fn java_double(text: &str) -> Option<f64> {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let decimal = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || b"+-.eE".contains(&byte))
        && mantissa.bytes().any(|byte| byte.is_ascii_digit());
    decimal
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|x| x.is_finite())
}

/// A string of digits with at most one `.` read as epoch seconds, as `InstantDeserializer` reads one.
fn epoch_seconds_text(text: &str) -> Option<Timestamp> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let numeric = !digits.is_empty()
        && digits
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
        && digits.bytes().filter(|byte| *byte == b'.').count() <= 1
        && digits.bytes().any(|byte| byte.is_ascii_digit());
    numeric
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .and_then(epoch_seconds)
}

/// Epoch seconds (with a fraction for the nanoseconds) as an instant, if one can be represented.
fn epoch_seconds(seconds: f64) -> Option<Timestamp> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round() as i32;
    let whole = (whole.abs() < 1e15).then_some(whole as i64)?;
    Timestamp::new(whole, nanos.min(999_999_999)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn coerced(mut value: Value, shape: &Shape) -> Value {
        coerce(&mut value, shape);
        value
    }

    #[test]
    fn the_ci_librarys_standalone_request_reads_as_jacksons() {
        let request = json!({
            "scopes": [{"controlScope": 0, "experimentScope": 1, "controlOffsetInMinutes": "10",
                        "step": "60", "startTimeIso": "2026-01-01T10:00:00Z", "extendedScopeParams": {"n": 2}}],
            "thresholds": {"pass": "95", "marginal": " 75.5 "},
            "lifetimeDurationMins": 30.9, "beginAfterMins": "", "lookbackMins": "  ",
            "siteLocal": {"kept": "10"}
        });
        assert_eq!(
            coerced(request, &CANARY_ANALYSIS_EXECUTION_REQUEST),
            json!({
                "scopes": [{"controlScope": "0", "experimentScope": "1", "controlOffsetInMinutes": 10,
                            "step": 60, "startTimeIso": "2026-01-01T10:00:00Z", "extendedScopeParams": {"n": "2"}}],
                "thresholds": {"pass": 95.0, "marginal": 75.5},
                "lifetimeDurationMins": 30,
                "siteLocal": {"kept": "10"}
            })
        );
    }

    #[test]
    fn what_jackson_refuses_is_left_for_the_strict_types_to_refuse() {
        let request = json!({
            "scopes": [{"controlScope": {"a": 1}, "controlOffsetInMinutes": "10.5", "step": true,
                        "experimentScope": ["b"], "startTimeIso": 1700000000}],
            "thresholds": {"pass": "NaN", "marginal": "ninety"},
            "lifetimeDurationMins": "1e3", "lookbackMins": "99999999999999999999"
        });
        let expected = json!({
            "scopes": [{"controlScope": {"a": 1}, "controlOffsetInMinutes": "10.5", "step": true,
                        "experimentScope": ["b"], "startTimeIso": "1700000000"}],
            "thresholds": {"pass": "NaN", "marginal": "ninety"},
            "lifetimeDurationMins": "1e3", "lookbackMins": "99999999999999999999"
        });
        assert_eq!(
            coerced(request, &CANARY_ANALYSIS_EXECUTION_REQUEST),
            expected
        );
    }

    #[test]
    fn empty_times_are_absent_and_epoch_seconds_are_instants() {
        let side =
            json!({"scope": "a", "region": "us-east-1", "step": "60", "start": "", "end": " "});
        let request = json!({
            "scopes": {"default": {"controlScope": side, "experimentScope": {
                "scope": 7, "start": 1700000000, "end": "1700000060.5", "step": 60.0}}},
            "thresholds": {"pass": 90, "marginal": 75}
        });
        assert_eq!(
            coerced(request, &CANARY_EXECUTION_REQUEST),
            json!({
                "scopes": {"default": {
                    "controlScope": {"scope": "a", "region": "us-east-1", "step": 60},
                    "experimentScope": {"scope": "7", "start": "2023-11-14T22:13:20Z",
                                        "end": "2023-11-14T22:14:20.5Z", "step": 60}}},
                "thresholds": {"pass": 90, "marginal": 75}
            })
        );
    }

    #[test]
    fn a_configs_typed_fields_are_coerced_and_its_analysis_settings_are_not() {
        let config = json!({
            "name": 42, "applications": ["checkout", 7], "createdTimestamp": "1700000000000",
            "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {"x": "1"}},
            "metrics": [{"name": 1, "groups": [true], "scopeName": "default",
                         "query": {"type": "prometheus", "metricName": "up", "labelBindings": [5]},
                         "analysisConfigurations": {"canary": {"critical": "true", "effectSize": {"allowedIncrease": "1.1"}}}}],
            "classifier": {"groupWeights": {"latency": "60", "errors": 40}}
        });
        assert_eq!(
            coerced(config, &CANARY_CONFIG),
            json!({
                "name": "42", "applications": ["checkout", "7"], "createdTimestamp": 1_700_000_000_000_i64,
                "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {"x": "1"}},
                "metrics": [{"name": "1", "groups": ["true"], "scopeName": "default",
                             "query": {"type": "prometheus", "metricName": "up", "labelBindings": ["5"]},
                             "analysisConfigurations": {"canary": {"critical": "true", "effectSize": {"allowedIncrease": "1.1"}}}}],
                "classifier": {"groupWeights": {"latency": 60.0, "errors": 40}}
            })
        );
    }

    #[test]
    fn metric_values_are_doubles_and_the_special_strings_stay() {
        let request = json!({
            "scoreThresholds": {"pass": "95", "marginal": "75"},
            "metricSetPairList": [{"name": "m", "tags": {"code": 500},
                                   "values": {"control": ["1.5", 2, "NaN", "", null], "experiment": ["-Infinity"]},
                                   "scopes": {"control": {"startTimeMillis": "1000", "stepMillis": 60000}}}]
        });
        assert_eq!(
            coerced(request, &REMOTE_JUDGE_REQUEST),
            json!({
                "scoreThresholds": {"pass": 95.0, "marginal": 75.0},
                "metricSetPairList": [{"name": "m", "tags": {"code": "500"},
                                       "values": {"control": [1.5, 2, "NaN", null, null], "experiment": ["-Infinity"]},
                                       "scopes": {"control": {"startTimeMillis": 1000, "stepMillis": 60000}}}]
            })
        );
    }

    #[test]
    fn java_number_syntax() {
        assert_eq!(java_long("+10"), Some(10));
        assert_eq!(java_long("-0"), Some(0));
        for refused in ["", "-", "1_000", "10.0", "0x10", "9223372036854775808"] {
            assert_eq!(java_long(refused), None, "{refused}");
        }
        assert_eq!(java_double("1e2"), Some(100.0));
        assert_eq!(java_double(".5"), Some(0.5));
        assert_eq!(java_double("-87.5"), Some(-87.5));
        for refused in ["", "e5", "inf", "NaN", "Infinity", "1e999", "1,5", "--1"] {
            assert_eq!(java_double(refused), None, "{refused}");
        }
    }
}
