//! Length- and value-checked (de)serialization helpers for fields that come from outside.
//!
//! Decoding must never allocate more than the declared bounds, whatever a length prefix
//! claims, and must never hand out a value the rest of Paceline cannot represent (a NaN
//! power, an infinite time). These helpers are used with `#[serde(with = ...)]`-style
//! attributes and check on both sides: encoding a value out of bounds is an error too, so a
//! peer never receives bytes that it would refuse.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes a list, refusing one with fewer than `MIN` or more than `MAX` items.
pub(crate) fn serialize_vec<T, S, const MIN: usize, const MAX: usize>(
    items: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    T: Serialize,
    S: Serializer,
{
    if items.len() < MIN || items.len() > MAX {
        return Err(S::Error::custom(format_args!(
            "a list of {} items is outside the allowed {MIN}..={MAX}",
            items.len()
        )));
    }
    items.serialize(serializer)
}

/// Deserializes a list of `MIN..=MAX` items, rejecting a longer one before allocating.
pub(crate) fn deserialize_vec<'de, T, D, const MIN: usize, const MAX: usize>(
    deserializer: D,
) -> Result<Vec<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    struct BoundedVisitor<T, const MIN: usize, const MAX: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MIN: usize, const MAX: usize> Visitor<'de>
        for BoundedVisitor<T, MIN, MAX>
    {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of {MIN}..={MAX} items")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            if let Some(declared) = seq.size_hint()
                && declared > MAX
            {
                return Err(A::Error::invalid_length(declared, &self));
            }
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
            while let Some(item) = seq.next_element()? {
                if items.len() == MAX {
                    return Err(A::Error::invalid_length(MAX + 1, &self));
                }
                items.push(item);
            }
            if items.len() < MIN {
                return Err(A::Error::invalid_length(items.len(), &self));
            }
            Ok(items)
        }
    }

    deserializer.deserialize_seq(BoundedVisitor::<T, MIN, MAX>(PhantomData))
}

fn check_text_len<E: serde::ser::Error>(text: &str, max: usize) -> Result<(), E> {
    if text.len() > max {
        return Err(E::custom(format_args!(
            "a text of {} bytes is longer than the allowed {max}",
            text.len()
        )));
    }
    Ok(())
}

/// Serializes a string of at most `MAX` bytes.
pub(crate) fn serialize_str<S: Serializer, const MAX: usize>(
    text: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    check_text_len::<S::Error>(text, MAX)?;
    serializer.serialize_str(text)
}

/// Deserializes a string of at most `MAX` bytes.
pub(crate) fn deserialize_str<'de, D: Deserializer<'de>, const MAX: usize>(
    deserializer: D,
) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.len() > MAX {
        return Err(D::Error::invalid_length(
            text.len(),
            &format!("a text of at most {MAX} bytes").as_str(),
        ));
    }
    Ok(text)
}

/// Deserializes an optional string of at most `MAX` bytes.
pub(crate) fn deserialize_opt_str<'de, D: Deserializer<'de>, const MAX: usize>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Bounded<const N: usize>(#[serde(deserialize_with = "deserialize_str::<_, N>")] String);
    Ok(Option::<Bounded<MAX>>::deserialize(deserializer)?.map(|b| b.0))
}

/// Serializes an optional string of at most `MAX` bytes.
pub(crate) fn serialize_opt_str<S: Serializer, const MAX: usize>(
    text: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match text {
        Some(text) => {
            check_text_len::<S::Error>(text, MAX)?;
            serializer.serialize_some(text)
        }
        None => serializer.serialize_none(),
    }
}

/// A float that must be finite (no NaN, no infinity) on the wire.
pub(crate) trait FiniteFloat: Copy + Serialize + for<'de> Deserialize<'de> {
    fn is_finite_value(self) -> bool;
}

impl FiniteFloat for f32 {
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
}

impl FiniteFloat for f64 {
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }
}

/// `#[serde(with = "crate::bounded::finite")]`: a float that must be finite.
pub(crate) mod finite {
    use super::FiniteFloat;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<F: FiniteFloat, S: Serializer>(
        value: &F,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if !value.is_finite_value() {
            return Err(S::Error::custom("a number is not finite"));
        }
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, F: FiniteFloat, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<F, D::Error> {
        let value = F::deserialize(deserializer)?;
        if !value.is_finite_value() {
            return Err(D::Error::custom("a number is not finite"));
        }
        Ok(value)
    }
}

/// `#[serde(with = "crate::bounded::finite_opt")]`: an optional float that must be finite.
pub(crate) mod finite_opt {
    use super::FiniteFloat;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<F: FiniteFloat, S: Serializer>(
        value: &Option<F>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.is_some_and(|v| !v.is_finite_value()) {
            return Err(S::Error::custom("a number is not finite"));
        }
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, F: FiniteFloat, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<F>, D::Error> {
        let value = Option::<F>::deserialize(deserializer)?;
        if value.is_some_and(|v| !v.is_finite_value()) {
            return Err(D::Error::custom("a number is not finite"));
        }
        Ok(value)
    }
}

/// `#[serde(with = "crate::bounded::percent_opt")]`: an optional whole percentage, 0–100.
pub(crate) mod percent_opt {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    const MAX_PCT: u8 = 100;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<u8>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.is_some_and(|v| v > MAX_PCT) {
            return Err(S::Error::custom("a percentage is over 100"));
        }
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u8>, D::Error> {
        let value = Option::<u8>::deserialize(deserializer)?;
        if value.is_some_and(|v| v > MAX_PCT) {
            return Err(D::Error::custom("a percentage is over 100"));
        }
        Ok(value)
    }
}
