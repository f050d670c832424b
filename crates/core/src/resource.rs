//! Typed resource names: `customers/{uuid}`, `cases/{uuid}`, ...

/// Declares a resource id backed by a version 7 UUID, whose resource name is
/// `{collection}/{uuid}`: `uuid_resource_id!(pub CustomerId, "customers");`.
///
/// Version 7 UUIDs sort by creation time, which keeps keyset pages in creation
/// order and inserts at the end of the primary-key index.
#[macro_export]
macro_rules! uuid_resource_id {
    ($(#[$meta:meta])* $vis:vis $name:ident, $collection:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name($crate::uuid::Uuid);

        impl $name {
            /// The collection part of the resource name.
            pub const COLLECTION: &'static str = $collection;

            /// A new id, in creation order.
            pub fn generate() -> Self {
                Self($crate::uuid::Uuid::now_v7())
            }

            pub fn from_uuid(uuid: $crate::uuid::Uuid) -> Self {
                Self(uuid)
            }

            pub fn uuid(self) -> $crate::uuid::Uuid {
                self.0
            }

            /// Parses `{collection}/{uuid}`.
            pub fn from_name(name: &str) -> Option<Self> {
                name.strip_prefix(concat!($collection, "/"))
                    .and_then(|id| $crate::uuid::Uuid::parse_str(id).ok())
                    .map(Self)
            }

            /// `{collection}/{uuid}`: one exact-size allocation, without the
            /// formatting machinery (every resource a page returns is named).
            pub fn name(self) -> String {
                let mut uuid = $crate::uuid::Uuid::encode_buffer();
                let uuid = self.0.as_hyphenated().encode_lower(&mut uuid);
                let mut name = String::with_capacity($collection.len() + 1 + uuid.len());
                name.push_str($collection);
                name.push('/');
                name.push_str(uuid);
                name
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}/{}", $collection, self.0.as_hyphenated())
            }
        }
    };
}

#[cfg(test)]
// The macro makes a public API; a test uses only part of it.
#[allow(dead_code, unreachable_pub)]
mod tests {
    uuid_resource_id!(
        /// A test resource.
        ThingId,
        "things"
    );

    #[test]
    fn names_round_trip_and_other_collections_are_refused() {
        let id = ThingId::generate();
        assert!(id.name().starts_with("things/"));
        assert_eq!(id.name(), id.to_string(), "the name is the displayed id");
        assert_eq!(id.name().len(), "things/".len() + 36);
        assert_eq!(ThingId::from_name(&id.name()), Some(id));
        assert_eq!(ThingId::from_name(&id.name().replace("things/", "others/")), None);
        assert_eq!(ThingId::from_name("things/not-a-uuid"), None);
        assert!(ThingId::generate() > id, "ids sort by creation");
    }
}
