//! Enums with two encodings: internally tagged JSON and position-indexed binary.
//!
//! Paceline's JSON contracts name the variant in a `"kind"` field next to the variant's own
//! fields (`{"kind":"heart_rate","bpm":142,...}`). serde can read that form only from a
//! self-describing format, and bincode is not one. [`tagged_enum!`] therefore declares the
//! enum once and gives it two private mirrors: one internally tagged for human-readable
//! formats (JSON) and one indexed by variant position for binary formats (bincode). The
//! serializer's `is_human_readable()` picks the mirror.
//!
//! Variants are either newtype variants around a struct (`HeartRate(HeartRate)`) or, after
//! a `;`, unit variants. The binary index of a variant is its position in that order, so
//! variants may only be appended; the golden-byte tests catch any other change.

/// Declares an enum with a `"kind"`-tagged JSON form and an indexed binary form; see the
/// module documentation.
macro_rules! tagged_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $var:ident($ty:ty) = $tag:literal, )*
            $( ; $( $(#[$umeta:meta])* $uvar:ident = $utag:literal, )* )?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $var($ty), )*
            $($( $(#[$umeta])* $uvar, )*)?
        }

        const _: () = {
            use serde::{Deserialize, Deserializer, Serialize, Serializer};

            #[derive(Serialize)]
            #[serde(tag = "kind")]
            enum JsonRef<'a> {
                $( #[serde(rename = $tag)] $var(&'a $ty), )*
                $($( #[serde(rename = $utag)] $uvar, )*)?
            }

            #[derive(Deserialize)]
            #[serde(tag = "kind")]
            enum JsonOwned {
                $( #[serde(rename = $tag)] $var($ty), )*
                $($( #[serde(rename = $utag)] $uvar, )*)?
            }

            #[derive(Serialize)]
            enum BinRef<'a> {
                $( $var(&'a $ty), )*
                $($( $uvar, )*)?
            }

            #[derive(Deserialize)]
            enum BinOwned {
                $( $var($ty), )*
                $($( $uvar, )*)?
            }

            impl Serialize for $name {
                fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    if serializer.is_human_readable() {
                        match self {
                            $( $name::$var(v) => JsonRef::$var(v), )*
                            $($( $name::$uvar => JsonRef::$uvar, )*)?
                        }
                        .serialize(serializer)
                    } else {
                        match self {
                            $( $name::$var(v) => BinRef::$var(v), )*
                            $($( $name::$uvar => BinRef::$uvar, )*)?
                        }
                        .serialize(serializer)
                    }
                }
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                    if deserializer.is_human_readable() {
                        Ok(match JsonOwned::deserialize(deserializer)? {
                            $( JsonOwned::$var(v) => $name::$var(v), )*
                            $($( JsonOwned::$uvar => $name::$uvar, )*)?
                        })
                    } else {
                        Ok(match BinOwned::deserialize(deserializer)? {
                            $( BinOwned::$var(v) => $name::$var(v), )*
                            $($( BinOwned::$uvar => $name::$uvar, )*)?
                        })
                    }
                }
            }
        };
    };
}

pub(crate) use tagged_enum;
