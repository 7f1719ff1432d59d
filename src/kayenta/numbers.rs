//! Doubles as Kayenta writes them: numbers, or the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The OpenAPI schema of a double as Kayenta writes it, for fields that use this module's functions
/// (`#[schema(value_type = Double)]`).
pub struct Double;

impl utoipa::PartialSchema for Double {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["NaN", "Infinity", "-Infinity"])),
            )
            .description(Some(
                "A number; null or \"NaN\" when missing; \"Infinity\" or \"-Infinity\"",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Double {}

/// A JSON value for `x`: a number when finite, else Kayenta's string for it.
pub fn to_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(
        || Value::String(non_finite_name(x).to_string()),
        Value::Number,
    )
}

fn non_finite_name(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Serializes an `f64` field the way [`to_json`] writes it.
pub fn serialize<S: Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    match serde_json::Number::from_f64(*x) {
        Some(_) => serializer.serialize_f64(*x),
        None => non_finite_name(*x).serialize(serializer),
    }
}

/// Serializes metric values the way [`to_json`] writes each.
pub fn serialize_values<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|x| to_json(*x)))
}

/// A metric value: a number, `null` (missing), or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn deserialize_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(ValueVisitor)
}

/// A list of metric values, each read as [`deserialize_value`] reads it.
pub fn deserialize_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<f64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Item(#[serde(deserialize_with = "deserialize_value")] f64);
    let items: Vec<Item> = serde::Deserialize::deserialize(deserializer)?;
    Ok(items.into_iter().map(|Item(x)| x).collect())
}

struct ValueVisitor;

impl Visitor<'_> for ValueVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, null, \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<f64, E> {
        Ok(x)
    }

    fn visit_i64<E: de::Error>(self, x: i64) -> Result<f64, E> {
        Ok(x as f64)
    }

    fn visit_u64<E: de::Error>(self, x: u64) -> Result<f64, E> {
        Ok(x as f64)
    }

    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        match s {
            "NaN" => Ok(f64::NAN),
            "Infinity" | "+Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_accept_numbers_null_and_kayenta_strings() {
        #[derive(serde::Deserialize)]
        struct V(#[serde(deserialize_with = "deserialize_values")] Vec<f64>);
        let V(values) =
            serde_json::from_str(r#"[1, 2.5, null, "NaN", "Infinity", "-Infinity", -3]"#).unwrap();
        assert_eq!(values[..2], [1.0, 2.5]);
        assert!(values[2].is_nan() && values[3].is_nan());
        assert_eq!(values[4..], [f64::INFINITY, f64::NEG_INFINITY, -3.0]);
        let error = serde_json::from_str::<V>(r#"[1, "two"]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("\"two\"") && error.contains("\"NaN\""),
            "{error}"
        );
    }

    #[test]
    fn non_finite_numbers_are_written_as_kayenta_strings() {
        assert_eq!(to_json(f64::NAN), Value::from("NaN"));
        assert_eq!(to_json(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(to_json(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(to_json(1.5), serde_json::json!(1.5));
    }
}
