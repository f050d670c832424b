//! `involve.profiles.v1.ListCustomersResponse`, written by hand so that a server
//! can send customers it keeps already encoded.
//!
//! On the wire it is exactly the message `profiles_service.proto` declares
//! (`repeated Customer customers = 1; string next_page_token = 2;`): every client,
//! generated from the protos in any language, reads it as such. In Rust it has one
//! field more, [`ListCustomersResponse::encoded_customers`], which only a sender
//! fills: customers given as the pieces of their encoding, sent as further entries
//! of field 1. Protobuf lets a message's fields come in any order and in several
//! pieces (a parser merges them), so a stored encoding of a customer without its
//! equality answers, followed by the encoded answers (or the note that they are
//! withheld), is one `Customer`. Decoding fills `customers` only.

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{self, DecodeContext, WireType};

use crate::involve::profiles::v1::Customer;

/// One page of `ListCustomers`.
#[derive(Clone, Default, PartialEq)]
pub struct ListCustomersResponse {
    pub customers: Vec<Customer>,
    /// Customers already encoded, each as the pieces of its `Customer` message in
    /// order; sent after `customers`. Always empty in a decoded response.
    pub encoded_customers: Vec<EncodedMessage>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// A message given as its encoding, in pieces that join into it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EncodedMessage(pub Vec<Bytes>);

impl EncodedMessage {
    fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }
}

const CUSTOMERS: u32 = 1;
const NEXT_PAGE_TOKEN: u32 = 2;

impl prost::Message for ListCustomersResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(CUSTOMERS, &self.customers, buf);
        for customer in &self.encoded_customers {
            encoding::encode_key(CUSTOMERS, WireType::LengthDelimited, buf);
            encoding::encode_varint(customer.len() as u64, buf);
            for piece in &customer.0 {
                buf.put_slice(piece);
            }
        }
        if !self.next_page_token.is_empty() {
            encoding::string::encode(NEXT_PAGE_TOKEN, &self.next_page_token, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            CUSTOMERS => encoding::message::merge_repeated(wire_type, &mut self.customers, buf, ctx).map_err(
                |mut err| {
                    err.push("ListCustomersResponse", "customers");
                    err
                },
            ),
            NEXT_PAGE_TOKEN => encoding::string::merge(wire_type, &mut self.next_page_token, buf, ctx)
                .map_err(|mut err| {
                    err.push("ListCustomersResponse", "next_page_token");
                    err
                }),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let encoded: usize = self
            .encoded_customers
            .iter()
            .map(|customer| {
                let len = customer.len();
                encoding::key_len(CUSTOMERS) + encoding::encoded_len_varint(len as u64) + len
            })
            .sum();
        let token = if self.next_page_token.is_empty() {
            0
        } else {
            encoding::string::encoded_len(NEXT_PAGE_TOKEN, &self.next_page_token)
        };
        encoding::message::encoded_len_repeated(CUSTOMERS, &self.customers) + encoded + token
    }

    fn clear(&mut self) {
        self.customers.clear();
        self.encoded_customers.clear();
        self.next_page_token.clear();
    }
}

impl std::fmt::Debug for ListCustomersResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListCustomersResponse")
            .field("customers", &self.customers)
            .field("encoded_customers", &self.encoded_customers.len())
            .field("next_page_token", &self.next_page_token)
            .finish()
    }
}

impl std::fmt::Debug for EncodedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedMessage({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn customer(name: &str, given_name: &str) -> Customer {
        Customer { name: name.into(), given_name: given_name.into(), ..Customer::default() }
    }

    #[test]
    fn customers_sent_encoded_in_pieces_arrive_as_customers() {
        let first = customer("customers/1", "Ann");
        let second = customer("customers/2", "Bob");
        // The second customer in two pieces: its name, then its given name.
        let name_only = Customer { name: second.name.clone(), ..Customer::default() }.encode_to_vec();
        let given_only =
            Customer { given_name: second.given_name.clone(), ..Customer::default() }.encode_to_vec();
        let sent = ListCustomersResponse {
            customers: vec![first.clone()],
            encoded_customers: vec![EncodedMessage(vec![name_only.into(), given_only.into()])],
            next_page_token: "next".into(),
        };
        let bytes = sent.encode_to_vec();
        assert_eq!(bytes.len(), sent.encoded_len());
        let received = ListCustomersResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(received.customers, [first, second]);
        assert!(received.encoded_customers.is_empty());
        assert_eq!(received.next_page_token, "next");
    }

    #[test]
    fn it_is_the_declared_message_on_the_wire() {
        // The same page through a message prost generates from the same declaration.
        #[derive(Clone, PartialEq, prost::Message)]
        struct Declared {
            #[prost(message, repeated, tag = "1")]
            customers: Vec<Customer>,
            #[prost(string, tag = "2")]
            next_page_token: String,
        }
        let page = ListCustomersResponse {
            customers: vec![customer("customers/1", "Ann"), customer("customers/2", "Bob")],
            encoded_customers: Vec::new(),
            next_page_token: "token".into(),
        };
        let declared =
            Declared { customers: page.customers.clone(), next_page_token: page.next_page_token.clone() };
        assert_eq!(page.encode_to_vec(), declared.encode_to_vec());
        let empty = ListCustomersResponse::default();
        assert_eq!(empty.encode_to_vec(), Declared::default().encode_to_vec());
    }
}
