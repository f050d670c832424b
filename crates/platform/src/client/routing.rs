//! What the contracts' descriptors say about routing and resending, read once:
//! which backend serves each `package.Service`, which methods stream their
//! requests (never buffered, never resent), and which requests carry a
//! `request_id` (resent safely). The gateway's edge and service clients read the
//! same table.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use prost::Message as _;

/// What the contracts' descriptors say about routing.
#[derive(Debug, Default)]
pub struct Contracts {
    /// Every `package.Service`, with the backend name that serves it: the
    /// package's second component (`involve.profiles.v1` -> `profiles`).
    pub services: Vec<(String, String)>,
    /// Methods whose requests are a stream (`package.Service/Method`): their
    /// bodies cannot be buffered and replayed.
    pub client_streaming: HashSet<String>,
    /// Every method (`package.Service/Method`): what audit rows may name.
    pub methods: HashSet<String>,
    /// Methods whose request message has a top-level `string request_id`, with
    /// its field number: a request carrying one may be resent.
    pub request_id_fields: HashMap<String, u32>,
}

/// The table, read from the contracts once per process.
pub fn shared() -> &'static Contracts {
    static SHARED: LazyLock<Contracts> = LazyLock::new(contracts);
    &SHARED
}

/// The table, read from the contracts' descriptors.
pub fn contracts() -> Contracts {
    use prost_types::field_descriptor_proto::{Label, Type};

    let Ok(set) = prost_types::FileDescriptorSet::decode(contracts::FILE_DESCRIPTOR_SET) else {
        return Contracts::default();
    };
    // `.package.Message` -> the field number of its `string request_id`.
    let mut request_ids: HashMap<String, u32> = HashMap::new();
    for file in &set.file {
        for message in &file.message_type {
            let field = message.field.iter().find(|field| {
                field.name() == "request_id"
                    && field.r#type() == Type::String
                    && field.label() != Label::Repeated
            });
            if let Some(number) = field.and_then(|field| u32::try_from(field.number()).ok()) {
                request_ids.insert(format!(".{}.{}", file.package(), message.name()), number);
            }
        }
    }
    let mut found = Contracts::default();
    for file in set.file {
        let package = file.package().to_owned();
        let Some(backend) = package.strip_prefix("involve.").and_then(|rest| rest.split('.').next()) else {
            continue;
        };
        for service in &file.service {
            let service_name = format!("{package}.{}", service.name());
            for method in &service.method {
                let name = format!("{service_name}/{}", method.name());
                if method.client_streaming() {
                    found.client_streaming.insert(name.clone());
                }
                if let Some(number) = request_ids.get(method.input_type()) {
                    found.request_id_fields.insert(name.clone(), *number);
                }
                found.methods.insert(name);
            }
            found.services.push((service_name, backend.to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_name_every_method_and_their_request_ids() {
        let contracts = shared();
        assert!(contracts.methods.contains("involve.profiles.v1.CustomerProfiles/GetCustomer"));
        assert!(contracts.methods.contains("involve.gateway.v1.PartnerAdmin/ListAuditEvents"));
        assert!(contracts.client_streaming.contains("involve.profiles.v1.CustomerProfiles/ImportCustomers"));
        assert_eq!(
            contracts.request_id_fields.get("involve.profiles.v1.CustomerProfiles/CreateCustomer"),
            Some(&2)
        );
        assert_eq!(contracts.request_id_fields.get("involve.profiles.v1.CustomerProfiles/GetCustomer"), None);
        assert!(
            contracts
                .services
                .contains(&("involve.profiles.v1.CustomerProfiles".to_owned(), "profiles".to_owned()))
        );
    }
}
