//! Metadata as JSON: objects of strings, numbers and booleans.

use serde_json::{Map, Number, Value as Json};
use vecdb::{Metadata, Value};

/// Metadata from a JSON object whose values are strings, numbers or booleans.
///
/// # Errors
/// A message for anything else (nested values, null, a non-object).
pub fn to_metadata(json: &Json) -> Result<Metadata, String> {
    let object = json.as_object().ok_or("\"metadata\" must be an object")?;
    let mut metadata = Metadata::new();
    for (key, value) in object {
        let value = match value {
            Json::String(text) => Value::String(text.clone()),
            Json::Bool(flag) => Value::Bool(*flag),
            Json::Number(number) => Value::Number(number.as_f64().ok_or(format!("metadata {key:?}: bad number"))?),
            _ => return Err(format!("metadata {key:?}: values must be strings, numbers or booleans")),
        };
        metadata.insert(key.clone(), value);
    }
    Ok(metadata)
}

/// Metadata as a JSON object (whole numbers print without a fraction).
pub fn from_metadata(metadata: &Metadata) -> Json {
    let mut object = Map::new();
    for (key, value) in metadata {
        let json = match value {
            Value::String(text) => Json::String(text.clone()),
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => {
                Json::Number(Number::from(*number as i64))
            }
            Value::Number(number) => Number::from_f64(*number).map_or(Json::Null, Json::Number),
        };
        object.insert(key.clone(), json);
    }
    Json::Object(object)
}
