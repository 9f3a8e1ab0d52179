//! Coded enums: every state, kind and role Bursar stores as text is declared once with
//! [`coded_enum!`], which gives it its stored code, its Chinese and English labels, parsing,
//! serde, the list of all values (for CHECK constraints and `bursar verify`) and the conversion
//! a row decoder uses. No other place maps these enums to or from text.

use std::fmt;

/// A stored code that names no value of its enum (a corrupt or foreign row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} code {:?}", self.kind, self.code)
    }
}

impl std::error::Error for UnknownCode {}

/// Declares an enum whose values are stored as text codes:
///
/// ```
/// bursar_domain::coded_enum! {
///     /// A light.
///     pub enum Light {
///         Red = ("red", "红灯", "Red"),
///         Green = ("green", "绿灯", "Green"),
///     }
/// }
/// assert_eq!(Light::parse("red"), Some(Light::Red));
/// assert_eq!(Light::Green.label_zh(), "绿灯");
/// assert_eq!(Light::sql_list(), "'red', 'green'");
/// ```
#[macro_export]
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:literal, $zh:literal, $en:literal) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code stored in the database and used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn parse(code: &str) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
            /// The label people see in Chinese.
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            /// The label people see in English.
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }
            /// `'a', 'b', …`: the codes as an SQL list (CHECK constraints, verify).
            pub fn sql_list() -> String {
                let codes: &[&str] = &[$($code),+];
                codes.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::codes::UnknownCode;
            fn try_from(code: String) -> Result<Self, $crate::codes::UnknownCode> {
                $name::parse(&code).ok_or($crate::codes::UnknownCode { kind: stringify!($name), code })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&code).ok_or_else(|| {
                    ::serde::de::Error::custom(format!("unknown {} {:?}", stringify!($name), code))
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    coded_enum! {
        enum Sample {
            One = ("one", "一", "One"),
            Two = ("two", "二", "Two"),
        }
    }

    #[test]
    fn codes_labels_and_lists_come_from_one_declaration() {
        for s in Sample::ALL {
            assert_eq!(Sample::parse(s.as_str()), Some(*s));
            assert_eq!(Sample::try_from(s.as_str().to_string()), Ok(*s));
        }
        assert_eq!(Sample::One.label_zh(), "一");
        assert_eq!(Sample::Two.label_en(), "Two");
        assert_eq!(Sample::sql_list(), "'one', 'two'");
        let err = Sample::try_from("three".to_string()).unwrap_err();
        assert_eq!(err.to_string(), "unknown Sample code \"three\"");
        assert_eq!(serde_json::to_string(&Sample::Two).unwrap(), "\"two\"");
        assert_eq!(serde_json::from_str::<Sample>("\"one\"").unwrap(), Sample::One);
        assert!(serde_json::from_str::<Sample>("\"nine\"").is_err());
    }
}
