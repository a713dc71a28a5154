//! Wire names of our enums: [`wire_names!`] names each variant once and gives the enum
//! everything that reads or writes that name: `as_str` (for SQL and logs), `parse` (exact
//! names only), serde's `Serialize` and `Deserialize`, and `ALL`, every variant in order.

/// Names each variant of a fieldless enum once: `wire_names!(Kind { A => "a", B => "b" })`.
macro_rules! wire_names {
    ($t:ident { $($v:ident => $name:literal),+ $(,)? }) => {
        impl $t {
            /// Every variant, in the order they are named.
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $name),+
                }
            }

            /// The value named `name` (exactly).
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some($t::$v),)+
                    _ => None,
                }
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(d)?;
                Self::parse(&name).ok_or_else(|| {
                    <D::Error as serde::de::Error>::unknown_variant(&name, &[$($name),+])
                })
            }
        }
    };
}
pub(crate) use wire_names;

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        One,
        TwoWords,
    }

    wire_names!(Kind {
        One => "one",
        TwoWords => "two_words",
    });

    #[test]
    fn one_name_serves_every_direction() {
        for &k in Kind::ALL {
            let text = serde_json::to_string(&k).unwrap();
            assert_eq!(text, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<Kind>(&text).unwrap(), k);
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("One"), None);
        let err = serde_json::from_str::<Kind>("\"three\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant `three`"), "{err}");
        assert!(serde_json::from_str::<Kind>("1").is_err());
    }
}
