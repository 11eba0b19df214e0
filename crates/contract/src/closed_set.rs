//! `closed_set!`: one declaration per closed set of values (a status, a type,
//! a channel), giving the enum, its wire name (serde), its stored form (a
//! sea-orm string-valued active enum, with the `sea-orm` feature) and its
//! command-line form (a clap `ValueEnum`, with the `clap` feature), all from
//! the same string, so no code anywhere writes or compares those strings.

/// Declares a closed set: `Variant = "wire name"`, in order.
#[macro_export]
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "sea-orm", derive(::sea_orm::DeriveActiveEnum, ::sea_orm::EnumIter))]
        #[cfg_attr(
            feature = "sea-orm",
            sea_orm(rs_type = "String", db_type = "Text")
        )]
        #[cfg_attr(feature = "clap", derive(::clap::ValueEnum))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $wire)]
                #[cfg_attr(feature = "sea-orm", sea_orm(string_value = $wire))]
                #[cfg_attr(feature = "clap", value(name = $wire))]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name, as serde writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The value with this wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire names, quoted and joined for an error message:
            /// "`a`, `b` or `c`".
            pub fn expected() -> String {
                let names: Vec<String> = Self::ALL.iter().map(|v| format!("`{}`", v.as_str())).collect();
                match names.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::closed_set::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::closed_set::UnknownValue {
                    value: s.to_owned(),
                    expected: Self::expected(),
                })
            }
        }
    };
}

/// A string that is not one of a closed set's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of {expected}")]
pub struct UnknownValue {
    pub value: String,
    pub expected: String,
}
