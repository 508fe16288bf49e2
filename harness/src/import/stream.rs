//! A JSON list read one record at a time: each record is handed on as it
//! is parsed and the reading stops at the first one refused, so that
//! memory holds one record (of bounded size) and what the importer kept,
//! never the whole list as JSON values.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::ImportError;

/// The most JSON values (objects, lists, strings, numbers, ...) one
/// record may hold. An Alpaca order with its legs holds a few hundred; a
/// record past this is not one.
pub const MAX_RECORD_VALUES: usize = 10_000;

/// A JSON value, built while counting its values down from `left`; a
/// key an object holds twice stops it, and is kept in `duplicate`.
#[derive(Clone, Copy)]
struct Bounded<'a> {
    left: &'a Cell<usize>,
    duplicate: &'a RefCell<Option<String>>,
}

impl Bounded<'_> {
    fn take<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom("record too large")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.take()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.take()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.take()?;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.take()?;
            if fields.contains_key(&key) {
                let error = <A::Error as de::Error>::custom(format!("duplicate key `{key}`"));
                *self.duplicate.borrow_mut() = Some(key);
                return Err(error);
            }
            let value = map.next_value_seed(self)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// The top-level list: each record to `on_record` as it is parsed.
struct Records<'a, F> {
    on_record: &'a mut F,
    /// Why `on_record` stopped the reading.
    refused: &'a mut Option<ImportError>,
    /// Records read whole so far.
    count: &'a mut usize,
    /// Values the record being read may still hold.
    left: &'a Cell<usize>,
    /// A key the record being read holds twice.
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de, F> Visitor<'de> for Records<'_, F>
where
    F: FnMut(usize, Value, &str) -> Result<(), ImportError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            // The record's text as it is in the file (borrowed, not
            // copied): its numbers are read from it exactly.
            let Some(raw) = seq.next_element::<&'de RawValue>()? else {
                return Ok(());
            };
            self.left.set(MAX_RECORD_VALUES);
            let mut inner = serde_json::Deserializer::from_str(raw.get());
            let record = Bounded {
                left: self.left,
                duplicate: self.duplicate,
            }
            .deserialize(&mut inner)
            .map_err(|e| {
                // The reason without the position inside the record: the
                // error is placed at the record in the file.
                let reason = match self.duplicate.borrow().as_deref() {
                    Some(key) => format!("duplicate key `{key}`"),
                    None if self.left.get() == 0 => "record too large".to_owned(),
                    None => e.to_string(),
                };
                <A::Error as de::Error>::custom(reason)
            })?;
            let index = *self.count;
            *self.count += 1;
            if let Err(refusal) = (self.on_record)(index, record, raw.get()) {
                *self.refused = Some(refusal);
                return Err(de::Error::custom("refused"));
            }
        }
    }
}

/// Reads `text`, a JSON list of `what`, handing each record (with its
/// index and its text as the file writes it, for reading its numbers
/// exactly) to `on_record` as soon as it is parsed, and stopping at the
/// first one `on_record` refuses. `noun` names a record in errors
/// (`order 3`). Returns how many records the list holds.
///
/// # Errors
/// The refusal of `on_record`; or the text is not JSON (named with the
/// record the syntax error falls in), not a list, a record holds more
/// than [`MAX_RECORD_VALUES`] values, or an object in it holds a key
/// twice.
pub fn for_each_record<F>(
    file: &str,
    text: &str,
    what: &str,
    noun: &str,
    mut on_record: F,
) -> Result<usize, ImportError>
where
    F: FnMut(usize, Value, &str) -> Result<(), ImportError>,
{
    let bad = |location: String, problem: String| ImportError {
        file: file.to_owned(),
        location,
        problem,
    };
    let not_json = |e: &serde_json::Error| {
        format!("is not JSON ({e}); expected {what}, as Alpaca's API returns it")
    };
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('[')
    {
        // Checked without building anything: a large object costs nothing.
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => bad(
                "file".into(),
                format!("is not a JSON list; expected {what}"),
            ),
            Err(e) => bad("file".into(), not_json(&e)),
        });
    }
    let mut refused = None;
    let mut count = 0;
    let left = Cell::new(MAX_RECORD_VALUES);
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = deserializer.deserialize_seq(Records {
        on_record: &mut on_record,
        refused: &mut refused,
        count: &mut count,
        left: &left,
        duplicate: &duplicate,
    });
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    read.map_err(|e| {
        if let Some(key) = duplicate.borrow_mut().take() {
            bad(
                format!("{noun} {count}"),
                format!(
                    "holds the key {} twice ({e}); JSON readers disagree on which one counts, so the record says two things: the export is damaged or not the one it claims to be",
                    super::yaml_quote(&key)
                ),
            )
        } else if left.get() == 0 {
            bad(
                format!("{noun} {count}"),
                format!(
                    "holds more than {MAX_RECORD_VALUES} JSON values; one record of {what} holds a few hundred at most"
                ),
            )
        } else {
            bad(format!("{noun} {count}"), not_json(&e))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| bad("file".into(), not_json(&e)))?;
    Ok(count)
}
